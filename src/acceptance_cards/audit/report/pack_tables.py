"""The audit's matrix and filter, regenerated from the packed cards and compared with its copies.

A results folder's matrix and progressive filter must say what its cards say:
each matrix row names a cell (model, recipe, seed, task, positive control);
its card is the packed one of the same stem, and the tables rebuilt from
those cards must equal the audit's files byte for byte. An edited or stale
table is refused naming the file, instead of being copied unchecked.

Example:
    >>> check_tables(Path("no-such-audit"), {})  # an audit without a matrix: nothing to check
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from pathlib import Path

from ..._util.errors import InputError
from ...card.model import RECORDED, Card
from ..cells import CellResult
from .filter import filter_csv, filter_latex, filter_markdown, progressive_filter
from .matrix import build_matrix, matrix_csv, matrix_latex, matrix_markdown
from .outputs import safe_names

__all__ = ["check_tables", "packed_cards"]


def packed_cards(files: Mapping[str, bytes], stems: list[str]) -> dict[str, Card]:
    """The rebuilt cards staged for the pack, by file stem."""
    return {s: Card.model_validate(json.loads(files[f"cards/{s}.json"]), context={RECORDED: True})
            for s in stems}


def _cells(matrix_file: Path, cards: Mapping[str, Card]) -> list[CellResult]:
    """The matrix's rows as cells carrying the packed cards (row order kept)."""
    rows = list(csv.reader(io.StringIO(matrix_file.read_text(encoding="utf-8"))))[1:]
    stems = safe_names([r[0] for r in rows])
    cells = []
    for line, r in enumerate(rows, start=2):
        card = cards.get(stems[r[0]]) if len(r) > 6 else None
        if card is None or not r[3].lstrip("-").isdigit():
            raise InputError(f"row for {r[0] if r else '?'!r} has no packed card",
                             path=matrix_file, line=line, field="cell")
        cells.append(CellResult(name=r[0], model=r[1], recipe=r[2], seed=int(r[3]), task=r[4],
                                card=card, positive_control=r[6] == "true"))
    return cells


def check_tables(audit_out: Path, cards: Mapping[str, Card]) -> None:
    """Fail naming the first of ``matrix.*``/``filter.*`` that the packed cards do not give.

    Raises:
        InputError: a table differs from the one regenerated from ``cards``.
    """
    matrix_file = audit_out / "matrix.csv"
    if not matrix_file.is_file():
        return
    cells = _cells(matrix_file, cards)
    m, f = build_matrix(cells), progressive_filter(cells)
    tables = {"matrix.csv": matrix_csv(m), "matrix.md": matrix_markdown(m),
              "matrix.tex": matrix_latex(m), "filter.csv": filter_csv(f),
              "filter.md": filter_markdown(f), "filter.tex": filter_latex(f)}
    for name, text in tables.items():
        path = audit_out / name
        if path.is_file() and path.read_text(encoding="utf-8") != text:
            raise InputError(f"{name} differs from the one regenerated from the cards (an edited "
                             "or stale copy)", path=path)
