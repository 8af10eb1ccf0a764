"""Sample views + a field mapping → validated evaluation records (SPEC §9).

Shared by every importer. It resolves each sample's fields, and refuses a log
that lacks what a gate needs, naming the sample (its id in the message, its
1-based position in the file as ``line``):

* required fields with no value (no question id, no framing, …): every such
  field of the sample in one message, with the keys the sample does have;
* a framing that is not ``eval``/``deploy``, a split not ``heldout``/``fresh``;
* ``correct`` that is not C/I/P/N, a bool, or a number in [0, 1];
* samples of more than one model (or cell, or task) in one import;
* the same (question, template, framing) twice — unless the copies are epochs
  of one sample, whose ``correct`` (and ``valid``) are then averaged;
* a question with only one framing, or in two splits.

It also runs the scorer checks (:mod:`acceptance_cards.diagnostics.scorer_check`) on the
records and returns them as :attr:`ImportResult.warnings`; :func:`preview`
shows what one sample would become, field by field (``--show``).

Example:
    >>> from acceptance_cards.importers.mapping import FieldMapping, exprs
    >>> m = FieldMapping({k: exprs(k) for k in ("cell", "task", "split", "question_id",
    ...     "subject", "template_id", "framing", "correct")})
    >>> row = dict(cell="c", task="sandbagging", split="fresh", question_id="q", subject="s")
    >>> views = [SampleView(row | dict(template_id=f, framing=f, correct=c), label=f, index=i,
    ...          path="log") for i, (f, c) in enumerate([("eval", "I"), ("deploy", "C")], 1)]
    >>> [r["correct"] for r in assemble(views, m).records]
    [0, 1]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from .._util.errors import InputError
from ..diagnostics.scorer_check import scorer_notes
from ..records import FRAMINGS, OPTIONAL_FIELDS, REQUIRED_FIELDS, SPLITS, records_from_rows
from .mapping import MISSING, FieldMapping

#: Score strings, as inspect_ai writes them (CORRECT, INCORRECT, PARTIAL, NOANSWER).
SCORE_STRINGS: Final[Mapping[str, float]] = {
    "c": 1.0, "i": 0.0, "p": 0.5, "n": 0.0, "correct": 1.0, "incorrect": 0.0,
    "true": 1.0, "false": 0.0, "yes": 1.0, "no": 0.0,
}

#: How to fix a field that resolved to nothing (shown in the error).
FIX_HINTS: Final[Mapping[str, str]] = {
    "cell": "name the cell with --cell NAME",
    "task": "name the task with --task NAME (any name, e.g. sandbagging), or --map task=EXPR",
    "split": "name the split with --split heldout|fresh, or --map split=EXPR",
}

#: At most this many of a sample's keys are listed when fields are unresolved,
#: with values up to this many characters (longer ones show as ``…``).
MAX_KEYS_SHOWN: Final = 40
MAX_VALUE_SHOWN: Final = 48

ProgressFn = Callable[[int], None]


@dataclass(frozen=True)
class SampleView:
    """One sample of a foreign log as a plain mapping, and where it sits."""

    view: Mapping[str, Any]
    label: str
    index: int
    path: str
    epoch: int | None = None


@dataclass(frozen=True)
class ImportResult:
    """Records made from one or more logs, with a summary."""

    records: tuple[dict[str, Any], ...]
    n_samples: int
    cell: str
    task: str
    model: str | None
    notes: tuple[str, ...] = ()
    #: the scorer checks (:func:`acceptance_cards.diagnostics.scorer_check.scorer_notes`)
    warnings: tuple[str, ...] = ()


def distinct_files(paths: Iterable[Path]) -> list[Path]:
    """``paths``, refusing one file named twice (its samples would all be duplicates)."""
    seen: dict[Path, Path] = {}
    out = []
    for p in paths:
        key = p.resolve()
        if key in seen:
            raise InputError(f"this file is given twice (also as {seen[key]}); list each log "
                             "once", path=p)
        seen[key] = p
        out.append(p)
    return out


def to_rate(value: Any) -> float | None:
    """C/I/P/N, bool, ``"true"``/``"false"``, or a number in [0, 1]; ``None`` if not one."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        key = value.strip().lower()
        if key in SCORE_STRINGS:
            return SCORE_STRINGS[key]
        try:
            value = float(key)
        except ValueError:
            return None
    if isinstance(value, int | float) and not math.isnan(float(value)) and 0 <= value <= 1:
        return float(value)
    return None


def _err(s: SampleView, msg: str, field: str) -> InputError:
    return InputError(f"sample {s.label!r}: {msg}", path=s.path, line=s.index, field=field)


def _text(s: SampleView, value: Any, name: str) -> str:
    if isinstance(value, Mapping | list | tuple | bool):
        raise _err(s, f"{name} must be a single value, got {type(value).__name__} {value!r}",
                   name)
    return str(value).strip()


def view_keys(view: Mapping[str, Any], *, limit: int = MAX_KEYS_SHOWN) -> list[str]:
    """The dotted paths a mapping expression can read in ``view`` (scalars with their value).

    Example:
        >>> view_keys({"id": "q1", "eval": {"task_args": {"framing": "eval"}}, "input": "x" * 99})
        ["id='q1'", "eval.task_args.framing='eval'", 'input=…']
    """
    out: list[str] = []

    def walk(prefix: str, v: Any, depth: int) -> None:
        if isinstance(v, Mapping) and v and depth < 3:
            for k, sub in v.items():
                walk(f"{prefix}.{k}" if prefix else str(k), sub, depth + 1)
        elif isinstance(v, Mapping | list | tuple):
            out.append(f"{prefix}{'{…}' if isinstance(v, Mapping) else '[…]'}" if v else prefix)
        elif v is None or v == "":
            return  # no value: an expression on it gives nothing
        else:
            text = repr(v)
            out.append(f"{prefix}={text if len(text) <= MAX_VALUE_SHOWN else '…'}")

    walk("", view, 0)
    return out[:limit] + ([f"… {len(out) - limit} more"] if len(out) > limit else [])


def _missing_error(s: SampleView, mapping: FieldMapping, missing: list[str]) -> InputError:
    parts = [f"no {name.replace('_', ' ')} (none of {mapping.describe(name)} gives a value; "
             f"{FIX_HINTS.get(name, f'map it with --map {name}=EXPR')})" for name in missing]
    return _err(s, "; ".join(parts) + ". This sample has: " + ", ".join(view_keys(s.view)),
                missing[0])


def _resolve(s: SampleView, mapping: FieldMapping) -> dict[str, Any]:
    got = mapping.resolve(s.view)
    missing = [name for name in REQUIRED_FIELDS if got.get(name, MISSING) is MISSING]
    if missing:  # every unresolved field in one message, not one per attempt
        raise _missing_error(s, mapping, missing)
    rec: dict[str, Any] = {}
    for name in REQUIRED_FIELDS:
        value = got[name]
        if name == "correct":
            rate = to_rate(value)
            if rate is None:
                raise _err(s, f"correct must be C/I/P/N, a bool or a number in [0, 1], got "
                           f"{value!r} (from {mapping.describe(name)})", name)
            rec[name] = int(rate) if rate in (0.0, 1.0) else rate
        else:
            rec[name] = _text(s, value, name)
    rec["framing"] = rec["framing"].lower()
    if rec["framing"] not in FRAMINGS:
        raise _err(s, f"framing must be eval or deploy, got {rec['framing']!r}; translate it, "
                   "e.g. --map 'framing=metadata.framing | map{test=eval, chat=deploy}'",
                   "framing")
    if rec["split"] not in SPLITS:
        raise _err(s, f"split must be heldout or fresh, got {rec['split']!r}", "split")
    for name, value in got.items():
        if name in REQUIRED_FIELDS or value is MISSING:
            continue
        if name == "valid":
            rate = to_rate(value)
            if rate is None:
                raise _err(s, f"valid must be a bool or a number in [0, 1], got {value!r}",
                           name)
            rec[name] = rate
        elif name in OPTIONAL_FIELDS:
            rec[name] = value if name == "seed" else _text(s, value, name)
        else:
            rec[name] = value
    return rec


def _single(records: list[tuple[SampleView, dict[str, Any]]], name: str) -> str | None:
    first: tuple[SampleView, str] | None = None
    for s, r in records:
        if name not in r:
            continue
        if first is None:
            first = (s, r[name])
        elif r[name] != first[1]:
            raise _err(
                s, f"{name} is {r[name]!r}, but sample {first[0].label!r} ({first[0].path}, "
                f"sample {first[0].index}) has {first[1]!r}: one record file holds one "
                f"{'model (one cell)' if name == 'model' else name}; import each separately",
                name)
    return None if first is None else first[1]


def _duplicate_error(s: SampleView, first: tuple[SampleView, dict[str, Any]],
                     mapping: FieldMapping) -> InputError:
    f, r = first
    same = (f"the same question {r['question_id']!r}, template {r['template_id']!r} and framing "
            f"{r['framing']!r}")
    if s.path != f.path:
        return _err(s, f"{same} as sample {f.label!r} of {f.path} (sample {f.index}): the two "
                    "logs hold the same evaluations. Either one log is given twice, or they are "
                    "runs of different templates whose template id comes out the same (it is "
                    f"read from {mapping.describe('template_id')}): give each run its own "
                    "template (e.g. a `template` task argument), or map template_id",
                    "template_id")
    return _err(s, f"{same} as sample {f.label!r} (sample {f.index} of this log): question id "
                f"from {mapping.describe('question_id')} and template id from "
                f"{mapping.describe('template_id')} do not tell these samples apart; map them "
                "so that each sample has its own (question, template, framing)", "question_id")


def _merge_epochs(records: list[tuple[SampleView, dict[str, Any]]], mapping: FieldMapping
                  ) -> tuple[list[tuple[SampleView, dict[str, Any]]], int]:
    """Average epochs of one sample; any other duplicate is an error."""
    by_key: dict[tuple[str, str, str], list[tuple[SampleView, dict[str, Any]]]] = {}
    for s, r in records:
        by_key.setdefault((r["question_id"], r["template_id"], r["framing"]), []).append((s, r))
    out: list[tuple[SampleView, dict[str, Any]]] = []
    merged = 0
    for group in by_key.values():
        first_s, first_r = group[0]
        for s, _ in group[1:]:
            if s.epoch is None or first_s.epoch is None or s.epoch == first_s.epoch \
                    or s.label != first_s.label or s.path != first_s.path:
                raise _duplicate_error(s, group[0], mapping)
        if len(group) > 1:
            merged += 1
            rec = dict(first_r)
            for name in ("correct", "valid"):
                vals = [r[name] for _, r in group if name in r]
                if len(vals) == len(group):
                    rec[name] = sum(vals) / len(vals)
            rec.pop("answer", None)  # answers differ by epoch; the mean is what is kept
            rec["epochs"] = len(group)
            out.append((first_s, rec))
        else:
            out.append(group[0])
    return out, merged


def _check_questions(records: list[tuple[SampleView, dict[str, Any]]],
                     mapping: FieldMapping) -> None:
    framings: dict[str, set[str]] = {}
    first: dict[str, tuple[SampleView, dict[str, Any]]] = {}
    for s, r in records:
        q = r["question_id"]
        if q in first and first[q][1]["split"] != r["split"]:
            f = first[q][0]
            raise _err(s, f"question {q!r} is in split {r['split']!r} here but in "
                       f"{first[q][1]['split']!r} in sample {f.label!r}", "split")
        first.setdefault(q, (s, r))
        framings.setdefault(q, set()).add(r["framing"])
    all_framings = set().union(*framings.values()) if framings else set()
    for q, fs in framings.items():
        if len(fs) < 2:
            s, r = first[q]
            only = r["framing"]
            if len(all_framings) < 2:
                other = "deploy" if only == "eval" else "eval"
                raise _err(s, f"every sample is {only}-framed: add the {other}-framed logs of "
                           f"this cell to the same import (list all of a cell's logs in one "
                           f"command); the gates compare each question's eval- and deploy-framed "
                           f"answers", "framing")
            raise _err(s, f"question {q!r} has only {only}-framed samples; every question needs "
                       "both framings (the gates compare them per question). Question ids are "
                       f"read from {mapping.describe('question_id')}: if that is not the same "
                       "for both framings of a question, map question_id", "framing")


def assemble(samples: Iterable[SampleView], mapping: FieldMapping, *,
             progress: ProgressFn | None = None,
             sources: Sequence[str | Path] = ()) -> ImportResult:
    """Resolve, check and convert sample views into records (log order kept).

    ``sources``: the files the samples came from (named when they hold none).
    """
    resolved: list[tuple[SampleView, dict[str, Any]]] = []
    for n, s in enumerate(samples, 1):
        resolved.append((s, _resolve(s, mapping)))
        if progress is not None:
            progress(n)
    if not resolved:
        raise InputError("the file holds no samples" if len(sources) < 2 else
                         f"none of these {len(sources)} files holds any samples",
                         path=", ".join(str(p) for p in sources) or None)
    model = _single(resolved, "model")
    cell = _single(resolved, "cell")
    task = _single(resolved, "task")
    assert cell is not None and task is not None
    kept, merged = _merge_epochs(resolved, mapping)
    _check_questions(kept, mapping)
    rows = [_ordered(r) for _, r in kept]
    # the SPEC §9 contract, as a last guard
    rs = records_from_rows(rows, name="<imported records>")
    notes = (f"{merged} samples had several epochs; their correct values were averaged",
             ) if merged else ()
    return ImportResult(records=tuple(rows), n_samples=len(resolved), cell=cell, task=task,
                        model=model, notes=notes, warnings=tuple(scorer_notes(rs)))


def _ordered(rec: dict[str, Any]) -> dict[str, Any]:
    out = {k: rec[k] for k in REQUIRED_FIELDS}
    out.update((k, rec[k]) for k in OPTIONAL_FIELDS if k in rec)
    out.update((k, v) for k, v in rec.items() if k not in out)
    return out


def records_jsonl(result: ImportResult) -> str:
    """The records as JSONL text (one object per line), standard JSON throughout.

    A non-finite number in a carried-over field (a log's NaN score metadata) is
    written as ``null``: Python's ``NaN`` token is not JSON, and other readers of
    the file would refuse it.

    Example:
        >>> r = ImportResult(records=({"question_id": "q", "extra": float("nan")},), n_samples=1,
        ...                  cell="c", task="t", model=None)
        >>> records_jsonl(r)
        '{"question_id": "q", "extra": null}\\n'
    """
    from .._util.files import dumps_json

    return "".join(dumps_json(r, ensure_ascii=False) + "\n" for r in result.records)


@dataclass(frozen=True)
class FieldSource:
    """One field of a previewed record: its value (``MISSING`` if none) and where it came from."""

    field: str
    value: Any
    source: str


def preview(sample: SampleView, mapping: FieldMapping) -> list[FieldSource]:
    """What one sample would become, field by field, and which expression gave each value.

    Nothing is checked beyond resolving (``acard import … --show`` is a dry run);
    a field with no value names the expressions tried.

    Example:
        >>> from acceptance_cards.importers.mapping import exprs
        >>> m = FieldMapping({"question_id": exprs("metadata.question_id", "id")})
        >>> [(f.field, f.value, f.source) for f in preview(SampleView({"id": 7}, "7", 1, "x"), m)]
        [('question_id', 7, 'id')]
    """
    got = mapping.resolve_sources(sample.view)
    order = [*REQUIRED_FIELDS, *OPTIONAL_FIELDS, *sorted(got)]
    out: list[FieldSource] = []
    for name in dict.fromkeys(n for n in order if n in got):
        value, expr = got[name]
        src = expr.text if expr is not None else f"none of {mapping.describe(name)}"
        out.append(FieldSource(name, value, src))
    return out
