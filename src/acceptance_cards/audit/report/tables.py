"""One plain text table and its three writers: CSV, Markdown, LaTeX.

Every audit table (matrix, progressive filter, sensitivity) turns its typed
rows into a :class:`TextTable` of already formatted strings, so the three
formats can never disagree about a value: they differ only in escaping.
Markdown and LaTeX escaping reuse the card renderers' escapers.

Example:
    >>> t = TextTable(title="T", columns=("cell", "ΔG"), rows=(("a|b", "-0.1"),))
    >>> print(to_csv(t), end="")
    cell,ΔG
    a|b,-0.1
    >>> print(to_markdown(t).splitlines()[-1])
    | a\\|b | -0.1 |
"""

from __future__ import annotations

import csv
import io

from pydantic import BaseModel, ConfigDict

from ...render.latex import latex_escape
from ...render.markdown import md_escape

#: A LaTeX column type: ``l``, ``r``, ``c`` or a paragraph column such as ``p{5cm}``.
Align = str


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


#: Packages the LaTeX tables need (array: ragged paragraph columns; graphicx: ``wide`` scaling).
LATEX_PACKAGES = ("array", "booktabs", "amssymb", "graphicx")


def to_latex(table: TextTable, *, wide: bool = False) -> str:
    """A booktabs ``tabular`` in a ``table`` float (packages: :data:`LATEX_PACKAGES`).

    ``wide``: a ``table*`` float with the tabular scaled to the text width, for
    tables with many columns (the matrix).
    """
    align = "".join(table.align) if table.align else "l" * len(table.columns)
    env = "table*" if wide else "table"
    lines = [
        rf"\begin{{{env}}}[t]",
        r"\centering",
        r"\small",
        rf"\caption{{{latex_escape(table.title)}}}",
    ]
    if wide:
        lines.append(r"\resizebox{\textwidth}{!}{%")
    lines += [
        rf"\begin{{tabular}}{{{align}}}",
        r"\toprule",
        " & ".join(latex_escape(c) for c in table.columns) + r" \\",
        r"\midrule",
    ]
    lines.extend(" & ".join(latex_escape(c) for c in row) + r" \\" for row in table.rows)
    lines.append(r"\bottomrule")
    lines.append(r"\end{tabular}" + ("}" if wide else ""))
    if table.notes:
        notes = " ".join(latex_escape(n) for n in table.notes)
        lines.append(rf"\par\smallskip\footnotesize {notes}")
    lines.append(rf"\end{{{env}}}")
    return "\n".join(lines) + "\n"


__all__ = ["LATEX_PACKAGES", "Align", "TextTable", "to_csv", "to_latex", "to_markdown"]
