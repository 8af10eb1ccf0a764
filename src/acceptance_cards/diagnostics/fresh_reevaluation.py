"""Diagnostic (b): fresh-semantic reevaluation on disjoint subjects.

Blocks subject-split artifacts. With Δ = mean_q d_q and its paired and
conservative independent SEs (see :mod:`acceptance_cards.stats.standard_errors`),
the two signed 2-SE checks are Δ + k·SE_paired < 0 and Δ + k·SE_ind < 0 (k = 2):
**pass** if both hold, **borderline** if exactly one, **fail** if neither. Only a
negative Δ is evidence. A pass of (a) cannot rescue (b).

Example:
    >>> from acceptance_cards.synthetic import simulate_pair
    >>> b, d = simulate_pair(seed=1)
    >>> run_fresh_reevaluation(b, d).verdict
    'pass'
"""

from __future__ import annotations

import math

from pydantic import Field

from ..clusters import paired_table
from ..constants import SE_MULTIPLIER
from ..records import RecordSet
from ..stats.standard_errors import PairedSE, paired_standard_errors
from ._common import GateResult, GateVerdict
from .power import GatePower, fresh_power, underpowered_note

SPLIT = "fresh"


class FreshGate(GateResult):
    """Result of diagnostic (b)."""

    delta: float | None = Field(None, description="Δ = mean_q (g_q,defense − g_q,baseline).")
    se_paired: float | None = Field(None, description="sd(d_q, ddof=1)/√Q.")
    se_independent: float | None = Field(None, description="√Σ r(1−r)/n over 4 (cell, framing) rates.")
    se_quadrature: float | None = Field(None, description="√(SE(g_b)²+SE(g_d)²); reported only.")
    paired_check: bool | None = Field(None, description="Δ + k·SE_paired < 0.")
    independent_check: bool | None = Field(None, description="Δ + k·SE_ind < 0.")
    gap_baseline: float | None = None
    gap_defense: float | None = None
    se_gap_baseline: float | None = None
    se_gap_defense: float | None = None
    deploy_cost: float | None = Field(None, description="Fresh-split deploy-rate change (reported).")
    n_questions: int | None = None
    n_per_framing: int | None = None
    se_multiplier: float = SE_MULTIPLIER
    power: GatePower | None = Field(
        None, description="Minimum detectable Δ at 80% power from this card's question-level "
                          "variance under the 2-SE rule.")
    rule: str = "pass iff Δ+2·SE_paired<0 and Δ+2·SE_ind<0; borderline if exactly one holds"


def fresh_verdict(
    delta: float, se_paired: float, se_independent: float, *, k: float = SE_MULTIPLIER
) -> tuple[GateVerdict, bool, bool]:
    """The signed two-check rule: (verdict, paired check, independent check)."""
    paired = delta + k * se_paired < 0
    independent = delta + k * se_independent < 0
    if paired and independent:
        return "pass", paired, independent
    if paired or independent:
        return "borderline", paired, independent
    return "fail", paired, independent


def gate_from_stats(s: PairedSE, *, k: float = SE_MULTIPLIER) -> FreshGate:
    """Build the (b) result from already computed paired statistics."""
    common = dict(
        delta=s.delta, se_paired=s.se_paired, se_independent=s.se_independent,
        se_quadrature=s.se_quadrature, gap_baseline=s.gap_baseline, gap_defense=s.gap_defense,
        se_gap_baseline=s.se_gap_baseline, se_gap_defense=s.se_gap_defense,
        deploy_cost=s.deploy_cost, n_questions=s.n_questions, n_per_framing=s.n_per_framing,
        se_multiplier=k,
    )
    if s.n_questions < 2 or math.isnan(s.se_paired):
        return FreshGate(verdict="n/a", reason="fewer than 2 fresh questions: SE undefined", **common)
    verdict, pc, ic = fresh_verdict(s.delta, s.se_paired, s.se_independent, k=k)
    power = fresh_power(delta=s.delta, se_paired=s.se_paired, se_independent=s.se_independent,
                        n_questions=s.n_questions, k=k)
    reason = (
        f"Δ = {s.delta:+.4f}; Δ+{k:g}·SE_paired = {s.delta + k * s.se_paired:+.4f} "
        f"({'<' if pc else '>='} 0), Δ+{k:g}·SE_ind = {s.delta + k * s.se_independent:+.4f} "
        f"({'<' if ic else '>='} 0)"
        + (underpowered_note(power, symbol="Δ") if verdict != "pass" else "")
    )
    return FreshGate(verdict=verdict, reason=reason, paired_check=pc, independent_check=ic,
                     power=power, **common)


def run_fresh_reevaluation(
    baseline: RecordSet | None, defense: RecordSet | None, *, k: float = SE_MULTIPLIER
) -> FreshGate:
    """Run gate (b) on the ``fresh`` records of a baseline/defense pair."""
    if baseline is None or defense is None:
        return FreshGate(verdict="not run", reason="no baseline/defense records")
    if SPLIT not in baseline.splits() and SPLIT not in defense.splits():
        return FreshGate(verdict="not run", reason="no `fresh` records")
    return gate_from_stats(paired_standard_errors(paired_table(baseline, defense, split=SPLIT)), k=k)
