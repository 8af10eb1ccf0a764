"""Multiplicity across many cells: chance passes under the null, and Holm's step-down.

An audit judges m cells with the same per-claim standard. Each gate that is a
signed test passes a cell with no real reduction with probability at most its
one-sided level α, so m cells give about Σα passes by chance alone; Holm's
step-down adjusts a family of one-sided p-values so that the probability of
*any* false pass stays at most α.

- :func:`holm_adjust`: adjusted p̃_(i) = max_{j ≤ i} min(1, (m − j + 1)·p_(j)) over the
  sorted p-values (Holm 1979); a hypothesis is rejected at family-wise α iff p̃ < α.
- :func:`percentile_p_value`: the bootstrap's own one-sided p-value for
  H0: ΔG ≥ 0, the inverted percentile interval: 1 − the level at which the
  interpolated upper percentile bound reaches 0, about the share of resampled
  ΔG* at or above 0. p < α exactly when gate (a)'s bound at level 1 − 2α is
  below 0. Its resolution is 1/B.
- :func:`normal_p_value`: the same p-value from a reported CI alone (normal
  approximation, SE = CI width / (2·z)), for a cell without records.
- :func:`at_least_tail`: P(X ≥ k) for a sum of independent Bernoulli(α_i)
  (Poisson-binomial; binomial when every α_i is equal).

Example:
    >>> [round(p, 3) for p in holm_adjust([0.01, 0.04, 0.03])]
    [0.03, 0.06, 0.06]
    >>> round(at_least_tail([0.025] * 10, 1), 4)
    0.2237
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np
import numpy.typing as npt


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values, in the input order."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    out = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        out[i] = running
    return out


def percentile_p_value(draws: npt.NDArray[np.float64]) -> float:
    """One-sided p for H0: ΔG ≥ 0 by inverting the percentile interval (NaN draws ignored).

    With s the sorted draws and Q(L) their quantile at L (linear interpolation,
    as :func:`~acceptance_cards.stats.bootstrap.percentile_ci` takes it), p = 1 − L*,
    L* the level where Q crosses 0. So the upper bound Q(1 − α) is below 0 exactly
    when p < α: gate (a) at ``ci_level`` passes iff p < (1 − ci_level)/2. It is
    about the share of draws at or above 0 (resolution 1/B).
    """
    s = np.sort(draws[~np.isnan(draws)])
    n = s.size
    if n < 2:
        raise ValueError("need at least two defined bootstrap draws")
    below = int(np.searchsorted(s, 0.0, side="left"))  # draws < 0
    if below == 0:
        return 1.0
    if below == n:
        return 0.0
    j = below - 1  # s[j] < 0 <= s[j + 1]
    h0 = j + (-s[j]) / (s[j + 1] - s[j])  # interpolated position where Q reaches 0
    return float(1.0 - h0 / (n - 1))


def normal_p_value(point: float, lo: float, hi: float, level: float) -> float:
    """One-sided p for H0: ΔG ≥ 0 from a two-sided ``level`` CI (normal approximation)."""
    se = (hi - lo) / (2.0 * NormalDist().inv_cdf(0.5 + level / 2.0))
    if not se > 0:
        return 0.0 if point < 0 else 1.0
    return NormalDist().cdf(point / se)


def at_least_tail(alphas: Sequence[float], k: int) -> float:
    """P(X ≥ k), X the number of successes of independent Bernoulli(α_i)."""
    if k <= 0:
        return 1.0
    dist = [1.0]  # dist[j] = P(j successes so far)
    for a in alphas:
        nxt = [0.0] * (len(dist) + 1)
        for j, pj in enumerate(dist):
            nxt[j] += pj * (1.0 - a)
            nxt[j + 1] += pj * a
        dist = nxt
    return float(math.fsum(dist[k:]))


def one_sided_level_of_ci(ci_level: float) -> float:
    """α of the one-sided test a two-sided ``ci_level`` bound amounts to: (1 − level)/2."""
    return (1.0 - ci_level) / 2.0


def one_sided_level_of_se_rule(k: float) -> float:
    """α of the signed rule Δ̂ + k·SE < 0 under Δ = 0 (normal): 1 − Φ(k)."""
    return 1.0 - NormalDist().cdf(k)


__all__ = [
    "at_least_tail", "holm_adjust", "normal_p_value", "one_sided_level_of_ci",
    "one_sided_level_of_se_rule", "percentile_p_value",
]
