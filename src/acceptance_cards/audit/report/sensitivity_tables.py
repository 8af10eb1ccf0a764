"""The sensitivity analyses as text tables (CSV and Markdown writers).

Each table ends with a ``moves`` column listing, per cell, every gate state or
card verdict that differs from the default card, and a note counting the
cells that move. See :mod:`acceptance_cards.audit.report.sensitivity` for the analyses.

Example:
    >>> from acceptance_cards.audit.cells import positive_control_cell
    >>> from acceptance_cards.audit.report.sensitivity import tau_sweep
    >>> t = tau_table(tau_sweep([positive_control_cell(n_resamples=200)]))
    >>> t.notes[-1]
    'No verdict moves relative to the default in any of 1 cell(s).'
"""

from __future__ import annotations

from ...card.formatting import MISSING, fmt_level, fmt_num, fmt_signed
from .sensitivity import (
    CiLevelSensitivity,
    ScreenSensitivity,
    SensitivityReport,
    TauSensitivity,
    UnitSensitivity,
)
from .sensitivity_multiplicity import chance_table, holm_table
from .tables import TextTable


def _g(x: str | None) -> str:
    return MISSING if x is None else x


def _moves_text(moves: tuple[str, ...]) -> str:
    return "; ".join(moves) if moves else "none"


def _moved_note(moved: tuple[str, ...], n: int) -> str:
    if not moved:
        return f"No verdict moves relative to the default in any of {n} cell(s)."
    return f"{len(moved)} of {n} cell(s) move relative to the default: {', '.join(moved)}."


def ci_level_table(s: CiLevelSensitivity) -> TextTable:
    """The CI-level analysis as a :class:`TextTable`."""
    cols = ["cell", "default level"]
    for lv in s.levels:
        cols += [f"CI high @{fmt_level(lv)}", f"(a) @{fmt_level(lv)}", f"verdict @{fmt_level(lv)}"]
    rows = []
    for r in s.rows:
        vals = [r.cell, fmt_level(r.default_level)]
        for hi, g, v in zip(r.ci_high, r.gates, r.verdicts, strict=True):
            vals += [fmt_signed(hi), _g(g), _g(v)]
        rows.append((*vals, r.note or _moves_text(r.moves)))
    return TextTable(title="Sensitivity: CI level of (a)", columns=(*cols, "moves"),
                     rows=tuple(rows), notes=(
                         "Pass iff the upper CI bound of ΔG < 0; same seed and resamples as the "
                         "card.", _moved_note(s.moved, len(s.rows))))


def unit_table(s: UnitSensitivity) -> TextTable:
    """The resampling-unit comparison as a :class:`TextTable`."""
    rows = []
    for r in s.rows:
        rows.append((
            r.cell, fmt_level(r.ci_level),
            MISSING if r.clustered_ci is None else f"[{fmt_signed(r.clustered_ci[0])}, "
                                                   f"{fmt_signed(r.clustered_ci[1])}]",
            fmt_num(r.clustered_width),
            MISSING if r.item_ci is None else f"[{fmt_signed(r.item_ci[0])}, "
                                              f"{fmt_signed(r.item_ci[1])}]",
            fmt_num(r.item_width), fmt_num(r.width_ratio, digits=2),
            r.clustered_gate, _g(r.item_gate), r.note or _moves_text(r.moves),
        ))
    return TextTable(
        title="Sensitivity: resampling unit of (a)",
        columns=("cell", "level", "clustered CI", "clustered width", "item-level CI",
                 "item-level width", "item/clustered", "(a) clustered", "(a) item-level",
                 "moves"),
        rows=tuple(rows),
        notes=("Question-clustered resampling is the gate; item-level resampling treats every "
               "evaluation as independent and understates the CI width (the paper found about "
               "half). Shown for comparison only.", _moved_note(s.moved, len(s.rows))))


def tau_table(s: TauSensitivity) -> TextTable:
    """The τ sweep as a :class:`TextTable`."""
    cols = ["cell", "ρ", "claimed"]
    for t in s.taus:
        cols += [f"signed @τ={t:g}", f"(c) @τ={t:g}", f"verdict @τ={t:g}"]
    rows = []
    for r in s.rows:
        vals = [r.cell, fmt_signed(r.rho), r.claimed_class]
        for cls, g, v in zip(r.signed, r.gates, r.verdicts, strict=True):
            vals += [_g(cls), g, v]
        rows.append((*vals, _moves_text(r.moves)))
    return TextTable(title="Sensitivity: τ of (c)", columns=(*cols, "moves"), rows=tuple(rows),
                     notes=("attack-targeted iff |ρ| < τ; pass iff the claimed class equals the "
                            "signed class.", _moved_note(s.moved, len(s.rows))))


def screen_table(s: ScreenSensitivity) -> TextTable:
    """The one-SE screen as a :class:`TextTable`."""
    k = f"{s.multiplier:g}"
    rows = tuple(
        (r.cell, fmt_signed(r.delta), fmt_num(r.se_paired),
         fmt_signed(None if r.delta is None or r.se_paired is None
                    else r.delta + s.multiplier * r.se_paired),
         r.gate, r.screen, r.verdict_with_screen, _moves_text(r.moves))
        for r in s.rows
    )
    return TextTable(
        title=f"Sensitivity: {k}-SE paired-only screen for (b)",
        columns=("cell", "Δ", "SE paired", f"Δ+{k}·SE paired", "(b) strict",
                 f"{k}-SE screen", "verdict with screen", "moves"),
        rows=rows,
        notes=(f"Screen: pass iff Δ + {k}·SE_paired < 0 (exploratory); the gate needs both "
               "Δ + 2·SE_paired < 0 and Δ + 2·SE_ind < 0.", _moved_note(s.moved, len(s.rows))))


def sensitivity_tables(report: SensitivityReport) -> dict[str, TextTable]:
    """File stem → table, in report order."""
    return {"ci_level": ci_level_table(report.ci_level), "resampling_unit": unit_table(report.unit),
            "tau": tau_table(report.tau), "one_se_screen": screen_table(report.screen),
            "multiplicity_chance": chance_table(report.multiplicity),
            "multiplicity_holm": holm_table(report.multiplicity)}


__all__ = ["ci_level_table", "screen_table", "sensitivity_tables", "tau_table", "unit_table"]
