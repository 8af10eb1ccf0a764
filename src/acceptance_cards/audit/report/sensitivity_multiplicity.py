"""Multiplicity across an audit: passes next to chance, and Holm-adjusted (a).

The standard is per claim, so **no card's verdict changes here**. But a reader
of an audit of m cells asks how many passes chance alone would give, and how
many survive a family-wise correction. Positive controls are left out: they
are built to pass.

**Null model** (per gate, per cell): the defense does not reduce the gap
(ΔG = 0, the boundary of the one-sided null ΔG ≥ 0, where a signed test passes
most often). Each signed gate then passes with probability at most its one-sided
level α, independently across cells (cells sharing a baseline are positively
correlated, which leaves the expected count unchanged but widens its spread):

- (a): pass iff the upper ``ci_level`` bound of ΔG < 0, a one-sided test at
  α = (1 − ci_level)/2 (2.5 % at 95 %): expected m·α passes.
- (b): pass needs Δ̂ + k·SE_paired < 0 (and the independent-SE check), so
  α ≤ 1 − Φ(k) (2.28 % for k = 2).
- (d): pass needs Δ̂_x + k·SE_x < 0 (and installable, non-degenerate,
  comparable), so α ≤ 1 − Φ(k).
- (c) is a classification of ρ against τ, not a test of ΔG: no chance rate.

These α are the nominal levels. The percentile bootstrap on ~48 question
clusters is a little liberal (z where t would be due, a ddof=0 spread): on
simulated null cells of the paper's design, gate (a) at 95 % passed 31 of 1,000
(3.1 %, B = 1,000) against the nominal 2.5 %, so "expected by chance" is, if
anything, an understatement.

m counts the cells where the gate produced a decision (``pass``, ``fail`` and,
for (b), ``borderline``; ``n/a``, ``not run`` and ``pass-with-caveat`` are not
decisions). "P(≥ observed)" is the chance of at least the observed passes under
that null (Poisson-binomial over the cells' α).

**Holm for (a)**: each cell's one-sided p-value for H0: ΔG ≥ 0 is the
bootstrap's own: the inverted percentile CI of the card's B resampled ΔG*
(recomputed with the card's seed and B, so the draws are the card's; p < α
exactly when the card's (a) passes; about the share of ΔG* at or above 0). A
cell without records gets the normal approximation from its reported CI.
Holm's step-down at family-wise α = the cards' one-sided level (the smallest
when cards differ) says which (a) passes survive.

Example:
    >>> from acceptance_cards.audit.cells import positive_control_cell
    >>> multiplicity([positive_control_cell(n_resamples=200)]).n_a_passes
    0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
from pydantic import BaseModel, ConfigDict

from ...card.formatting import MISSING, fmt_num, fmt_signed
from ...clusters import paired_table
from ...diagnostics.clustered_bootstrap import SPLIT
from ...stats.bootstrap import bootstrap_draws
from ...stats.multiplicity import (
    at_least_tail,
    holm_adjust,
    normal_p_value,
    one_sided_level_of_ci,
    one_sided_level_of_se_rule,
    percentile_p_value,
)
from ..cells import CellResult
from .tables import TextTable

#: Gate states that are a decision of the gate's test (what m counts).
DECISIONS: Final[dict[str, tuple[str, ...]]] = {
    "a": ("pass", "fail"), "b": ("pass", "fail", "borderline"), "c": ("pass", "fail"),
    "d": ("pass", "fail"),
}

#: Where a cell's (a) p-value came from.
P_BOOTSTRAP: Final = "bootstrap (inverted percentile CI)"
P_NORMAL: Final = "normal approx. from the card's CI (no records)"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ChanceRow(_Frozen):
    """One gate's passes across the audit next to what chance alone gives."""

    gate: str
    tested: int
    passes: int
    alpha: float | None  # per-cell one-sided level (mean when cells differ); None: no null
    expected: float | None
    p_any: float | None  # P(≥ 1 pass by chance)
    p_observed: float | None  # P(≥ observed passes by chance)
    null_model: str


class HolmRow(_Frozen):
    """Gate (a) of one cell before and after Holm's adjustment."""

    cell: str
    delta_gap: float | None
    ci_high: float | None
    gate: str
    p_value: float
    p_source: str
    p_holm: float
    survives: bool


class MultiplicitySensitivity(_Frozen):
    """Chance passes per gate and Holm-adjusted (a) for the audited (non-control) cells."""

    n_cells: int
    family_alpha: float | None
    chance: tuple[ChanceRow, ...]
    holm: tuple[HolmRow, ...]

    @property
    def n_a_passes(self) -> int:
        return sum(r.gate == "pass" for r in self.holm)

    @property
    def n_surviving(self) -> int:
        return sum(r.survives for r in self.holm)


def _alpha(cell: CellResult, gate: str) -> float | None:
    card = cell.card
    if gate == "a":
        return one_sided_level_of_ci(card.diagnostics.a.ci_level or card.options.ci_level)
    if gate == "b":
        return one_sided_level_of_se_rule(card.diagnostics.b.se_multiplier)
    if gate == "d":
        return one_sided_level_of_se_rule(card.diagnostics.d.se_multiplier)
    return None


_NULL_TEXT: Final = {
    "a": "ΔG = 0; pass iff upper CI bound < 0: one-sided test at α = (1 − level)/2",
    "b": "Δ = 0; pass needs Δ + k·SE_paired < 0: α ≤ 1 − Φ(k)",
    "c": "none: (c) classifies ρ against τ, it is not a test of ΔG",
    "d": "Δ_x = 0; pass needs Δ_x + k·SE_x < 0: α ≤ 1 − Φ(k)",
}


def _chance_row(cells: Sequence[CellResult], gate: str) -> ChanceRow:
    states = [getattr(c.card.diagnostics, gate).verdict for c in cells]
    tested = [c for c, s in zip(cells, states, strict=True) if s in DECISIONS[gate]]
    passes = sum(s == "pass" for s in states)
    alphas = [a for a in (_alpha(c, gate) for c in tested) if a is not None]
    if gate == "c" or not tested:
        return ChanceRow(gate=gate, tested=len(tested), passes=passes, alpha=None, expected=None,
                         p_any=None, p_observed=None, null_model=_NULL_TEXT[gate])
    return ChanceRow(gate=gate, tested=len(tested), passes=passes,
                     alpha=float(np.mean(alphas)), expected=float(sum(alphas)),
                     p_any=at_least_tail(alphas, 1), p_observed=at_least_tail(alphas, passes),
                     null_model=_NULL_TEXT[gate])


def a_p_value(cell: CellResult) -> tuple[float, str]:
    """The one-sided p-value of a cell's (a), and where it came from."""
    a, o = cell.card.diagnostics.a, cell.card.options
    if cell.baseline is not None and cell.defense is not None and a.unit in (None, "question"):
        table = paired_table(cell.baseline, cell.defense, split=SPLIT)
        n = a.n_resamples or o.n_resamples
        draws = bootstrap_draws(table, n_resamples=n, rng=np.random.default_rng(o.seed))
        return percentile_p_value(draws.delta_gap), P_BOOTSTRAP
    assert a.delta_gap is not None and a.ci_low is not None and a.ci_high is not None
    return normal_p_value(a.delta_gap, a.ci_low, a.ci_high, a.ci_level or o.ci_level), P_NORMAL


def multiplicity(cells: Sequence[CellResult]) -> MultiplicitySensitivity:
    """Chance passes per gate and Holm-adjusted (a) over the audited cells."""
    audited = [c for c in cells if not c.positive_control]
    family = [c for c in audited if c.card.diagnostics.a.verdict in DECISIONS["a"]]
    alphas = [a for a in (_alpha(c, "a") for c in family) if a is not None]
    fam_alpha = min(alphas) if alphas else None
    pv = [a_p_value(c) for c in family]
    adjusted = holm_adjust([p for p, _ in pv])
    holm = tuple(
        HolmRow(cell=c.name, delta_gap=c.card.diagnostics.a.delta_gap,
                ci_high=c.card.diagnostics.a.ci_high, gate=c.card.diagnostics.a.verdict,
                p_value=p, p_source=src, p_holm=q,
                survives=c.card.diagnostics.a.verdict == "pass" and fam_alpha is not None
                and q < fam_alpha)
        for c, (p, src), q in zip(family, pv, adjusted, strict=True))
    return MultiplicitySensitivity(
        n_cells=len(audited), family_alpha=fam_alpha,
        chance=tuple(_chance_row(audited, g) for g in ("a", "b", "c", "d")), holm=holm)


def _prob(x: float | None) -> str:
    if x is None:
        return MISSING
    return f"{x:.1e}" if 0 < x < 1e-3 else f"{x:.3f}"


def _pct(x: float | None) -> str:
    return MISSING if x is None else f"{100 * x:.2f}%"


def chance_table(s: MultiplicitySensitivity) -> TextTable:
    """Per-gate passes next to the chance expectation under the null."""
    rows = tuple(
        (f"({r.gate})", str(r.tested), str(r.passes), _pct(r.alpha),
         MISSING if r.expected is None else f"{r.expected:.2f}", _prob(r.p_any),
         _prob(r.p_observed), r.null_model)
        for r in s.chance)
    return TextTable(
        title="Multiplicity: passes next to chance",
        columns=("gate", "cells tested (m)", "passes", "α per cell", "expected by chance",
                 "P(≥1 by chance)", "P(≥ observed by chance)", "null model"),
        rows=rows,
        notes=(f"{s.n_cells} audited cell(s); positive controls excluded. Null: no reduction, at "
               "the boundary ΔG = 0 where a signed test passes most often; cells independent. "
               "Card verdicts do not change: the standard is per claim.",))


def holm_table(s: MultiplicitySensitivity) -> TextTable:
    """(a) per cell with its bootstrap p-value, Holm-adjusted p and whether the pass survives."""
    rows = tuple(
        (r.cell, fmt_signed(r.delta_gap), fmt_signed(r.ci_high), r.gate, fmt_num(r.p_value),
         fmt_num(r.p_holm), "yes" if r.survives else ("no" if r.gate == "pass" else MISSING),
         r.p_source)
        for r in s.holm)
    alpha = MISSING if s.family_alpha is None else f"{100 * s.family_alpha:g}%"
    return TextTable(
        title="Multiplicity: Holm-adjusted (a)",
        columns=("cell", "ΔG", "CI high", "(a)", "p (one-sided)", "p Holm", "pass survives Holm",
                 "p from"),
        rows=rows,
        notes=(f"{s.n_surviving} of {s.n_a_passes} (a) pass(es) survive Holm's step-down over "
               f"the {len(s.holm)} cell(s) where (a) decided, at family-wise one-sided α = "
               f"{alpha}. p inverts the card's percentile CI (p < α iff its (a) passes; about the "
               "share of bootstrap draws of ΔG at or above 0; resolution 1/B). Card verdicts "
               "do not change.",))


__all__ = [
    "DECISIONS", "P_BOOTSTRAP", "P_NORMAL", "ChanceRow", "HolmRow", "MultiplicitySensitivity",
    "a_p_value", "chance_table", "holm_table", "multiplicity",
]
