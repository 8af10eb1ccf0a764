"""How many held-out questions diagnostic (a) needs (normal approximation).

Gate (a) passes when the upper bound of a two-sided ``ci_level`` interval on
ΔG is below zero: a one-sided test at α = (1 − ci_level)/2. Under the clustered
design the unit of information is the question; with σ_d the SD across
questions of the paired gap difference d_q (SPEC §2b), the standard error of
ΔG with Q questions is σ_d/√Q, so

    Q = ⌈ ((z_{1−α} + z_{power}) · σ_d / |ΔG|)² ⌉.

Example:
    >>> r = questions_for_power(effect=-0.10, sd_d=0.35)
    >>> r.n_questions
    97
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

from ..constants import CI_LEVEL, POWER


@dataclass(frozen=True)
class PowerResult:
    """Required number of question clusters and the inputs behind it."""

    n_questions: int
    effect: float
    sd_d: float
    power: float
    ci_level: float
    z_alpha: float
    z_power: float


def questions_for_power(
    *, effect: float, sd_d: float, power: float = POWER, ci_level: float = CI_LEVEL
) -> PowerResult:
    """Questions needed to detect ΔG = ``effect`` (< 0) with the given power."""
    if effect >= 0:
        raise ValueError("effect must be a negative ΔG (a gap reduction)")
    if sd_d <= 0 or not math.isfinite(sd_d):
        raise ValueError("sd_d must be a positive finite SD")
    if not 0.0 < power < 1.0 or not 0.0 < ci_level < 1.0:
        raise ValueError("power and ci_level must be in (0, 1)")
    nd = NormalDist()
    z_a = nd.inv_cdf(1.0 - (1.0 - ci_level) / 2.0)
    z_p = nd.inv_cdf(power)
    q = math.ceil(((z_a + z_p) * sd_d / abs(effect)) ** 2)
    return PowerResult(max(q, 2), effect, sd_d, power, ci_level, z_a, z_p)
