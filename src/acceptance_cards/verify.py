"""Verify a card: recompute it from the artifacts it names and compare.

A card records the sha256 of every input and every option that changes a
number. :func:`verify_card` re-hashes each input (a changed file is caught even
when it would recompute to the same card), rebuilds the card with the recorded
options and metadata, and lists every field whose recorded value differs from
the recomputed one (a tampered number is caught).

Example:
    >>> import tempfile, pathlib
    >>> from acceptance_cards.example import simulate_rows
    >>> from acceptance_cards.build import build_card_from_files
    >>> import json
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> rb, rd = simulate_rows(seed=1, n_heldout=10, n_fresh=10)
    >>> for name, rows in (("b.jsonl", rb), ("d.jsonl", rd)):
    ...     _ = (d / name).write_text("\\n".join(json.dumps(r) for r in rows))
    >>> card = build_card_from_files(d / "b.jsonl", d / "d.jsonl", relative_to=d)
    >>> verify_card(card, card_dir=d).ok
    True
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from .build import ROLES, CardMetadata, build_card_from_files
from .card import Card
from .io import sha256_file

#: Relative tolerance for recomputed floats (the computation is deterministic;
#: this only absorbs last-bit differences between numpy builds).
FLOAT_RTOL = 1e-9


class InputCheck(BaseModel):
    """One recorded input, re-hashed."""

    model_config = ConfigDict(frozen=True)

    role: str
    path: str
    recorded_sha256: str
    actual_sha256: str | None  # None: the file is missing
    ok: bool


class FieldDiff(BaseModel):
    """A card field whose recorded value differs from the recomputed one."""

    model_config = ConfigDict(frozen=True)

    field: str
    recorded: Any
    recomputed: Any


class VerifyReport(BaseModel):
    """Outcome of :func:`verify_card`."""

    model_config = ConfigDict(frozen=True)

    ok: bool
    inputs: list[InputCheck]
    differences: list[FieldDiff]
    error: str | None = None


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(obj, list) and any(isinstance(x, dict | list) for x in obj):
        out = {f"{prefix}.#": len(obj)}
        for i, v in enumerate(obj):
            out.update(_flatten(v, f"{prefix}[{i}]"))
        return out
    return {prefix: obj}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=FLOAT_RTOL, abs_tol=1e-15)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def diff_cards(recorded: Card, recomputed: Card) -> list[FieldDiff]:
    """Every leaf field whose value differs between two cards."""
    fa = _flatten(recorded.model_dump(mode="json"))
    fb = _flatten(recomputed.model_dump(mode="json"))
    diffs = []
    for key in sorted(set(fa) | set(fb)):
        va, vb = fa.get(key), fb.get(key)
        if not _same(va, vb):
            diffs.append(FieldDiff(field=key, recorded=va, recomputed=vb))
    return diffs


def verify_card(card: Card, *, card_dir: str | Path) -> VerifyReport:
    """Re-hash the card's inputs, recompute it, and report every difference.

    Relative input paths are resolved against ``card_dir`` (the folder of the
    card file).
    """
    base = Path(card_dir)
    checks: list[InputCheck] = []
    paths: dict[str, Path] = {}
    for inp in card.provenance.inputs:
        p = Path(inp.path)
        p = p if p.is_absolute() else base / p
        actual = sha256_file(p) if p.is_file() else None
        checks.append(InputCheck(role=inp.role, path=inp.path, recorded_sha256=inp.sha256,
                                 actual_sha256=actual, ok=actual == inp.sha256))
        paths[inp.role] = p
    missing = [c.path for c in checks if c.actual_sha256 is None]
    if missing or "baseline" not in paths or "defense" not in paths:
        why = ("missing input file(s): " + ", ".join(missing)) if missing else \
            "the card names no baseline/defense record files"
        return VerifyReport(ok=False, inputs=checks, differences=[], error=why)
    user_task = {k: v for k, v in (("train_pool", card.task.train_pool),
                                   ("split_hash", card.task.split_hash)) if v is not None}
    meta = CardMetadata(
        title=card.title,
        model=card.model.model_dump(),
        recipe=card.recipe.model_dump(),
        task=user_task,
        compute=card.compute.model_dump(),
        notes=tuple(card.remarks),
    )
    recomputed = build_card_from_files(
        *(paths.get(r) for r in ROLES[:2]),  # type: ignore[arg-type]
        cross_baseline=paths.get("cross_baseline"),
        cross_defense=paths.get("cross_defense"),
        mechanism=paths.get("mechanism"),
        options=card.options,
        metadata=meta,
        relative_to=base,
    )
    # Paths are compared through their hashes above; where they were recorded from may differ.
    recomputed = recomputed.model_copy(update={"provenance": recomputed.provenance.model_copy(
        update={"inputs": card.provenance.inputs})})
    diffs = diff_cards(card, recomputed)
    ok = not diffs and all(c.ok for c in checks)
    return VerifyReport(ok=ok, inputs=checks, differences=diffs)
