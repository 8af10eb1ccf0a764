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
from ..errors import InputError
from ..records import RecordSet


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


@dataclass(frozen=True)
class PilotPower:
    """A power calculation whose σ_d (and, by default, effect) come from pilot records."""

    result: PowerResult
    pilot_questions: int
    pilot_delta: float


def pilot_power(
    baseline: RecordSet,
    defense: RecordSet,
    *,
    split: str = "heldout",
    effect: float | None = None,
    power: float = POWER,
    ci_level: float = CI_LEVEL,
) -> PilotPower:
    """Estimate σ_d = sd(d_q, ddof=1) from a pilot pair; the effect defaults to its Δ."""
    from ..clusters import paired_table
    from .standard_errors import paired_standard_errors

    s = paired_standard_errors(paired_table(baseline, defense, split=split))
    if s.n_questions < 2:
        raise InputError("a pilot needs at least 2 questions", path=defense.path, field="question_id")
    sd_d = s.se_paired * math.sqrt(s.n_questions)
    eff = s.delta if effect is None else effect
    if eff >= 0:
        raise InputError(
            f"the pilot's Δ is {eff:+.4f} (no reduction); pass the ΔG to detect with --effect",
            path=defense.path, field="correct",
        )
    if sd_d == 0:
        raise InputError("the pilot's per-question differences have zero spread", path=defense.path)
    return PilotPower(questions_for_power(effect=eff, sd_d=sd_d, power=power, ci_level=ci_level),
                      s.n_questions, s.delta)
