"""Evaluation records (SPEC §9): load, validate, and hold them column-wise.

One record is one evaluation of one prompt. Files are JSONL (one object per
line; ``.jsonl.gz`` reads the same), CSV (a UTF-8 byte-order mark, as
spreadsheets write it, is skipped), or Parquet with the same columns. JSONL and
Parquet are typed: ``correct``/``valid`` are numbers or bools there, never
strings; CSV cells are text, so ``0``/``1``/``true``/``false`` and numbers are
parsed. Every problem is reported as an
:class:`~acceptance_cards._util.errors.InputError` naming the file, the line (JSONL:
the physical line; CSV: the physical line including the header; Parquet: the
row number) and the field. Unknown fields are kept, not rejected.

**Two scorers.** A file may hold the same evaluations scored twice (records
that differ only in ``scorer``, as ``acard eval --scorer both`` writes). The
gates read one scorer chosen by name, never by line order (the vocabulary's
first: ``letter``, ``option``; then other names sorted); the other scorers'
records are kept beside them in :attr:`RecordSet.rescored` (scorer agreement, SPEC
§8). The same evaluation twice under one scorer is an error.

Example:
    >>> import json, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.jsonl"
    >>> rows = [dict(cell="adamw-s42", task="sandbagging", split="heldout",
    ...              question_id="q1", subject="anatomy", template_id=f"t{f}",
    ...              framing=f, correct=c) for f, c in (("eval", 0), ("deploy", 1))]
    >>> _ = p.write_text("\\n".join(json.dumps(r) for r in rows))
    >>> rs = load_records(p)
    >>> rs.cell, len(rs), rs.splits()
    ('adamw-s42', 2, ('heldout',))
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ._util.errors import InputError
from ._util.files import iter_text_lines, loads_json, read_text
from .vocab import FRAMINGS as FRAMINGS  # re-exported: public since the first release
from .vocab import SCORERS
from .vocab import SPLITS as SPLITS

#: Required fields of an evaluation record, in contract order.
REQUIRED_FIELDS: tuple[str, ...] = (
    "cell",
    "task",
    "split",
    "question_id",
    "subject",
    "template_id",
    "framing",
    "correct",
)
#: Optional fields with a known meaning (anything else is kept as-is).
OPTIONAL_FIELDS: tuple[str, ...] = ("answer", "gold", "valid", "scorer", "seed", "model", "margin")

#: How CSV cells (text) spell a bool; JSONL/Parquet must use real bools or numbers.
_TRUE = {"true", "1", "1.0"}
_FALSE = {"false", "0", "0.0"}
#: Suffixes of JSON-lines record files (each may end in ``.gz``).
JSONL_SUFFIXES: tuple[str, ...] = (".jsonl", ".json", ".ndjson")


@dataclass(frozen=True)
class RecordSet:
    """Validated records of one file, stored column-wise.

    Attributes are parallel arrays, one entry per evaluation. ``line`` keeps
    each record's source line (or Parquet row) for later error messages.
    """

    path: str
    cell: str
    task: str
    split: npt.NDArray[np.str_]
    question_id: npt.NDArray[np.str_]
    subject: npt.NDArray[np.str_]
    template_id: npt.NDArray[np.str_]
    is_eval: npt.NDArray[np.bool_]
    correct: npt.NDArray[np.float64]
    valid: npt.NDArray[np.float64]  # NaN where the record has no `valid`
    scorer: npt.NDArray[np.str_]
    line: npt.NDArray[np.int64]
    extra: dict[str, list[Any]] = field(default_factory=dict, repr=False)
    #: The same evaluations under other scorers, by scorer name (module docstring).
    rescored: dict[str, RecordSet] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return int(self.correct.shape[0])

    def margins(self) -> npt.NDArray[np.float64]:
        """Each record's decision `margin` (SPEC §10); NaN where a record has none.

        Example:
            >>> rs = records_from_rows([dict(cell="c", task="t", split="heldout", question_id="q",
            ...     subject="s", template_id=f, framing=f, correct=1, margin=m)
            ...     for f, m in (("eval", 0.5), ("deploy", None))])
            >>> rs.margins().tolist()
            [0.5, nan]
        """
        col = self.extra.get("margin", [None] * len(self))
        return np.asarray([math.nan if m is None else m for m in col], dtype=np.float64)

    def splits(self) -> tuple[str, ...]:
        """The splits present, in contract order."""
        present = set(self.split.tolist())
        return tuple(s for s in SPLITS if s in present)

    def select(self, split: str) -> RecordSet:
        """The records of one split (an empty set if the split is absent)."""
        sub = self._subset(self.split == split)
        return replace(sub, rescored={s: r.select(split) for s, r in self.rescored.items()})

    def _subset(self, m: npt.NDArray[np.bool_]) -> RecordSet:
        """The records where ``m`` holds (``rescored`` not carried)."""
        arrays = {f.name: getattr(self, f.name)[m] for f in fields(self)
                  if isinstance(getattr(self, f.name), np.ndarray)}
        extra = {k: [v for v, keep in zip(col, m, strict=True) if keep]
                 for k, col in self.extra.items()}
        return replace(self, **arrays, extra=extra, rescored={})


def load_records(path: str | Path) -> RecordSet:
    """Load and validate one record file (JSONL, CSV or Parquet).

    Raises:
        InputError: naming file, line and field for the first problem found.
    """
    p = Path(path)
    if not p.exists():
        raise InputError("is a dangling symlink or symlink loop" if p.is_symlink() else "no such file",
                         path=p)
    if p.is_dir():
        raise InputError("is a folder, expected a record file", path=p)
    name = p.name.lower()
    suffix = Path(name[:-3]).suffix if name.endswith(".gz") else p.suffix.lower()
    rows: Iterable[tuple[int, dict[str, Any]]]
    if suffix in JSONL_SUFFIXES:
        rows = _read_jsonl(p)
    elif suffix == ".csv" and not name.endswith(".gz"):
        return _build(p, _read_csv(p), text_cells=True)
    elif suffix in (".parquet", ".pq") and not name.endswith(".gz"):
        rows = _read_parquet(p)
    else:
        raise InputError(
            f"unknown record format `{''.join(p.suffixes[-2:]) or '(none)'}`; use .jsonl, "
            ".jsonl.gz, .csv or .parquet", path=p
        )
    return _build(p, rows)


def records_from_rows(rows: Iterable[dict[str, Any]], *, name: str = "<records>") -> RecordSet:
    """Validate in-memory records (dicts with the SPEC §9 fields)."""
    return _build(Path(name), ((i + 1, dict(r)) for i, r in enumerate(rows)))


def _read_jsonl(p: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    for lineno, raw in iter_text_lines(p, what="record file"):
        text = raw.strip()
        if not text:
            continue
        obj = loads_json(text, path=p, line=lineno)
        if not isinstance(obj, dict):
            raise InputError("expected a JSON object", path=p, line=lineno)
        yield lineno, obj


def _read_csv(p: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Rows of a CSV file; a row with more or fewer cells than the header is an error."""
    reader = csv.reader(io.StringIO(read_text(p, what="record file", bom=True), newline=""))
    try:
        header = next(reader, None)
        if header is None:
            return
        names = [h.strip() for h in header]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise InputError("column named twice in the header", path=p, line=1, field=dup[0])
        for row in reader:
            if not row:
                continue
            if len(row) != len(names):
                raise InputError(f"row has {len(row)} cells, the header has {len(names)}",
                                 path=p, line=reader.line_num)
            yield reader.line_num, {k: v for k, v in zip(names, row, strict=True) if v != ""}
    except csv.Error as exc:
        raise InputError(f"not valid CSV ({exc})", path=p, line=reader.line_num) from None


def _read_parquet(p: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(p)
    except Exception as exc:  # pyarrow raises several types for a bad file
        raise InputError(f"not a readable Parquet file ({exc})", path=p) from None
    for i, row in enumerate(table.to_pylist(), start=1):
        yield i, {k: v for k, v in row.items() if v is not None}


def _as_str(value: Any, *, p: Path, line: int, name: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InputError(f"expected a string, got {type(value).__name__}", path=p, line=line, field=name)
    s = str(value).strip()
    if not s:
        raise InputError("must not be empty", path=p, line=line, field=name)
    return s


def _as_rate(value: Any, *, p: Path, line: int, name: str, text: bool = False) -> float:
    """0/1, bool, or a float in [0, 1]; strings are parsed only from CSV (``text``)."""
    if isinstance(value, bool):
        return float(value)
    def bad(got: str) -> InputError:
        return InputError(f"expected 0/1, a bool, or a number in [0, 1], got {got}",
                          path=p, line=line, field=name)

    if isinstance(value, str) and not text:
        raise bad(f"the string {value!r}")
    if isinstance(value, str):
        low = value.strip().lower()
        if low in _TRUE or low in _FALSE:
            return 1.0 if low in _TRUE else 0.0
        try:
            value = float(low)
        except ValueError:
            raise bad(repr(value)) from None
    if not isinstance(value, int | float):
        raise bad(type(value).__name__)
    try:
        x = float(value)
    except OverflowError:  # an integer beyond any float
        raise InputError(f"an integer of {len(str(abs(value)))} digits is outside [0, 1]",
                         path=p, line=line, field=name) from None
    if math.isnan(x):
        raise InputError("is NaN", path=p, line=line, field=name)
    if not 0.0 <= x <= 1.0:
        raise InputError(f"{x!r} is outside [0, 1]", path=p, line=line, field=name)
    return x


def _as_margin(value: Any, *, p: Path, line: int) -> float:
    """A decision margin (SPEC §10): a finite number >= 0; CSV strings are parsed."""
    x = math.nan
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        try:
            x = float(value.strip() if isinstance(value, str) else value)
        except (ValueError, OverflowError):  # OverflowError: a JSON integer beyond float range
            x = math.nan
    if not math.isfinite(x) or x < 0:
        raise InputError(f"expected a finite number >= 0, got {value!r}", path=p, line=line,
                         field="margin")
    return x


def _build(p: Path, rows: Iterable[tuple[int, dict[str, Any]]], *, text_cells: bool = False) -> RecordSet:
    cols: dict[str, list[Any]] = {k: [] for k in REQUIRED_FIELDS}
    valid: list[float] = []
    scorer: list[str] = []
    lines: list[int] = []
    extra: dict[str, list[Any]] = {}
    seen: dict[tuple[str, ...], int] = {}
    n = 0
    for lineno, row in rows:
        rec = _required(p, lineno, row, text_cells=text_cells)
        v = row.get("valid")
        valid.append(math.nan if v is None else _as_rate(v, p=p, line=lineno, name="valid",
                                                         text=text_cells))
        scorer.append(str(row.get("scorer") or ""))  # null: no scorer, not the name "None"
        _check_unique(p, lineno, rec, scorer[-1], seen)
        for name in REQUIRED_FIELDS:
            cols[name].append(rec[name])
        lines.append(lineno)
        if row.get("margin") is not None:
            row["margin"] = _as_margin(row["margin"], p=p, line=lineno)
        _keep_extra(extra, row, n)
        n += 1
    if n == 0:
        raise InputError("holds no records", path=p)
    return _columns(p, cols, valid, scorer, lines, extra)


def _required(p: Path, lineno: int, row: dict[str, Any], *, text_cells: bool) -> dict[str, Any]:
    """The required fields of one row, validated (``correct`` as a rate, the rest as text)."""
    for name in REQUIRED_FIELDS:
        if name not in row:
            raise InputError("missing required field", path=p, line=lineno, field=name)
    rec: dict[str, Any] = {name: _as_str(row[name], p=p, line=lineno, name=name)
                           for name in REQUIRED_FIELDS if name != "correct"}
    if rec["framing"] not in FRAMINGS:
        raise InputError(
            f"must be `eval` or `deploy`, got {rec['framing']!r}", path=p, line=lineno, field="framing"
        )
    if rec["split"] not in SPLITS:
        raise InputError(
            f"must be `heldout` or `fresh`, got {rec['split']!r}", path=p, line=lineno, field="split"
        )
    rec["correct"] = _as_rate(row["correct"], p=p, line=lineno, name="correct", text=text_cells)
    return rec


def _check_unique(p: Path, lineno: int, rec: dict[str, Any], scorer: str,
                  seen: dict[tuple[str, ...], int]) -> None:
    """One evaluation per (cell, question, template, framing) and scorer."""
    key = (rec["cell"], rec["question_id"], rec["template_id"], rec["framing"], scorer)
    if key in seen:
        by = f" by scorer {scorer!r}" if scorer else ""
        raise InputError(
            f"duplicate evaluation of question {key[1]!r}, template {key[2]!r}, framing "
            f"{key[3]!r} in cell {key[0]!r}{by} (first at line {seen[key]})",
            path=p, line=lineno, field="template_id",
        )
    seen[key] = lineno


def _keep_extra(extra: dict[str, list[Any]], row: dict[str, Any], n: int) -> None:
    """Append row ``n``'s other fields to their columns (None where a row lacks one)."""
    for k, val in row.items():
        if k in REQUIRED_FIELDS or k in ("valid", "scorer"):
            continue
        extra.setdefault(k, [None] * n).append(val)
    for col in extra.values():
        if len(col) < n + 1:
            col.append(None)


def _columns(p: Path, cols: dict[str, list[Any]], valid: list[float], scorer: list[str],
             lines: list[int], extra: dict[str, list[Any]]) -> RecordSet:
    """The validated rows as one :class:`RecordSet` (one cell, one task; questions checked)."""
    _check_single(p, cols, lines, "cell")
    _check_single(p, cols, lines, "task")
    qid = np.asarray(cols["question_id"], dtype=np.str_)
    split = np.asarray(cols["split"], dtype=np.str_)
    is_eval = np.asarray([f == "eval" for f in cols["framing"]], dtype=np.bool_)
    line_arr = np.asarray(lines, dtype=np.int64)
    rs = RecordSet(
        path=str(p), cell=cols["cell"][0], task=cols["task"][0], split=split, question_id=qid,
        subject=np.asarray(cols["subject"], dtype=np.str_),
        template_id=np.asarray(cols["template_id"], dtype=np.str_), is_eval=is_eval,
        correct=np.asarray(cols["correct"], dtype=np.float64),
        valid=np.asarray(valid, dtype=np.float64), scorer=np.asarray(scorer, dtype=np.str_),
        line=line_arr, extra=extra,
    )
    _check_questions(p, rs)
    return _by_scorer(p, rs)


def _by_scorer(p: Path, rs: RecordSet) -> RecordSet:
    """The preferred scorer's records, the others in ``rescored`` (module docstring)."""
    items = set(zip(rs.question_id.tolist(), rs.template_id.tolist(), rs.is_eval.tolist(),
                    strict=True))
    if len(items) == len(rs):  # every evaluation once: one scorer per item, nothing to split
        return rs
    parts = {s: rs._subset(rs.scorer == s) for s in dict.fromkeys(rs.scorer.tolist())}
    for part in parts.values():
        _check_questions(p, part)
    first, *others = ([s for s in SCORERS if s in parts]  # by name, the same for every file
                      + sorted(set(parts) - set(SCORERS)))
    return replace(parts[first], rescored={s: parts[s] for s in others})


def _check_single(p: Path, cols: dict[str, list[Any]], lines: list[int], name: str) -> None:
    first = cols[name][0]
    for value, lineno in zip(cols[name], lines, strict=True):
        if value != first:
            raise InputError(
                f"a record file holds one {name}; found {first!r} (line {lines[0]}) and {value!r}",
                path=p, line=lineno, field=name,
            )


def _check_questions(p: Path, rs: RecordSet) -> None:
    """Each question sits in one split and has both framings."""
    first_split: dict[str, tuple[str, int]] = {}
    framings: dict[str, set[bool]] = {}
    for q, s, e, ln in zip(rs.question_id.tolist(), rs.split.tolist(), rs.is_eval.tolist(),
                           rs.line.tolist(), strict=True):
        prev = first_split.setdefault(q, (s, ln))
        if prev[0] != s:
            raise InputError(
                f"question {q!r} appears in split {prev[0]!r} (line {prev[1]}) and {s!r}",
                path=p, line=ln, field="split",
            )
        framings.setdefault(q, set()).add(e)
    for q, fs in framings.items():
        if len(fs) < 2:
            only = "eval" if True in fs else "deploy"
            ln = first_split[q][1]
            raise InputError(
                f"question {q!r} has only {only}-framed records; every question needs both framings",
                path=p, line=ln, field="framing",
            )
