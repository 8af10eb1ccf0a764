"""Pack an audit's output folder into a small results folder that verifies with no model.

An audit folder holds gigabytes (adapters, checkpoints, the step store); its
cards record only a few of those files: each cell's record files and its
mechanism file (paths relative to ``cards/``, with sha256). :func:`pack_audit`
copies exactly those, compressed, into a results folder, and rebuilds every
card from the copies (the card's own recorded options and author fields), so
the committed card genuinely reads the committed files::

    RESULTS_DIR/
      MANIFEST.json                  every file: kind, size, sha256; tool version, config hash
      cards/<cell>.json|.md          rebuilt from the packed evidence
      evidence/records/<h>.jsonl.gz  record files (deterministic gzip), one per distinct content
      evidence/mechanism/<h>.json    mechanism files, byte copies
      matrix.*, filter.*, figures/, sensitivity/, timings.json   byte copies
      audit-config.toml              the audit config, when given

The matrix, filter, figures and sensitivity tables are *copied*, not
recomputed: they are functions of the cells' statistics and records only (no
input path enters them), and the pack proves each rebuilt card's statistics
equal the original's exactly, so recomputing them would give the same bytes.
Record files are named by the sha256 of their uncompressed content, so a
baseline shared by several cells is stored once. Re-packing gives identical
bytes (gzip with mtime 0 and a fixed level). Nothing is written unless every
card rebuilds identically; then all files are written as one atomic set.

Example:
    >>> deterministic_gzip(b"x") == deterministic_gzip(b"x")
    True
"""

from __future__ import annotations

import gzip
import hashlib
import json
import struct
import tempfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ..._util.errors import InputError
from ..._util.files import read_json_object
from ..._util.writes import atomic_write_many
from ..._version import __version__
from ...card.build import ROLES, build_card_from_files
from ...card.model import Card, card_to_json, load_card
from ...card.verify import _recorded_metadata

#: gzip level of packed record files: fixed, so re-packing gives identical bytes.
GZIP_LEVEL: Final = 9
#: Record-file roles of a card's inputs (packed as ``.jsonl.gz``).
RECORD_ROLES: Final = frozenset(ROLES[:4])
#: The manifest's file name (it lists every other file of the results folder).
MANIFEST: Final = "MANIFEST.json"
#: Where the audit config is copied to, when one is given.
CONFIG_NAME: Final = "audit-config.toml"
#: Audit outputs copied byte for byte: (name, required).
COPIED_FILES: Final = (("matrix.csv", True), ("matrix.md", True), ("matrix.tex", False),
                       ("filter.csv", True), ("filter.md", True), ("filter.tex", False),
                       ("timings.json", False))
#: Audit output folders copied byte for byte (every file directly inside).
COPIED_FOLDERS: Final = ("figures", "sensitivity")
#: Size budget of a committed results folder ("a few MB"; `acard results sizes` checks it).
RESULTS_BUDGET_BYTES: Final = 5_000_000
#: Characters of the content sha256 in a packed evidence file's name.
_NAME_HASH_CHARS: Final = 16


@dataclass(frozen=True)
class ConfigInfo:
    """The audit config a results folder came from: its text and canonical hash."""

    text: bytes
    canonical_sha256: str  # sha256 of the validated config's canonical JSON


@dataclass(frozen=True)
class PackedFile:
    """One file of a results folder."""

    path: str  # POSIX, relative to the results folder
    kind: str
    size: int
    sha256: str


@dataclass(frozen=True)
class PackResult:
    """What :func:`pack_audit` wrote; ``source_bytes``: the same evidence unpacked."""

    results_dir: Path
    files: tuple[PackedFile, ...]
    cards: tuple[str, ...]
    source_bytes: int

    @property
    def total_bytes(self) -> int:
        """Bytes of every file written, the manifest included."""
        return sum(f.size for f in self.files)


def deterministic_gzip(data: bytes) -> bytes:
    """gzip ``data`` with no time stamp or file name and a fixed level (same input → same bytes).

    The header is written here (mtime 0, no name, OS byte 255 "unknown") rather
    than by :func:`gzip.compress`, whose mtime-0 path takes zlib's header and so
    the OS byte of the platform; the deflate stream is the platform zlib's at
    :data:`GZIP_LEVEL` (identical wherever that zlib is; the cards hash the
    committed bytes either way, so verification never depends on it).

    Example:
        >>> gzip.decompress(deterministic_gzip(b"abc")), deterministic_gzip(b"")[:10].hex()
        (b'abc', '1f8b08000000000002ff')
    """
    c = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = c.compress(data) + c.flush()
    # magic, deflate, no flags | mtime 0 | extra flags 2 (best compression), OS 255 (unknown)
    header = b"\x1f\x8b\x08\x00" + b"\x00\x00\x00\x00" + b"\x02\xff"
    trailer = struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)
    return header + body + trailer


def file_kind(rel: str) -> str:
    """The kind of a results-folder file, from its path (for the manifest and size report).

    Example:
        >>> file_kind("evidence/records/ab.jsonl.gz"), file_kind("cards/x.md")
        ('records', 'card')
    """
    parts = rel.split("/")
    if parts[0] == "evidence" and len(parts) > 2:
        return parts[1]
    if parts[0] == "cards":
        return "card"
    if parts[0] in COPIED_FOLDERS:
        return "figure" if parts[0] == "figures" else "sensitivity"
    if rel.startswith(("matrix.", "filter.")):
        return "table"
    return {MANIFEST: "manifest", CONFIG_NAME: "config", "timings.json": "timings"}.get(rel, "other")


@dataclass
class _Staged:
    """Files to write (relative path → bytes) and the bytes they came from."""

    files: dict[str, bytes] = field(default_factory=dict)
    source_bytes: int = 0


def _check_audit_out(audit_out: Path) -> list[Path]:
    if not audit_out.is_dir():
        raise InputError("not a folder (give the output folder of `acard audit`)", path=audit_out)
    for name, required in COPIED_FILES:
        if required and not (audit_out / name).is_file():
            raise InputError(f"not an audit output folder: it has no {name}", path=audit_out)
    cards = sorted((audit_out / "cards").glob("*.json"))
    if not cards:
        raise InputError("not an audit output folder: no cards/*.json", path=audit_out)
    return cards


def _packed_input(role: str, data: bytes, src: Path) -> tuple[str, bytes]:
    """The packed name and bytes of one card input (records gzipped, others copied)."""
    if role in RECORD_ROLES and src.name.endswith((".jsonl", ".jsonl.gz")):
        try:
            raw = gzip.decompress(data) if src.name.endswith(".gz") else data
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(f"not a readable gzip file ({exc})", path=src) from None
        digest = hashlib.sha256(raw).hexdigest()[:_NAME_HASH_CHARS]
        return f"evidence/records/{digest}.jsonl.gz", deterministic_gzip(raw)
    folder = "mechanism" if role == "mechanism" else "records" if role in RECORD_ROLES else role
    digest = hashlib.sha256(data).hexdigest()[:_NAME_HASH_CHARS]
    return f"evidence/{folder}/{digest}{''.join(src.suffixes)}", data


def _raw_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read it ({exc.strerror})", path=path) from None


def _stage_inputs(card: Card, card_file: Path, staged: _Staged) -> dict[str, str]:
    """Stage the card's inputs; returns role → packed path. Missing/changed inputs are errors."""
    if not card.provenance.inputs:
        raise InputError("the card records no input files, so it cannot be packed verifiably",
                         path=card_file, field="provenance.inputs")
    out: dict[str, str] = {}
    for i, inp in enumerate(card.provenance.inputs):
        src = Path(inp.path)
        src = src if src.is_absolute() else card_file.parent / src
        where = f"provenance.inputs[{i}]"
        if not src.is_file():
            raise InputError(f"the {inp.role} input {inp.path} is missing", path=card_file,
                             field=f"{where}.path")
        data = _raw_bytes(src)  # as stored (read_bytes would gunzip): that is what is hashed
        if hashlib.sha256(data).hexdigest() != inp.sha256:
            raise InputError(f"the {inp.role} input {inp.path} changed since the card was built "
                             "(its sha256 differs)", path=card_file, field=f"{where}.sha256")
        rel, packed = _packed_input(inp.role, data, src)
        if rel not in staged.files:
            staged.source_bytes += len(data)
        staged.files[rel] = packed
        out[inp.role] = rel
    return out


def _leaf_diff(a: Any, b: Any, at: str = "") -> str | None:
    """The first field (dotted path) where two JSON-like values differ exactly, or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            d = _leaf_diff(a.get(k), b.get(k), f"{at}.{k}" if at else str(k))
            if d is not None:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return next((d for i, (x, y) in enumerate(zip(a, b, strict=True))
                     if (d := _leaf_diff(x, y, f"{at}[{i}]")) is not None), None)
    same = a == b or (isinstance(a, float) and isinstance(b, float) and a != a and b != b)
    return None if same else at


def _rebuild(card: Card, card_file: Path, roles: Mapping[str, str], stage: Path) -> Card:
    """The card rebuilt from the staged files; its statistics must equal ``card``'s exactly."""
    p = {r: stage / rel for r, rel in roles.items()}
    rebuilt = build_card_from_files(
        p["baseline"], p["defense"], cross_baseline=p.get("cross_baseline"),
        cross_defense=p.get("cross_defense"), mechanism=p.get("mechanism"),
        options=card.options, metadata=_recorded_metadata(card), metadata_file=p.get("metadata"),
        metadata_overrides=card.provenance.metadata_overrides, relative_to=stage / "cards")
    before, after = (c.model_dump(mode="json") for c in (card, rebuilt))
    before["provenance"].pop("inputs")  # the packed paths and hashes are new by design
    after["provenance"].pop("inputs")
    where = _leaf_diff(before, after)
    if where is not None:
        raise InputError(
            f"the card rebuilt from the packed evidence differs from the audit's card "
            f"(audit: {_at(before, where)!r}, rebuilt: {_at(after, where)!r})",
            path=card_file, field=where)
    return rebuilt


def _at(obj: Any, dotted: str) -> Any:
    for part in dotted.replace("[", ".[").split("."):
        if part.startswith("["):
            i = int(part[1:-1])
            obj = obj[i] if isinstance(obj, list) and i < len(obj) else None
        else:
            obj = obj.get(part) if isinstance(obj, dict) else None
    return obj


def _stage_cards(card_files: list[Path], staged: _Staged) -> list[str]:
    from ...render import render  # the renderers are only needed here

    cards = [(f, load_card(f)) for f in card_files]
    inputs = [_stage_inputs(c, f, staged) for f, c in cards]
    with tempfile.TemporaryDirectory(prefix="acard-pack-") as tmp:
        stage = Path(tmp)
        (stage / "cards").mkdir()
        for rel, data in staged.files.items():
            (stage / rel).parent.mkdir(parents=True, exist_ok=True)
            (stage / rel).write_bytes(data)
        for (f, card), roles in zip(cards, inputs, strict=True):
            rebuilt = _rebuild(card, f, roles, stage)
            staged.files[f"cards/{f.stem}.json"] = card_to_json(rebuilt).encode()
            staged.files[f"cards/{f.stem}.md"] = render(rebuilt, "md").encode()
    return [f.stem for f in card_files]


def _stage_copies(audit_out: Path, staged: _Staged) -> None:
    names = [n for n, _ in COPIED_FILES if (audit_out / n).is_file()]
    for folder in COPIED_FOLDERS:
        names += sorted(f"{folder}/{p.name}" for p in (audit_out / folder).glob("*") if p.is_file())
    for rel in names:
        data = _raw_bytes(audit_out / rel)
        staged.files[rel] = data
        staged.source_bytes += len(data)


def _manifest(staged: _Staged, cards: list[str], config: ConfigInfo | None) -> bytes:
    files = [{"path": rel, "kind": file_kind(rel), "bytes": len(data),
              "sha256": hashlib.sha256(data).hexdigest()}
             for rel, data in sorted(staged.files.items())]
    body = {
        "tool_version": __version__,
        "audit_config": None if config is None else {
            "path": CONFIG_NAME, "canonical_sha256": config.canonical_sha256,
            "file_sha256": hashlib.sha256(config.text).hexdigest()},
        "cards": cards,
        "total_bytes": sum(len(d) for d in staged.files.values()),
        "files": files,
        "verify": "acard verify cards/*.json",
    }
    return (json.dumps(body, indent=1, sort_keys=True) + "\n").encode()


def _old_files(results_dir: Path, audit_out: Path) -> set[str]:
    """Files of an earlier pack into ``results_dir`` (replaced); refuses any other folder."""
    if results_dir.resolve() == audit_out.resolve():
        raise InputError("the results folder must differ from the audit folder", path=results_dir)
    if not results_dir.exists() or (results_dir.is_dir() and not any(results_dir.iterdir())):
        return set()
    if not (results_dir / MANIFEST).is_file():
        raise InputError(f"exists and is not a packed results folder (no {MANIFEST}); "
                         "refusing to write into it", path=results_dir)
    old = read_json_object(results_dir / MANIFEST, what="manifest").get("files", [])
    return {f["path"] for f in old if isinstance(f, dict) and isinstance(f.get("path"), str)}


def pack_audit(audit_out: str | Path, results_dir: str | Path, *,
               config: ConfigInfo | None = None) -> PackResult:
    """Pack ``audit_out`` (an `acard audit` output folder) into ``results_dir``.

    Raises :class:`InputError` (naming the file and field) when ``audit_out``
    is not an audit output, a card's input is missing or changed, or a card
    rebuilt from the packed files differs from the audit's; then nothing is written.
    """
    audit_out, results_dir = Path(audit_out), Path(results_dir)
    card_files = _check_audit_out(audit_out)
    old = _old_files(results_dir, audit_out)
    staged = _Staged()
    cards = _stage_cards(card_files, staged)
    from .pack_tables import check_tables, packed_cards

    check_tables(audit_out, packed_cards(staged.files, cards))  # not copied unchecked
    _stage_copies(audit_out, staged)
    if config is not None:
        staged.files[CONFIG_NAME] = config.text
    staged.files[MANIFEST] = _manifest(staged, cards, config)
    atomic_write_many({results_dir / rel: data for rel, data in staged.files.items()})
    for rel in sorted(old - set(staged.files)):  # left over from an earlier pack
        stale = results_dir / rel
        if stale.resolve().is_relative_to(results_dir.resolve()):
            stale.unlink(missing_ok=True)
    files = tuple(PackedFile(rel, file_kind(rel), len(d), hashlib.sha256(d).hexdigest())
                  for rel, d in sorted(staged.files.items()))
    return PackResult(results_dir=results_dir, files=files, cards=tuple(cards),
                      source_bytes=staged.source_bytes)


def folder_sizes(results_dir: str | Path) -> dict[str, tuple[int, int]]:
    """Kind → (files, bytes) of every file under ``results_dir`` (for the size report).

    Example:
        >>> folder_sizes(tempfile.mkdtemp())
        {}
    """
    root = Path(results_dir)
    if not root.is_dir():
        raise InputError("not a folder", path=root)
    out: dict[str, tuple[int, int]] = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            kind = file_kind(p.relative_to(root).as_posix())
            n, size = out.get(kind, (0, 0))
            out[kind] = (n + 1, size + p.stat().st_size)
    return out


__all__ = ["CONFIG_NAME", "GZIP_LEVEL", "MANIFEST", "RESULTS_BUDGET_BYTES", "ConfigInfo",
           "PackResult", "PackedFile", "deterministic_gzip", "file_kind", "folder_sizes",
           "pack_audit"]
