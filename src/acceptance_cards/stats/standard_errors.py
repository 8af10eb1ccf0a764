"""Per-question paired, independent-rates and quadrature SEs (SPEC §2b, §2d).

For question q and cell c, g_q,c = mean(correct | deploy) − mean(correct | eval);
d_q = g_q,defense − g_q,baseline; Δ = mean_q d_q.

- SE_paired = sd(d_q, ddof=1) / √Q
- SE_ind = √( Σ over the four (cell, framing) pooled rates r of r(1−r)/n ),
  n the evaluations behind r (conservative: ignores the pairing)
- SE_quadrature = √( SE(g_baseline)² + SE(g_defense)² ), SE(g_c) = sd(g_q,c, ddof=1)/√Q
  (reported, never gated)

Example:
    >>> import numpy as np
    >>> from acceptance_cards.clusters import PairedTable
    >>> s = np.array([[[0, 1], [0, 0]], [[0, 1], [1, 1]], [[1, 1], [0, 1]]], float)
    >>> t = PairedTable(("a", "b", "c"), s, np.ones_like(s), "question", "fresh")
    >>> r = paired_standard_errors(t)
    >>> round(r.delta, 4), round(r.se_paired, 4)  # d_q = (-1, -1, +1)
    (-0.3333, 0.6667)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..clusters import BASELINE, DEFENSE, DEPLOY, EVAL, PairedTable, per_cluster_gaps


@dataclass(frozen=True)
class PairedSE:
    """Everything (b) and (d) need from one paired fresh-split table."""

    delta: float
    se_paired: float
    se_independent: float
    se_quadrature: float
    gap_baseline: float  # mean_q g_q,baseline
    gap_defense: float
    se_gap_baseline: float
    se_gap_defense: float
    rate_baseline_eval: float
    rate_baseline_deploy: float
    rate_defense_eval: float
    rate_defense_deploy: float
    deploy_cost: float  # pooled deploy rate, defense − baseline
    n_questions: int
    n_per_framing: int  # evaluations per framing per cell (the smallest of the four)


def _se_mean(x: np.ndarray) -> float:
    """sd(x, ddof=1)/√n; NaN for fewer than two values."""
    n = x.shape[0]
    return float(np.std(x, ddof=1) / math.sqrt(n)) if n >= 2 else math.nan


def paired_standard_errors(table: PairedTable) -> PairedSE:
    """Δ and its three standard errors from a question-clustered paired table."""
    g = per_cluster_gaps(table)
    d = g[:, DEFENSE] - g[:, BASELINE]
    rates = table.rates()
    n = table.n_evaluations()
    var = rates * (1.0 - rates) / n
    se_gb, se_gd = _se_mean(g[:, BASELINE]), _se_mean(g[:, DEFENSE])
    return PairedSE(
        delta=float(d.mean()),
        se_paired=_se_mean(d),
        se_independent=float(math.sqrt(var.sum())),
        se_quadrature=float(math.sqrt(se_gb**2 + se_gd**2)),
        gap_baseline=float(g[:, BASELINE].mean()),
        gap_defense=float(g[:, DEFENSE].mean()),
        se_gap_baseline=se_gb,
        se_gap_defense=se_gd,
        rate_baseline_eval=float(rates[BASELINE, EVAL]),
        rate_baseline_deploy=float(rates[BASELINE, DEPLOY]),
        rate_defense_eval=float(rates[DEFENSE, EVAL]),
        rate_defense_deploy=float(rates[DEFENSE, DEPLOY]),
        deploy_cost=float(rates[DEFENSE, DEPLOY] - rates[BASELINE, DEPLOY]),
        n_questions=table.n_clusters,
        n_per_framing=int(n.min()),
    )
