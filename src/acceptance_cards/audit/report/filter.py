"""The progressive filter: how many cells survive each gate and conjunction (SPEC §6).

For each conjunction in :data:`CONJUNCTIONS` — (b), (a), (a)∧(b), (b)∧(c),
(a)∧(b)∧(c)∧(d), the paper's Table 3 — the table counts

- **cells with a result**: every gate of the conjunction is anything but
  ``not run``. A gate that ran and came out ``n/a`` (undefined by
  construction), ``borderline`` or ``pass-with-caveat`` *has* a result — it is
  a result that is not a pass — so the count says how many cells the
  conjunction could be judged on, and ``not run`` (absent evidence) is the only
  state that removes a cell from the denominator;
- **cells passing**: every gate of the conjunction is strictly ``pass``
  (``borderline`` and ``pass-with-caveat`` never count, SPEC §3).

Positive-control cells are synthetic checks of the pipeline, not audited
defenses, so they are left out of the counts (``include_controls=False``) and
named in a note instead.

The funnel (:func:`funnel`) is the cumulative view the figure draws: all cells,
then the cells passing (a), (a)∧(b), (a)∧(b)∧(c), and all four.

Example:
    >>> from acceptance_cards.audit.cells import positive_control_cell
    >>> f = progressive_filter([positive_control_cell(n_resamples=200)], include_controls=True)
    >>> [(r.label, r.with_result, r.passing) for r in f.rows][-1]
    ('(a)∧(b)∧(c)∧(d)', 1, 1)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from pydantic import BaseModel, ConfigDict

from ...card.model import gate_verdicts
from ..cells import CellResult
from .tables import TextTable, to_csv, to_latex, to_markdown

#: The conjunctions of the filter table, in the paper's order.
CONJUNCTIONS: Final[tuple[tuple[str, ...], ...]] = (
    ("b",), ("a",), ("a", "b"), ("b", "c"), ("a", "b", "c", "d"),
)

#: The cumulative stages of the funnel figure.
FUNNEL_STAGES: Final[tuple[tuple[str, ...], ...]] = (
    (), ("a",), ("a", "b"), ("a", "b", "c"), ("a", "b", "c", "d"),
)

#: Passing cells listed by name in a table row before "and N more".
MAX_NAMED: Final = 6

#: The definition of "with a result", printed under every table.
WITH_RESULT_RULE: Final = (
    "A cell has a result for a conjunction when none of its gates is 'not run' "
    "(n/a, borderline and pass-with-caveat are results that are not passes); it passes "
    "when every gate of the conjunction is strictly 'pass'."
)


def label(gates: Sequence[str]) -> str:
    """``("a", "b")`` → ``"(a)∧(b)"``; the empty conjunction is ``"all cells"``."""
    return "∧".join(f"({g})" for g in gates) if gates else "all cells"


class FilterRow(BaseModel):
    """One conjunction of the filter."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    gates: tuple[str, ...]
    label: str
    with_result: int
    passing: int
    passing_cells: tuple[str, ...]


class ProgressiveFilter(BaseModel):
    """The filter table over the audited (non-control) cells."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n_cells: int
    rows: tuple[FilterRow, ...]
    excluded_controls: tuple[str, ...]


def _states(cell: CellResult) -> dict[str, str]:
    return dict(gate_verdicts(cell.card.diagnostics))


def _row(cells: Sequence[CellResult], gates: tuple[str, ...]) -> FilterRow:
    states = [(c.name, _states(c)) for c in cells]
    with_result = [n for n, s in states if all(s[g] != "not run" for g in gates)]
    passing = tuple(n for n, s in states if all(s[g] == "pass" for g in gates))
    return FilterRow(gates=gates, label=label(gates), with_result=len(with_result),
                     passing=len(passing), passing_cells=passing)


def _audited(cells: Sequence[CellResult], include_controls: bool) -> list[CellResult]:
    return [c for c in cells if include_controls or not c.positive_control]


def progressive_filter(
    cells: Sequence[CellResult], *, include_controls: bool = False,
    conjunctions: Sequence[tuple[str, ...]] = CONJUNCTIONS,
) -> ProgressiveFilter:
    """Count cells with a result and cells passing for each conjunction."""
    audited = _audited(cells, include_controls)
    return ProgressiveFilter(
        n_cells=len(audited),
        rows=tuple(_row(audited, tuple(g)) for g in conjunctions),
        excluded_controls=tuple(c.name for c in cells if c.positive_control and not include_controls),
    )


def funnel(cells: Sequence[CellResult], *, include_controls: bool = False) -> ProgressiveFilter:
    """The cumulative funnel: all cells, then survivors of (a), (a)∧(b), (a)∧(b)∧(c), all four."""
    return progressive_filter(cells, include_controls=include_controls, conjunctions=FUNNEL_STAGES)


def _names(names: tuple[str, ...]) -> str:
    if not names:
        return "none"
    shown = "; ".join(names[:MAX_NAMED])
    return shown + (f"; and {len(names) - MAX_NAMED} more" if len(names) > MAX_NAMED else "")


def filter_table(f: ProgressiveFilter, *, readable: bool = True) -> TextTable:
    """The filter as a :class:`TextTable` (``readable=False``: machine column names)."""
    cols = (("gates", "cells_with_result", "cells_passing", "passing_cells") if not readable
            else ("gate(s) applied", "cells with a result", "cells passing", "passing cells"))
    notes = [WITH_RESULT_RULE, f"{f.n_cells} audited cell(s)."]
    if f.excluded_controls:
        notes.append("Positive-control cells are not counted: " + ", ".join(f.excluded_controls)
                     + ".")
    return TextTable(
        title="Progressive filter",
        columns=cols,
        rows=tuple(
            (r.label, str(r.with_result), str(r.passing),
             _names(r.passing_cells) if readable else ";".join(r.passing_cells))
            for r in f.rows
        ),
        notes=tuple(notes) if readable else (),
        align=("l", "r", "r", r">{\raggedright\arraybackslash}p{0.3\linewidth}"),
    )


def filter_csv(f: ProgressiveFilter) -> str:
    """The filter as CSV (passing cells separated by ``;``)."""
    return to_csv(filter_table(f, readable=False))


def filter_markdown(f: ProgressiveFilter) -> str:
    """The filter as a Markdown section with the definition of "with a result"."""
    return to_markdown(filter_table(f))


def filter_latex(f: ProgressiveFilter) -> str:
    """The filter as a LaTeX ``table``."""
    return to_latex(filter_table(f))


__all__ = [
    "CONJUNCTIONS", "FUNNEL_STAGES", "MAX_NAMED", "WITH_RESULT_RULE", "FilterRow",
    "ProgressiveFilter", "filter_csv", "filter_latex", "filter_markdown", "filter_table",
    "funnel", "label", "progressive_filter",
]
