"""The seeded, recorded split of MMLU into train pool / held-out / fresh.

* **fresh subjects** — a seeded choice of whole subjects, disjoint from
  everything used in training; ``fresh_ids`` are questions drawn from them
  (gates b and d).
* **train-pool subjects** — all other subjects; ``heldout_ids`` are questions
  drawn from them and never used in training (gate a). Every other question
  of a train-pool subject is the *train pool* (fine-tuning data and
  calibration items for gate c): :func:`train_pool`.

Questions are drawn round-robin over subjects (subjects in seeded order, one
question each per round) so no large subject (professional law: 1,534 items)
dominates. The split is a JSON file whose ``hash`` covers the source's sha256,
the seed, the parameters and every chosen id; every later step records it.

Example:
    >>> from acceptance_cards.evidence.data.mmlu import load_mmlu_source
    >>> s = make_split(load_mmlu_source(), seed=0)             # doctest: +SKIP
    >>> len(s.heldout_ids), len(s.fresh_ids), s.hash[:8]        # doctest: +SKIP
    (48, 150, '...')
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..._util.errors import InputError
from ..._util.writes import atomic_write_text
from ...constants import FRESH_SUBJECT_FRACTION, N_FRESH_QUESTIONS, N_HELDOUT_QUESTIONS
from .mmlu import MCItem, MMLUSource

SPLIT_VERSION = 1


@dataclass(frozen=True)
class Split:
    """A recorded split. ``hash`` is sha256 of the canonical JSON of all other fields."""

    version: int
    seed: int
    source_name: str
    source_sha256: str
    n_items: int
    train_subjects: tuple[str, ...]
    fresh_subjects: tuple[str, ...]
    heldout_ids: tuple[str, ...]
    fresh_ids: tuple[str, ...]
    hash: str

    def ids(self, which: str) -> tuple[str, ...]:
        """``heldout`` or ``fresh`` question ids."""
        if which == "heldout":
            return self.heldout_ids
        if which == "fresh":
            return self.fresh_ids
        raise InputError(f"unknown split {which!r}; use heldout or fresh", field="split")


def _body(split: Split | dict[str, object]) -> dict[str, object]:
    d = asdict(split) if isinstance(split, Split) else dict(split)
    d.pop("hash", None)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def _hash(body: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
                          ).hexdigest()


def _round_robin(by_subject: dict[str, list[str]], order: list[str], n: int,
                 rng: np.random.Generator) -> list[str]:
    queues = {s: list(rng.permutation(by_subject[s])) for s in order}
    out: list[str] = []
    while len(out) < n and any(queues.values()):
        for s in order:
            if queues[s] and len(out) < n:
                out.append(str(queues[s].pop()))
    if len(out) < n:
        raise InputError(f"only {len(out)} questions available, {n} requested", field="n")
    return out


def make_split(
    source: MMLUSource,
    *,
    seed: int,
    n_heldout: int = N_HELDOUT_QUESTIONS,
    n_fresh: int = N_FRESH_QUESTIONS,
    fresh_subject_fraction: float = FRESH_SUBJECT_FRACTION,
) -> Split:
    """Draw a split from ``source`` with an explicit ``np.random.Generator(seed)``."""
    if not 0 < fresh_subject_fraction < 1:
        raise InputError("must be strictly between 0 and 1", field="fresh_subject_fraction")
    by_subject: dict[str, list[str]] = {}
    for it in source.items:
        by_subject.setdefault(it.subject, []).append(it.question_id)
    subjects = sorted(by_subject)
    if len(subjects) < 2:
        raise InputError("need at least 2 subjects to split", field="subject")
    rng = np.random.Generator(np.random.PCG64(seed))
    order = [subjects[i] for i in rng.permutation(len(subjects))]
    n_fs = min(len(subjects) - 1, max(1, round(len(subjects) * fresh_subject_fraction)))
    fresh_subjects, train_subjects = order[:n_fs], order[n_fs:]
    heldout = _round_robin(by_subject, train_subjects, n_heldout, rng)
    fresh = _round_robin(by_subject, fresh_subjects, n_fresh, rng)
    body: dict[str, object] = {
        "version": SPLIT_VERSION, "seed": seed, "source_name": source.name,
        "source_sha256": source.sha256, "n_items": len(source.items),
        "train_subjects": sorted(train_subjects), "fresh_subjects": sorted(fresh_subjects),
        "heldout_ids": heldout, "fresh_ids": fresh,
    }
    return _from_dict(body | {"hash": _hash(body)}, source="<memory>")


def _from_dict(d: dict[str, object], *, source: str) -> Split:
    try:
        split = Split(
            version=int(d["version"]),  # type: ignore[call-overload]
            seed=int(d["seed"]),  # type: ignore[call-overload]
            source_name=str(d["source_name"]), source_sha256=str(d["source_sha256"]),
            n_items=int(d["n_items"]),  # type: ignore[call-overload]
            train_subjects=tuple(d["train_subjects"]),  # type: ignore[arg-type]
            fresh_subjects=tuple(d["fresh_subjects"]),  # type: ignore[arg-type]
            heldout_ids=tuple(d["heldout_ids"]),  # type: ignore[arg-type]
            fresh_ids=tuple(d["fresh_ids"]),  # type: ignore[arg-type]
            hash=str(d["hash"]),
        )
    except KeyError as exc:
        raise InputError("missing key", path=source, field=str(exc.args[0])) from None
    except (TypeError, ValueError) as exc:
        raise InputError(f"malformed split file ({exc})", path=source) from None
    if set(split.train_subjects) & set(split.fresh_subjects):
        raise InputError("train and fresh subjects overlap", path=source, field="fresh_subjects")
    if set(split.heldout_ids) & set(split.fresh_ids):
        raise InputError("held-out and fresh questions overlap", path=source, field="fresh_ids")
    return split


def save_split(split: Split, path: str | Path) -> None:
    """Write the split atomically as pretty JSON."""
    atomic_write_text(Path(path), json.dumps(_body(split) | {"hash": split.hash}, indent=1) + "\n")


def load_split(path: str | Path) -> Split:
    """Read a split file and check its hash (a hand-edited split is rejected)."""
    p = Path(path)
    if not p.is_file():
        raise InputError("no such split file (create one with `acard data split -o FILE`)",
                         path=p)
    try:
        d = json.loads(p.read_text())
    except ValueError as exc:
        raise InputError(f"not valid JSON ({exc})", path=p) from None
    if not isinstance(d, dict):
        raise InputError("expected a JSON object", path=p)
    split = _from_dict(d, source=str(p))
    if _hash(_body(d)) != split.hash:
        raise InputError("hash does not match the content (file was edited?)", path=p,
                         field="hash")
    return split


def check_source(split: Split, source: MMLUSource) -> None:
    """Raise unless ``source`` is the data the split was drawn from."""
    if source.sha256 != split.source_sha256:
        raise InputError(f"split was drawn from {split.source_name} "
                         f"(sha256 {split.source_sha256[:12]}…), not from {source.name} "
                         f"(sha256 {source.sha256[:12]}…)", field="source_sha256")


def select(items: Sequence[MCItem], ids: tuple[str, ...]) -> list[MCItem]:
    """The items with these ids, in the order of ``ids``."""
    by_id = {it.question_id: it for it in items}
    missing = [q for q in ids if q not in by_id]
    if missing:
        raise InputError(f"{len(missing)} split ids not in the data, e.g. {missing[:3]}",
                         field="question_id")
    return [by_id[q] for q in ids]


def train_pool(split: Split, items: Sequence[MCItem]) -> list[MCItem]:
    """Train-pool items: train-pool subjects minus the held-out questions."""
    held = set(split.heldout_ids)
    subjects = set(split.train_subjects)
    return [it for it in items if it.subject in subjects and it.question_id not in held]
