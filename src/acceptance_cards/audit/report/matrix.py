"""The audit matrix: one row per cell, each gate's state kept distinct (SPEC §6).

A row holds the cell's identity (model, recipe, seed, task, claimed class), the
four gate states exactly as the card records them (``pass``, ``fail``,
``borderline``, ``n/a``, ``pass-with-caveat``, ``not run`` — never merged, so a
missing gate never reads as a failure), ΔG with its CI, the deploy-accuracy
cost Δdeploy with its CI (reported beside the gates, never a gate), ρ, the card
verdict, "k of m run diagnostics pass", the unmet gates, — for a recipe
whose card states a permissive class (SafeLoRA: shrinkage) — the verdict under
that relabel beside the strict one (empty for every other recipe), and the
stand-ins each card states (the abstain attack, a stand-in SafeLoRA reference),
so no figure of the matrix is read without them: numbered in Markdown and
LaTeX, defined in the notes, written out in CSV.

CSV keeps full-precision numbers (six decimals, empty when not computed) for
scripts; Markdown and LaTeX show percentage points and the card renderers'
verdict badges for readers.

Example:
    >>> from acceptance_cards.audit.cells import positive_control_cell
    >>> m = build_matrix([positive_control_cell(n_resamples=200)])
    >>> row = m.rows[0]
    >>> (row.a, row.b, row.c, row.d), row.verdict, row.k_of_m
    (('pass', 'pass', 'pass', 'pass'), 'full-card pass', '4 of 4')
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict

from ...card.formatting import (
    MISSING,
    card_badge,
    fmt_level,
    fmt_pp,
    fmt_pp_ci,
    fmt_signed,
    gate_badge,
)
from ...card.verdict import CardVerdict
from ...constants import CI_LEVEL
from ...diagnostics import GATES, GateVerdict
from ..cells import CellResult
from .tables import TextTable, to_csv, to_latex, to_markdown

#: How :func:`matrix_table` formats values: raw CSV fields, readable Markdown, compact LaTeX.
Style = Literal["csv", "md", "tex"]

#: Decimal places of the numbers in the CSV matrix (enough for any re-analysis,
#: few enough that golden files do not churn on the last float bit).
CSV_DIGITS: Final = 6

#: The CSV header, in order (a stable contract for scripts that read the matrix).
CSV_COLUMNS: Final = (
    "cell", "model", "recipe", "seed", "task", "claimed_class", "positive_control",
    "gate_a", "gate_b", "gate_c", "gate_d",
    "delta_gap", "delta_gap_ci_low", "delta_gap_ci_high", "ci_level",
    "deploy_cost", "deploy_cost_ci_low", "deploy_cost_ci_high",
    "rho", "signed_class", "verdict", "passed", "run", "k_of_m", "unmet",
    "permissive_class", "verdict_permissive", "stand_ins",
)

#: How the CSV matrix joins a cell's stand-ins (each is one card's ``evidence.stand_ins[].what``).
STAND_IN_SEPARATOR: Final = "; "


class MatrixRow(BaseModel):
    """One cell of the audit, as the matrix shows it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cell: str
    model: str
    recipe: str
    seed: int
    task: str
    claimed_class: str
    positive_control: bool
    a: GateVerdict
    b: GateVerdict
    c: GateVerdict
    d: GateVerdict
    delta_gap: float | None
    delta_gap_ci_low: float | None
    delta_gap_ci_high: float | None
    ci_level: float | None
    deploy_cost: float | None
    deploy_cost_ci_low: float | None
    deploy_cost_ci_high: float | None
    rho: float | None
    signed_class: str | None
    verdict: CardVerdict
    passed: int
    run: int
    unmet: tuple[str, ...]
    permissive_class: str | None = None
    verdict_permissive: CardVerdict | None = None
    stand_ins: tuple[str, ...] = ()
    """What stands in for the published protocol on this cell's card (each stand-in's ``what``)."""

    @property
    def k_of_m(self) -> str:
        """``"k of m"``: gates passing out of gates run."""
        return f"{self.passed} of {self.run}"

    def gate(self, letter: str) -> GateVerdict:
        """The state of gate ``a``–``d``."""
        return {"a": self.a, "b": self.b, "c": self.c, "d": self.d}[letter]


class AuditMatrix(BaseModel):
    """All rows of an audit, in the order the cells were given."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rows: tuple[MatrixRow, ...]


def matrix_row(cell: CellResult) -> MatrixRow:
    """The matrix row of one cell (read from its card; nothing is recomputed)."""
    card = cell.card
    a, b, c, d = (card.diagnostics.a, card.diagnostics.b, card.diagnostics.c, card.diagnostics.d)
    return MatrixRow(
        cell=cell.name, model=cell.model, recipe=cell.recipe, seed=cell.seed, task=cell.task,
        claimed_class=c.claimed_class, positive_control=cell.positive_control,
        a=a.verdict, b=b.verdict, c=c.verdict, d=d.verdict,
        delta_gap=a.delta_gap, delta_gap_ci_low=a.ci_low, delta_gap_ci_high=a.ci_high,
        ci_level=a.ci_level,
        deploy_cost=card.deploy_cost.point, deploy_cost_ci_low=card.deploy_cost.ci_low,
        deploy_cost_ci_high=card.deploy_cost.ci_high,
        rho=c.rho, signed_class=c.signed_class,
        verdict=card.verdict, passed=card.passed, run=card.run, unmet=tuple(card.unmet),
        permissive_class=card.relabel.claimed_class if card.relabel else None,
        verdict_permissive=card.relabel.verdict if card.relabel else None,
        stand_ins=tuple(s.what for s in card.evidence.stand_ins) if card.evidence else (),
    )


def build_matrix(cells: Sequence[CellResult]) -> AuditMatrix:
    """The audit matrix of ``cells`` (one row each, input order kept)."""
    return AuditMatrix(rows=tuple(matrix_row(c) for c in cells))


def _csv_num(x: float | None) -> str:
    return "" if x is None else f"{x:.{CSV_DIGITS}f}"


def _csv_row(r: MatrixRow) -> tuple[str, ...]:
    return (
        r.cell, r.model, r.recipe, str(r.seed), r.task, r.claimed_class,
        "true" if r.positive_control else "false", r.a, r.b, r.c, r.d,
        _csv_num(r.delta_gap), _csv_num(r.delta_gap_ci_low), _csv_num(r.delta_gap_ci_high),
        _csv_num(r.ci_level), _csv_num(r.deploy_cost), _csv_num(r.deploy_cost_ci_low),
        _csv_num(r.deploy_cost_ci_high), _csv_num(r.rho), r.signed_class or "",
        r.verdict, str(r.passed), str(r.run), r.k_of_m, " ".join(r.unmet),
        r.permissive_class or "", r.verdict_permissive or "",
        STAND_IN_SEPARATOR.join(r.stand_ins),
    )


def _levels(m: AuditMatrix) -> str:
    levels = sorted({r.ci_level for r in m.rows if r.ci_level is not None})
    return "/".join(fmt_level(x) for x in levels) if levels else fmt_level(CI_LEVEL)


def _pp_ci(point: float | None, lo: float | None, hi: float | None, *, unit: bool) -> str:
    if point is None:
        return MISSING
    text = f"{fmt_pp(point)} {fmt_pp_ci(lo, hi)}"
    return text if unit else text.replace(" pp", "")


def _relabel(r: MatrixRow, *, compact: bool) -> str:
    """The verdict under the permissive relabel ("" for a recipe that declares none)."""
    if r.permissive_class is None or r.verdict_permissive is None:
        return ""
    badge = card_badge(r.verdict_permissive)
    return f"{r.permissive_class}: {badge.label if compact else badge.text}"


def _stand_in_numbers(m: AuditMatrix) -> dict[str, int]:
    """Each distinct stand-in of the matrix, numbered in order of first appearance from 1."""
    numbers: dict[str, int] = {}
    for r in m.rows:
        for what in r.stand_ins:
            numbers.setdefault(what, len(numbers) + 1)
    return numbers


def _stand_in_note(numbers: dict[str, int]) -> tuple[str, ...]:
    """The note defining the stand-in numbers of the matrix (none when no row has one)."""
    if not numbers:
        return ()
    listed = "; ".join(f"{n} = {what}" for what, n in numbers.items())
    return (f"Stand-ins (each card's Evidence provenance says why and what they affect): {listed}. "
            "Every figure of a row with a stand-in is measured with it, not under the published "
            "protocol.",)


def matrix_table(m: AuditMatrix, *, style: Style = "md") -> TextTable:
    """The matrix as a :class:`TextTable`.

    ``csv``: the raw :data:`CSV_COLUMNS`; ``md``: percentage points and gate
    badges (symbol and word); ``tex``: compact — gate symbols only (the legend
    is in the notes) and pp in the column header — so it fits a page.
    """
    if style == "csv":
        return TextTable(title="Audit matrix", columns=CSV_COLUMNS,
                         rows=tuple(_csv_row(r) for r in m.rows))
    level, compact = _levels(m), style == "tex"
    numbers = _stand_in_numbers(m)
    rows = []
    for r in m.rows:
        name = r.cell + (" (positive control)" if r.positive_control else "")
        rows.append((
            name, r.model, r.recipe, str(r.seed), r.task, r.claimed_class,
            *(gate_badge(r.gate(g)).symbol if compact else gate_badge(r.gate(g)).text
              for g in GATES),
            _pp_ci(r.delta_gap, r.delta_gap_ci_low, r.delta_gap_ci_high, unit=not compact),
            _pp_ci(r.deploy_cost, r.deploy_cost_ci_low, r.deploy_cost_ci_high, unit=not compact),
            fmt_signed(r.rho, digits=3) if r.rho is not None else MISSING,
            card_badge(r.verdict).label if compact else card_badge(r.verdict).text,
            _relabel(r, compact=compact), r.k_of_m, ", ".join(r.unmet) or "none",
            ", ".join(str(numbers[w]) for w in r.stand_ins) or "none",
        ))
    unit = " (pp)" if compact else ""
    return TextTable(
        title="Audit matrix",
        columns=("cell", "model", "recipe", "seed", "task", "claimed", "(a)", "(b)", "(c)",
                 "(d)", f"ΔG{unit} [{level} CI]", f"Δdeploy{unit} [{level} CI]", "ρ", "verdict",
                 "permissive relabel", "k of m", "unmet", "stand-ins"),
        rows=tuple(rows),
        align=("l", "l", "l", "r", "l", "l", "c", "c", "c", "c", "r", "r", "r", "l", "l", "c",
               "l", "l"),
        notes=(
            "Gate states: ✓ pass, ✗ fail, ≈ borderline (exactly one of (b)'s two signed "
            "checks holds), ∅ n/a (undefined by construction), ✓* pass-with-caveat (does not "
            "count as a pass), ○ not run (no evidence: blocks the full card but is not a "
            "failure).",
            "ΔG = G_defense − G_baseline on held-out questions (negative = gap reduced); "
            "Δdeploy = deploy-accuracy change, reported beside the gates, never a gate.",
            "k of m: gates passing out of gates run; unmet: gates that are not 'pass'.",
            "Permissive relabel: the verdict with (c) run under the recipe's permissive class "
            "(same ρ; SafeLoRA: shrinkage), beside the strict verdict, which stays the cell's "
            "verdict; empty for recipes without one.",
            *_stand_in_note(numbers),
        ),
    )


def matrix_csv(m: AuditMatrix) -> str:
    """The matrix as CSV (:data:`CSV_COLUMNS`; numbers at :data:`CSV_DIGITS` decimals)."""
    return to_csv(matrix_table(m, style="csv"))


def matrix_markdown(m: AuditMatrix) -> str:
    """The matrix as a Markdown section."""
    return to_markdown(matrix_table(m, style="md"))


def matrix_latex(m: AuditMatrix) -> str:
    """The matrix as a page-wide LaTeX ``table*`` (booktabs, amssymb, graphicx)."""
    return to_latex(matrix_table(m, style="tex"), wide=True)


__all__ = [
    "CSV_COLUMNS", "CSV_DIGITS", "STAND_IN_SEPARATOR", "AuditMatrix", "Style", "MatrixRow",
    "build_matrix", "matrix_csv", "matrix_latex", "matrix_markdown", "matrix_row", "matrix_table",
]
