"""Content-addressed step artifacts with manifests: resumable, never half-trusted.

Every step of an audit (split, train, evaluate, mechanism, card) is keyed by
the hash of its inputs (config section, upstream artifact hashes, code
version). A finished step lives in ``steps/<kind>/<key>/`` with a
``manifest.json`` (sha256 of every output, timings, device, package versions).
While it runs it works in ``work/<kind>/<key>/`` — a folder that survives a
kill, so a training step resumes from its last checkpoint and an evaluation
from its last written record — and only a complete folder with its manifest is
renamed into place (an atomic rename). A folder under ``steps/`` is therefore
always complete; re-running finds it and does no work again. Its manifest's
``seconds`` is the sum over every attempt (a killed one up to its last
heartbeat, see :mod:`.attempts`), each attempt listed under ``attempts``.

A per-step lock file lets parallel workers (Ray tasks) share one store: the
second worker to reach a step waits and then reuses the first one's result.

Example:
    >>> import tempfile, pathlib
    >>> store = Store(pathlib.Path(tempfile.mkdtemp()))
    >>> def write(work):
    ...     (work / "x.txt").write_text("hello")
    >>> r1 = store.run("demo", {"a": 1}, write)
    >>> r2 = store.run("demo", {"a": 1}, write)
    >>> r1.cached, r2.cached, r1.path == r2.path
    (False, True, True)
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..._util.files import sha256_file
from ..._util.writes import atomic_write_text
from .attempts import HEARTBEAT_SECONDS, AttemptLog

MANIFEST = "manifest.json"


def canonical_json(obj: Any) -> str:
    """Key-sorted, compact JSON: the text whose hash keys a step."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def step_key(kind: str, inputs: Mapping[str, Any]) -> str:
    """The content address of a step: sha256 of its kind and canonical inputs (24 hex)."""
    return hashlib.sha256(canonical_json({"kind": kind, "inputs": inputs}).encode()).hexdigest()[:24]


def package_versions() -> dict[str, str]:
    """Versions of the packages that can change a step's numbers."""
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in ("acceptance-cards", "numpy", "torch", "transformers", "peft"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


@dataclass(frozen=True)
class StepResult:
    """A finished step: where its outputs are and what its manifest says."""

    kind: str
    key: str
    path: Path
    manifest: dict[str, Any]
    cached: bool

    @property
    def seconds(self) -> float:
        return float(self.manifest.get("seconds", 0.0))


class StepCorrupted(RuntimeError):
    """A finished step's outputs no longer match its manifest."""


class StepMissing(RuntimeError):
    """A reuse-only store was asked for a step that has not finished."""


class Store:
    """The artifact store rooted at ``root`` (usually ``OUTDIR/artifacts``).

    With ``reuse_only`` it never runs a step: :meth:`run` returns finished
    steps (without waiting on locks, so it can read a store another run is
    writing) and raises :class:`StepMissing` for any other.
    """

    def __init__(self, root: Path, *, device: str = "cpu", reuse_only: bool = False,
                 heartbeat: float = HEARTBEAT_SECONDS) -> None:
        self.root = Path(root)
        self.device = device
        self.reuse_only = reuse_only
        self.heartbeat = heartbeat  # seconds between an attempt's durable time records

    def final_dir(self, kind: str, key: str) -> Path:
        return self.root / "steps" / kind / key

    def work_dir(self, kind: str, key: str) -> Path:
        return self.root / "work" / kind / key

    def lock_path(self, kind: str, key: str) -> Path:
        return self.root / "locks" / f"{kind}-{key}.lock"

    def is_running(self, kind: str, key: str) -> bool:
        """True when a live process holds the step's lock (probed without blocking or writing)."""
        lock = self.lock_path(kind, key)
        if not lock.is_file():
            return False
        with lock.open("r") as fh:  # read-only: probing must work on a folder we cannot write
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(fh, fcntl.LOCK_UN)
        return False

    @contextmanager
    def _lock(self, kind: str, key: str) -> Iterator[None]:
        lock = self.lock_path(kind, key)
        lock.parent.mkdir(parents=True, exist_ok=True)
        with lock.open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def lookup(self, kind: str, key: str, *, verify: bool = True) -> StepResult | None:
        """The finished step, or None. With ``verify``, re-hash its outputs."""
        final = self.final_dir(kind, key)
        mpath = final / MANIFEST
        if not mpath.is_file():
            return None
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
        if verify:
            for rel, digest in manifest.get("outputs", {}).items():
                f = final / rel
                if not f.is_file() or sha256_file(f) != digest:
                    raise StepCorrupted(
                        f"{final}: output {rel} does not match its manifest; delete the folder to rerun"
                    )
        return StepResult(kind, key, final, manifest, cached=True)

    def run(
        self,
        kind: str,
        inputs: Mapping[str, Any],
        fn: Callable[[Path], Any],
        *,
        label: str | None = None,
    ) -> StepResult:
        """Return the finished step for ``inputs``, running ``fn(work_dir)`` if needed.

        ``fn`` writes its outputs into the folder it is given (which may hold a
        previous, interrupted attempt's partial state to resume from) and may
        return a JSON-able mapping of extra manifest fields (anything else is ignored).
        """
        key = step_key(kind, inputs)
        if self.reuse_only:
            found = self.lookup(kind, key)
            if found is None:
                raise StepMissing(f"{kind} step {label or key} has not finished")
            return found
        with self._lock(kind, key):
            done = self.lookup(kind, key)
            if done is not None:
                return done
            work = self.work_dir(kind, key)
            work.mkdir(parents=True, exist_ok=True)
            with AttemptLog(work, heartbeat=self.heartbeat) as log:
                ret = fn(work)
            extra = dict(ret) if isinstance(ret, Mapping) else {}
            outputs = {
                str(p.relative_to(work)): sha256_file(p)
                for p in sorted(work.rglob("*"))
                if p.is_file() and p.name != MANIFEST and not p.name.startswith(".")
            }
            manifest = {
                "kind": kind,
                "key": key,
                "label": label,
                "inputs": json.loads(canonical_json(inputs)),
                "outputs": outputs,
                # every attempt's time: a resumed step also spent the killed attempts' seconds
                "seconds": log.seconds,
                "attempts": log.attempts,
                "device": self.device,
                "versions": package_versions(),
                **extra,
            }
            atomic_write_text(work / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
            final = self.final_dir(kind, key)
            final.parent.mkdir(parents=True, exist_ok=True)
            if final.exists():  # a folder without a manifest cannot be trusted
                shutil.rmtree(final)
            os.replace(work, final)
            return StepResult(kind, key, final, manifest, cached=False)
