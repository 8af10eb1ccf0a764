"""Atomic writes: a file, or a set of files, replaced all at once with the umask's mode.

A file is written beside its target without a name (Linux ``O_TMPFILE``; a
hidden temp file elsewhere), fsynced with its final mode, then renamed over the
target. :func:`atomic_write_many` commits several files as one set through a
journal, so a card's JSON, Markdown and HTML are all new or all old.

Example:
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> atomic_write_text(d / "a.txt", "A")
    >>> (d / "a.txt").read_text()
    'A'
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from .files import check_writable_path

#: Prefix of a commit journal (see :func:`atomic_write_many`); hidden, one per set in flight.
JOURNAL_PREFIX = ".acard-commit-"
_TMP_TAG = ".acard-"



def _umask() -> int:
    """The process umask (read without changing it where /proc allows)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)  # no race-free read elsewhere; restored at once
    os.umask(old)
    return old


def _target_mode(path: Path) -> int:
    """The replaced file's permission bits, or what ``open()`` would give a new file."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}{_TMP_TAG}{os.getpid()}-{secrets.token_hex(4)}.tmp")


def _write_fd(fd: int, data: bytes, mode: int) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.fchmod(fd, mode)
    os.fsync(fd)


def _stage(path: Path, data: bytes) -> int | Path:
    """``data`` in a file beside ``path`` (fsynced, final mode), not yet under any name.

    Where the OS allows (Linux ``O_TMPFILE``) the file has no name until
    :func:`_name_staged`, so a process killed while writing leaves nothing
    behind; elsewhere it is a hidden temp file that :func:`recover` removes.
    """
    mode = _target_mode(path)
    flag = getattr(os, "O_TMPFILE", 0)
    if flag and Path("/proc/self/fd").is_dir():
        try:
            fd = os.open(path.parent, flag | os.O_WRONLY, 0o600)
        except OSError:  # a file system without unnamed files
            pass
        else:
            try:
                _write_fd(fd, data, mode)
            except BaseException:
                os.close(fd)
                raise
            return fd
    return _stage_named(path, data, mode)


def _stage_named(path: Path, data: bytes, mode: int) -> Path:
    tmp = _tmp_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        _write_fd(fd, data, mode)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)
    return tmp


def _name_staged(staged: int | Path, path: Path, data: bytes) -> Path:
    """Give a staged file its hidden temp name beside ``path`` (closing an unnamed one)."""
    if isinstance(staged, Path):
        return staged
    tmp = _tmp_name(path)
    try:
        # a dir fd makes os.link use linkat(AT_SYMLINK_FOLLOW): it links the open file,
        # not the /proc symlink
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.link(f"/proc/self/fd/{staged}", tmp.name, dst_dir_fd=dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:  # linking unnamed files refused here: write a named temp instead
        named = _stage_named(path, data, _target_mode(path))
        return named
    finally:
        os.close(staged)
    return tmp


def _discard(staged: int | Path) -> None:
    if isinstance(staged, Path):
        staged.unlink(missing_ok=True)
    else:
        with contextlib.suppress(OSError):
            os.close(staged)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # not every platform opens folders
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder + rename.

    A crash leaves either the old file or the new one, never a torn mix.
    """
    atomic_write_many({Path(path): data})


def atomic_write_text(path: Path, text: str) -> None:
    """Text version of :func:`atomic_write_bytes` (UTF-8)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_many(files: Mapping[Path, bytes]) -> None:
    """Write several files as one set: afterwards all are new, or (on error) all are old.

    Each file is first written beside its target without a name (Linux
    ``O_TMPFILE``; a hidden temp file elsewhere), so a process killed while
    writing leaves the old set and nothing else. Then the staged files get
    hidden names, a journal naming them is written (the commit point) and the
    renames follow: a few metadata operations. A process killed inside that
    window leaves the journal (or, before it, hidden temp files), and the next
    write into the folder (:func:`recover`) completes the new set (or removes
    the temp files).
    """

    paths = [Path(p) for p in files]
    for p in paths:
        check_writable_path(p)
        p.parent.mkdir(parents=True, exist_ok=True)
        recover(p)
    staged: list[int | Path] = []
    named: list[tuple[Path, Path]] = []
    try:
        for p in paths:
            staged.append(_stage(p, files[p]))
        for st, p in zip(staged, paths, strict=True):
            named.append((_name_staged(st, p, files[p]), p))
    except BaseException:
        for st in staged[len(named):]:
            _discard(st)
        for tmp, _ in named:
            tmp.unlink(missing_ok=True)
        raise
    if len(named) == 1:
        os.replace(*named[0])
        _fsync_dir(paths[0].parent)
        return
    journal = paths[0].with_name(f"{JOURNAL_PREFIX}{os.getpid()}-{secrets.token_hex(4)}.json")
    body = json.dumps([[str(t.resolve()), str(p.resolve())] for t, p in named]).encode()
    jt = _name_staged(_stage(journal, body), journal, body)
    os.replace(jt, journal)  # commit point
    _fsync_dir(journal.parent)
    _roll_forward(journal)


def _roll_forward(journal: Path) -> None:
    pairs = [(Path(t), Path(f)) for t, f in json.loads(journal.read_text(encoding="utf-8"))]
    for tmp, final in pairs:
        with contextlib.suppress(FileNotFoundError):  # renamed before an interruption
            os.replace(tmp, final)
    for folder in {f.parent for _, f in pairs}:
        _fsync_dir(folder)
    journal.unlink(missing_ok=True)


def _owner_alive(name: str) -> bool:
    """Whether the process that named a staged file or journal (``…-<pid>-<hex>…``) still runs."""
    try:
        pid = int(name.rsplit("-", 2)[-2])
    except (IndexError, ValueError):
        return False
    if pid == os.getpid():
        return False  # this process writes synchronously: anything left of ours is stale
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def recover(path: Path) -> None:
    """Finish an interrupted set that wrote into ``path``'s folder; drop staged files of ``path``
    left by a process that died before its commit point. Files of running writers are left alone.
    """
    folder = path.parent
    if not folder.is_dir():
        return
    for journal in sorted(folder.glob(JOURNAL_PREFIX + "*.json")):
        if _owner_alive(journal.name):
            continue
        try:
            _roll_forward(journal)
        except (OSError, ValueError):  # a torn journal: its set never committed
            journal.unlink(missing_ok=True)
    for tmp in folder.glob(f".{path.name}{_TMP_TAG}*.tmp"):
        if not _owner_alive(tmp.name):
            tmp.unlink(missing_ok=True)
