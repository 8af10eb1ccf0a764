"""Verify a card: recompute it from the artifacts it names and compare.

A card records the sha256 of every input — the record files, the mechanism
file and the metadata file — and every option that changes a number.
:func:`verify_card` re-hashes each input (a changed file is caught even when it
would recompute to the same card), re-reads the metadata file, rebuilds the
card with the recorded options, and lists every field whose recorded value
differs from the recomputed one (a tampered number or an edited title is
caught). Author-supplied fields are also hashed one by one into the provenance
(``metadata_sha256``), so an edit is named even on a card built without a
metadata file. A card that records no input files cannot be recomputed; that
is its own outcome (``status == "no-inputs"``), not a list of zero differences.

Example:
    >>> import tempfile, pathlib
    >>> from acceptance_cards.synthetic import simulate_rows
    >>> from acceptance_cards.card.build import build_card_from_files
    >>> import json
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> rb, rd = simulate_rows(seed=1, n_heldout=10, n_fresh=10)
    >>> for name, rows in (("b.jsonl", rb), ("d.jsonl", rd)):
    ...     _ = (d / name).write_text("\\n".join(json.dumps(r) for r in rows))
    >>> card = build_card_from_files(d / "b.jsonl", d / "d.jsonl", relative_to=d)
    >>> r = verify_card(card, card_dir=d)
    >>> r.ok, r.status
    (True, 'verified')
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .._util.errors import InputError
from .._util.files import sha256_file
from .build import build_card_from_files
from .metadata import CardMetadata
from .model import (
    LEGACY_SCHEMA_VERSIONS,
    METADATA_FIELDS,
    METADATA_OVERRIDABLE,
    OPTIONAL_METADATA_FIELDS,
    SCHEMA_VERSION,
    Card,
    metadata_digests,
)

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
    note: str | None = None  # why, when there is no recomputed value to show


#: Outcomes of :func:`verify_card`: ``verified``; ``differs`` (a changed input or
#: field); ``missing-inputs`` (a recorded file is gone); ``no-inputs`` (the card
#: records no baseline/defense record files, so nothing can be recomputed).
VerifyStatus = Literal["verified", "differs", "missing-inputs", "no-inputs"]


class VerifyReport(BaseModel):
    """Outcome of :func:`verify_card`."""

    model_config = ConfigDict(frozen=True)

    ok: bool
    status: VerifyStatus
    inputs: list[InputCheck]
    differences: list[FieldDiff]
    error: str | None = None
    caveats: list[str] = Field(
        default_factory=list, description="What a `verified` cannot vouch for (a legacy "
        "card's author fields without a digest).")


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


def _digest_diffs(card: Card, diffs: list[FieldDiff]) -> list[FieldDiff]:
    """Fold ``provenance.metadata_sha256.*`` differences into the metadata field they hash.

    A field already named by a direct difference keeps that one; otherwise the
    edit is reported under the field's own name. Cards from before the hashes
    existed (none recorded) are not held to them.
    """
    prefix = "provenance.metadata_sha256."
    out = [d for d in diffs if not d.field.startswith(prefix)]
    data = card.model_dump(mode="json")
    # only a legacy card may hold no digests; a newer one with none had them removed
    exempt = not card.provenance.metadata_sha256 and card.schema_version in LEGACY_SCHEMA_VERSIONS
    for d in diffs:
        if not d.field.startswith(prefix) or exempt:
            continue
        name = d.field[len(prefix):]
        if any(o.field == name or o.field.startswith((name + ".", name + "[")) for o in out):
            continue
        value: Any = data
        for part in name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        out.append(FieldDiff(field=name, recorded=value, recomputed=None,
                             note="edited after the card was built (its hash in "
                                  "provenance.metadata_sha256 no longer matches)"))
    return out


def _override_diffs(card: Card) -> list[FieldDiff]:
    """Overrides the CLI cannot write: a field claimed as one escapes its metadata file."""
    bad = [f for f in card.provenance.metadata_overrides if f not in METADATA_OVERRIDABLE]
    if not bad:
        return []
    return [FieldDiff(field="provenance.metadata_overrides", recorded=list(
        card.provenance.metadata_overrides), recomputed=None,
        note=f"only {', '.join(METADATA_OVERRIDABLE)} can override a metadata file; "
             f"{', '.join(bad)} cannot")]


def _as_legacy(card: Card, recomputed: Card) -> Card:
    """``recomputed`` under the rules of a legacy ``card``'s schema version (digests included)."""
    if card.schema_version not in LEGACY_SCHEMA_VERSIONS:
        return recomputed
    old = recomputed.model_copy(update={"schema_version": card.schema_version})
    return old.model_copy(update={"provenance": old.provenance.model_copy(
        update={"metadata_sha256": metadata_digests(old)})})


def legacy_caveats(card: Card) -> list[str]:
    """What verifying a legacy-schema ``card`` cannot check: its author fields without a digest.

    A legacy card (:data:`~acceptance_cards.card.model.LEGACY_SCHEMA_VERSIONS`) may
    leave ``evidence`` unhashed when absent, or hold no digests at all, so an edit
    there -- a stand-in disclosure removed, the version label set back to the
    legacy one -- recomputes to the same card. Such a card still verifies (it is
    what the tool of its day wrote), but the report says which fields went unchecked.

    Example:
        >>> from acceptance_cards.synthetic import example_card
        >>> legacy_caveats(example_card())
        []
        >>> card = example_card()
        >>> digests = {k: v for k, v in card.provenance.metadata_sha256.items() if k != "evidence"}
        >>> old = card.model_copy(update={"schema_version": "1.0", "provenance":
        ...     card.provenance.model_copy(update={"metadata_sha256": digests})})
        >>> legacy_caveats(old)[0][:44]
        'schema 1.0 card: evidence carries no digest,'
    """
    if card.schema_version not in LEGACY_SCHEMA_VERSIONS:
        return []
    unhashed = [f for f in METADATA_FIELDS + OPTIONAL_METADATA_FIELDS
                if f not in card.provenance.metadata_sha256]
    if not unhashed:
        return []
    return [f"schema {card.schema_version} card: {', '.join(unhashed)} carr"
            f"{'ies' if len(unhashed) == 1 else 'y'} no digest, so an edit there (a removed "
            f"stand-in disclosure included) would not show; a card rebuilt with this version "
            f"(schema {SCHEMA_VERSION}) hashes every author field"]


def _rebuild(card: Card, paths: dict[str, Path], base: Path) -> Card:
    """The card recomputed from its inputs and recorded options/metadata."""
    return build_card_from_files(
        paths["baseline"], paths["defense"],  # both present: checked by the caller
        cross_baseline=paths.get("cross_baseline"),
        cross_defense=paths.get("cross_defense"),
        mechanism=paths.get("mechanism"),
        options=card.options,
        metadata=_recorded_metadata(card),
        metadata_file=paths.get("metadata"),
        metadata_overrides=card.provenance.metadata_overrides,
        relative_to=base,
    )


def _recorded_metadata(card: Card) -> CardMetadata:
    """The author-supplied fields as the card holds them (used where no metadata file is)."""
    user_task = {k: v for k, v in (("train_pool", card.task.train_pool),
                                   ("split_hash", card.task.split_hash)) if v is not None}
    return CardMetadata(
        title=card.title,
        model=card.model.model_dump(),
        recipe=card.recipe.model_dump(),
        task=user_task,
        compute=card.compute.model_dump(),
        notes=tuple(card.remarks),
        evidence=card.evidence.model_dump() if card.evidence is not None else None,
    )


def verify_card(card: Card, *, card_dir: str | Path) -> VerifyReport:
    """Re-hash the card's inputs, recompute it, and report every difference.

    Relative input paths are resolved against ``card_dir`` (the folder of the
    card file). With a recorded metadata file the author-supplied fields are
    recomputed from it (except those recorded as command-line overrides).
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
    if not checks:
        return VerifyReport(ok=False, status="no-inputs", inputs=[], differences=[],
                            error="the card records no input files, so there is nothing to "
                                  "recompute it from")
    missing = [c.path for c in checks if c.actual_sha256 is None]
    if missing:
        return VerifyReport(ok=False, status="missing-inputs", inputs=checks, differences=[],
                            error="missing input file(s): " + ", ".join(missing))
    if "baseline" not in paths or "defense" not in paths:
        return VerifyReport(ok=False, status="no-inputs", inputs=checks, differences=[],
                            error="the card names no baseline/defense record files")
    try:
        recomputed = _rebuild(card, paths, base)
    except InputError as exc:  # a changed input may no longer parse: the card differs, say why
        changed = [f"{c.role} ({c.path})" for c in checks if not c.ok]
        why = (f"changed input(s) {', '.join(changed)}: " if changed else "") + str(exc)
        return VerifyReport(ok=False, status="differs", inputs=checks, differences=[],
                            error="cannot recompute: " + why)
    # Paths are compared through their hashes above; where they were recorded from may differ.
    recomputed = recomputed.model_copy(update={"provenance": recomputed.provenance.model_copy(
        update={"inputs": card.provenance.inputs})})
    diffs = _override_diffs(card) + _digest_diffs(card, diff_cards(card, _as_legacy(card, recomputed)))
    ok = not diffs and all(c.ok for c in checks)
    return VerifyReport(ok=ok, status="verified" if ok else "differs", inputs=checks,
                        differences=diffs, caveats=legacy_caveats(card))


__all__ = ["FLOAT_RTOL", "FieldDiff", "InputCheck", "VerifyReport", "VerifyStatus",
           "diff_cards", "legacy_caveats", "verify_card"]
