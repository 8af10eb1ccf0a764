"""One plain text table and its three writers: CSV, Markdown, LaTeX.

Every audit table (matrix, progressive filter, sensitivity) turns its typed
rows into a :class:`TextTable` of already formatted strings, so the three
formats can never disagree about a value: they differ only in escaping.
Markdown and LaTeX escaping reuse the card renderers' escapers.

Example:
    >>> t = TextTable(title="T", columns=("cell", "ΔG"), rows=(("adamw_s42", "-0.1"),))
    >>> print(to_csv(t), end="")
    cell,ΔG
    adamw_s42,-0.1
    >>> print(to_markdown(t).splitlines()[-1])
    | adamw\\_s42 | -0.1 |
"""

from __future__ import annotations

import csv
import io
from typing import Literal

from pydantic import BaseModel, ConfigDict

from ..render.latex import latex_escape
from ..render.markdown import md_escape

Align = Literal["l", "r", "c"]


class TextTable(BaseModel):
    """A titled table of formatted cells, plus notes printed under it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    notes: tuple[str, ...] = ()
    #: Column alignment for LaTeX (``l`` for every column when empty).
    align: tuple[Align, ...] = ()


def to_csv(table: TextTable) -> str:
    """RFC-4180 CSV with a header row (``\\n`` line ends; notes are not written)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(table.columns)
    w.writerows(table.rows)
    return buf.getvalue()


def to_markdown(table: TextTable, *, heading: int = 2) -> str:
    """A GitHub-flavoured Markdown section: heading, pipe table, notes as a list."""
    lines = [f"{'#' * heading} {md_escape(table.title)}", ""]
    lines.append("| " + " | ".join(md_escape(c) for c in table.columns) + " |")
    lines.append("|" + "|".join("---" for _ in table.columns) + "|")
    lines.extend("| " + " | ".join(md_escape(c) for c in row) + " |" for row in table.rows)
    if table.notes:
        lines.append("")
        lines.extend(f"- {md_escape(n)}" for n in table.notes)
    return "\n".join(lines) + "\n"


def to_latex(table: TextTable) -> str:
    """A booktabs ``tabular`` in a ``table`` float (needs ``booktabs``, ``amssymb``)."""
    align = "".join(table.align) if table.align else "l" * len(table.columns)
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        rf"\caption{{{latex_escape(table.title)}}}",
        rf"\begin{{tabular}}{{{align}}}",
        r"\toprule",
        " & ".join(latex_escape(c) for c in table.columns) + r" \\",
        r"\midrule",
    ]
    lines.extend(" & ".join(latex_escape(c) for c in row) + r" \\" for row in table.rows)
    lines.append(r"\bottomrule")
    lines.append(r"\end{tabular}")
    if table.notes:
        notes = " ".join(latex_escape(n) for n in table.notes)
        lines.append(rf"\par\smallskip\footnotesize {notes}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


__all__ = ["Align", "TextTable", "to_csv", "to_latex", "to_markdown"]
