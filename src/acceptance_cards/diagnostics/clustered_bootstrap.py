"""Diagnostic (a): question-clustered paired bootstrap on held-out records.

Blocks finite-split and template noise. Question ids are resampled with
replacement (B = 5,000), the same ids for baseline and defense; **pass iff the
upper bound of ΔG's percentile CI is below 0**. Δdeploy's CI is reported beside
the gate as cost, never gated.

Guards (SPEC §10): with fewer than ``min_questions`` question clusters the gate
is ``n/a`` (a percentile CI on a handful of clusters does not hold its level;
the numbers are still reported, for information), and a resample count too
small for the CI level, or above the maximum, is an :class:`InputError`.

Example:
    >>> from acceptance_cards.synthetic import simulate_pair
    >>> b, d = simulate_pair(seed=1)
    >>> r = run_clustered_bootstrap(b, d, seed=0, n_resamples=500)
    >>> r.verdict
    'pass'
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import Field

from ..clusters import PairedTable, Unit, paired_table
from ..constants import CI_LEVEL, MIN_QUESTION_CLUSTERS, N_RESAMPLES
from ..records import RecordSet
from ..stats.bootstrap import bootstrap_draws, check_resamples, percentile_ci, point_estimates
from ..stats.standard_errors import paired_standard_errors
from ._common import GateResult, GateVerdict
from .power import GatePower, bootstrap_power, underpowered_note

SPLIT = "heldout"


class BootstrapGate(GateResult):
    """Result of diagnostic (a)."""

    delta_gap: float | None = Field(None, description="ΔG = G_defense − G_baseline (point).")
    ci_low: float | None = Field(None, description="Lower CI bound of ΔG.")
    ci_high: float | None = Field(None, description="Upper CI bound of ΔG; pass iff < 0.")
    deploy_cost: float | None = Field(None, description="Δdeploy = r_deploy,def − r_deploy,base.")
    deploy_cost_ci_low: float | None = None
    deploy_cost_ci_high: float | None = None
    gap_baseline: float | None = Field(None, description="G_baseline (point).")
    gap_baseline_ci: tuple[float, float] | None = None
    gap_defense: float | None = Field(None, description="G_defense (point).")
    gap_defense_ci: tuple[float, float] | None = None
    n_questions: int | None = None
    n_evaluations_baseline: int | None = None
    n_evaluations_defense: int | None = None
    n_resamples: int | None = None
    n_degenerate_resamples: int | None = None
    ci_level: float | None = None
    unit: Unit | None = Field(None, description="Resampled unit: `question` (gate) or `item`.")
    seed: int | None = None
    power: GatePower | None = Field(
        None, description="Minimum detectable ΔG at 80% power from this card's question-level "
                          "variance (question clusters only).")
    min_questions: int = Field(
        MIN_QUESTION_CLUSTERS, description="Fewest question clusters for which the gate is defined."
    )
    rule: str = "pass iff ci_high < 0; n/a below min_questions question clusters"


def run_clustered_bootstrap(
    baseline: RecordSet | None,
    defense: RecordSet | None,
    *,
    seed: int,
    n_resamples: int = N_RESAMPLES,
    ci_level: float = CI_LEVEL,
    unit: Unit = "question",
    min_questions: int = MIN_QUESTION_CLUSTERS,
) -> BootstrapGate:
    """Run gate (a) on the ``heldout`` records of a baseline/defense pair.

    Raises :class:`InputError` if ``n_resamples`` is too small for ``ci_level``
    (or above the maximum), before any record is read.
    """
    check_resamples(n_resamples, ci_level)
    if baseline is None or defense is None:
        return BootstrapGate(verdict="not run", reason="no baseline/defense records",
                             min_questions=min_questions)
    if SPLIT not in baseline.splits() and SPLIT not in defense.splits():
        return BootstrapGate(verdict="not run", reason="no `heldout` records",
                             min_questions=min_questions)
    table = paired_table(baseline, defense, split=SPLIT, unit=unit)
    est = point_estimates(table)
    draws = bootstrap_draws(table, n_resamples=n_resamples, rng=np.random.default_rng(seed))
    lo, hi = percentile_ci(draws.delta_gap, level=ci_level)
    clo, chi = percentile_ci(draws.deploy_cost, level=ci_level)
    n_eval = table.n_evaluations().sum(axis=1)
    n_questions = len({i.split("\x1f")[0] for i in table.ids})
    power = _power(table, est.delta_gap, n_questions, ci_level) if unit == "question" else None
    verdict, reason = _decide(hi, ci_level, n_questions, min_questions)
    if verdict == "fail":
        reason += underpowered_note(power)
    return BootstrapGate(
        verdict=verdict,
        reason=reason,
        delta_gap=est.delta_gap,
        ci_low=lo,
        ci_high=hi,
        deploy_cost=est.deploy_cost,
        deploy_cost_ci_low=clo,
        deploy_cost_ci_high=chi,
        gap_baseline=est.gap_baseline,
        gap_baseline_ci=percentile_ci(draws.gap_baseline, level=ci_level),
        gap_defense=est.gap_defense,
        gap_defense_ci=percentile_ci(draws.gap_defense, level=ci_level),
        n_questions=n_questions,
        n_evaluations_baseline=int(n_eval[0]),
        n_evaluations_defense=int(n_eval[1]),
        n_resamples=n_resamples,
        n_degenerate_resamples=draws.n_degenerate,
        ci_level=ci_level,
        unit=unit,
        seed=seed,
        power=power,
        min_questions=min_questions,
    )


def _power(table: PairedTable, delta_gap: float, n_questions: int,
           ci_level: float) -> GatePower | None:
    """Minimum detectable ΔG from the question-level variance of the paired differences.

    Question clusters only: σ_d is a question-level variance; item clusters have none.
    """
    with np.errstate(divide="ignore", invalid="ignore"):  # a missing framing → NaN → None
        s = paired_standard_errors(table)
    return bootstrap_power(delta=delta_gap, sd_d=s.se_paired * math.sqrt(n_questions),
                           n_questions=n_questions, ci_level=ci_level)


def _decide(hi: float, level: float, n_questions: int, min_questions: int) -> tuple[GateVerdict, str]:
    """Verdict and reason of (a): n/a on too few clusters, else pass iff ci_high < 0."""
    if n_questions < min_questions:
        return "n/a", (
            f"only {n_questions} held-out question cluster(s), fewer than the minimum "
            f"{min_questions}: a percentile CI on so few clusters does not hold its level "
            "(CI shown for information only; n/a by construction)"
        )
    if hi < 0:
        return "pass", f"upper {level:.0%} CI bound of ΔG is {hi:+.4f} < 0"
    return "fail", (f"upper {level:.0%} CI bound of ΔG is {hi:+.4f} >= 0: "
                    "the reduction is not reliable on this split")
