"""Sample views + a field mapping → validated evaluation records (SPEC §9).

Shared by every importer. It resolves each sample's fields, and refuses a log
that lacks what a gate needs, naming the sample (its id in the message, its
1-based position in the file as ``line``):

* a required field with no value (no question id, no framing, …);
* a framing that is not ``eval``/``deploy``, a split not ``heldout``/``fresh``;
* ``correct`` that is not C/I/P/N, a bool, or a number in [0, 1];
* samples of more than one model (or cell, or task) in one import;
* the same (question, template, framing) twice — unless the copies are epochs
  of one sample, whose ``correct`` (and ``valid``) are then averaged;
* a question with only one framing, or in two splits.

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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from ..errors import InputError
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
    "task": "name the task with --task sandbagging|sycophancy (or --map task=EXPR)",
    "split": "name the split with --split heldout|fresh (or --map split=EXPR)",
}

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


def _resolve(s: SampleView, mapping: FieldMapping) -> dict[str, Any]:
    got = mapping.resolve(s.view)
    rec: dict[str, Any] = {}
    for name in REQUIRED_FIELDS:
        value = got.get(name, MISSING)
        if value is MISSING:
            hint = FIX_HINTS.get(name, f"map it with --map {name}=EXPR")
            raise _err(s, f"no {name.replace('_', ' ')}: none of {mapping.describe(name)} gives "
                       f"a value; {hint}", name)
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


def _merge_epochs(records: list[tuple[SampleView, dict[str, Any]]]
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
                    or s.label != first_s.label:
                raise _err(s, f"evaluates the same question {first_r['question_id']!r}, template "
                           f"{first_r['template_id']!r} and framing {first_r['framing']!r} as "
                           f"sample {first_s.label!r} ({first_s.path}, sample {first_s.index}); "
                           "are two runs (or two models) mixed in one file?", "question_id")
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


def _check_questions(records: list[tuple[SampleView, dict[str, Any]]]) -> None:
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
                raise _err(s, f"every sample is {only}-framed; the gates compare eval- with "
                           "deploy-framed evaluations of the same questions, so a log needs both",
                           "framing")
            raise _err(s, f"question {q!r} has only {only}-framed samples; every question needs "
                       "both framings (the gates compare them per question)", "framing")


def assemble(samples: Iterable[SampleView], mapping: FieldMapping, *,
             progress: ProgressFn | None = None) -> ImportResult:
    """Resolve, check and convert sample views into records (log order kept)."""
    resolved: list[tuple[SampleView, dict[str, Any]]] = []
    for n, s in enumerate(samples, 1):
        resolved.append((s, _resolve(s, mapping)))
        if progress is not None:
            progress(n)
    if not resolved:
        raise InputError("the log holds no samples")
    model = _single(resolved, "model")
    cell = _single(resolved, "cell")
    task = _single(resolved, "task")
    assert cell is not None and task is not None
    kept, merged = _merge_epochs(resolved)
    _check_questions(kept)
    rows = [_ordered(r) for _, r in kept]
    records_from_rows(rows, name="<imported records>")  # the SPEC §9 contract, as a last guard
    notes = (f"{merged} samples had several epochs; their correct values were averaged",
             ) if merged else ()
    return ImportResult(records=tuple(rows), n_samples=len(resolved), cell=cell, task=task,
                        model=model, notes=notes)


def _ordered(rec: dict[str, Any]) -> dict[str, Any]:
    out = {k: rec[k] for k in REQUIRED_FIELDS}
    out.update((k, rec[k]) for k in OPTIONAL_FIELDS if k in rec)
    out.update((k, v) for k, v in rec.items() if k not in out)
    return out


def records_jsonl(result: ImportResult) -> str:
    """The records as JSONL text (one object per line)."""
    import json

    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in result.records)
