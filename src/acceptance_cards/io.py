"""File reads and writes at the edge of the program.

Reads turn every problem a user can cause (a missing file, a folder, a symlink
loop, bytes that are not UTF-8, gzip that is not gzip) into an
:class:`~acceptance_cards.errors.InputError` naming the file and, where there is
one, the line. Writes are atomic: a file is staged in its folder and renamed
over the target, with the mode the umask gives (or the replaced file's mode);
:func:`atomic_write_many` commits several files as one set.

Example:
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> atomic_write_many({d / "a.txt": b"A", d / "b.txt": b"B"})
    >>> sorted(p.name for p in d.iterdir())
    ['a.txt', 'b.txt']
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import json
import math
import os
import secrets
import stat
import zlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import InputError

if TYPE_CHECKING:
    from pydantic import ValidationError

#: Suffixes of gzip-compressed text inputs (``records.jsonl.gz`` reads like ``records.jsonl``).
GZIP_SUFFIXES: tuple[str, ...] = (".gz",)
#: Prefix of a commit journal (see :func:`atomic_write_many`); hidden, one per set in flight.
JOURNAL_PREFIX = ".acard-commit-"
_TMP_TAG = ".acard-"


# ---------------------------------------------------------------- reading


def _os_error(exc: OSError, p: Path, what: str) -> InputError:
    """The user-facing form of an OS error met while reading ``p``."""
    if isinstance(exc, FileNotFoundError):
        # a plain file is "no such file"; a named kind ("mapping file") says which
        return InputError(f"no such {'file' if what in ('JSON file', 'TOML file') else what}",
                          path=p)
    if isinstance(exc, IsADirectoryError):
        return InputError(f"is a folder; expected {_a(what)}", path=p)
    if exc.errno == errno.ELOOP:
        return InputError("is a symlink loop", path=p)
    return InputError(f"cannot read ({exc.strerror or exc})", path=p)


def _a(what: str) -> str:
    return ("an " if what[:1].lower() in "aeiou" else "a ") + what


def _decode_error(exc: UnicodeDecodeError, data: bytes, p: Path, *, line: int | None = None) -> InputError:
    """A decode error located by line and column (counted from the bytes before the bad one)."""
    start = data.rfind(b"\n", 0, exc.start) + 1
    where = line if line is not None else data.count(b"\n", 0, exc.start) + 1
    bad = data[exc.start : exc.start + 1].hex()
    return InputError(f"not UTF-8 text (byte 0x{bad} at column {exc.start - start + 1})",
                      path=p, line=where)


def read_bytes(path: str | Path, *, what: str = "file") -> bytes:
    """A file's bytes (gunzipped for ``*.gz``); problems as :class:`InputError`."""
    p = Path(path)
    try:
        if p.suffix.lower() in GZIP_SUFFIXES:
            with gzip.open(p, "rb") as fh:
                return fh.read()
        return p.read_bytes()
    except OSError as exc:
        if isinstance(exc, gzip.BadGzipFile) or exc.errno is None:
            raise InputError(f"not a gzip file ({exc})", path=p) from None
        raise _os_error(exc, p, what) from None
    except (EOFError, zlib.error) as exc:
        raise InputError(f"truncated or corrupt gzip data ({exc})", path=p) from None


def read_text(path: str | Path, *, what: str = "file", bom: bool = False) -> str:
    """A UTF-8 text file (``bom``: drop a leading UTF-8 byte-order mark, as spreadsheets write)."""
    p = Path(path)
    data = read_bytes(p, what=what)
    try:
        return data.decode("utf-8-sig" if bom else "utf-8")
    except UnicodeDecodeError as exc:
        raise _decode_error(exc, data, p) from None


def iter_text_lines(path: str | Path, *, what: str = "file") -> Iterator[tuple[int, str]]:
    """``(line number, text)`` of a UTF-8 (or gzipped UTF-8) file, streamed.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.jsonl"
        >>> _ = p.write_bytes(b'{}\\n\\xff\\n')
        >>> list(iter_text_lines(p))                         # doctest: +ELLIPSIS
        Traceback (most recent call last):
        acceptance_cards.errors.InputError: ...x.jsonl:2: not UTF-8 text (byte 0xff at column 1)
    """
    p = Path(path)
    try:
        # closed by the `with fh` below; opened first so open errors are told apart
        fh = gzip.open(p, "rb") if p.suffix.lower() in GZIP_SUFFIXES else p.open("rb")  # noqa: SIM115
    except OSError as exc:
        raise _os_error(exc, p, what) from None
    with fh:
        lineno = 0
        try:
            for raw in fh:
                lineno += 1
                try:
                    yield lineno, raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise _decode_error(exc, raw, p, line=lineno) from None
        except OSError as exc:  # gzip.BadGzipFile, or an I/O error mid-read
            raise InputError(f"cannot read line {lineno + 1} ({exc})", path=p) from None
        except (EOFError, zlib.error) as exc:
            raise InputError(f"truncated or corrupt gzip data ({exc})", path=p,
                             line=lineno + 1) from None


def sha256_file(path: str | Path, *, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def read_json_object(path: str | Path, *, what: str = "file") -> dict[str, Any]:
    """Read a JSON file that must hold an object; errors name the file (and line)."""
    p = Path(path)
    raw = loads_json(read_text(p, what="JSON file" if what == "file" else what), path=p)
    if not isinstance(raw, dict):
        raise InputError("expected a JSON object", path=p)
    return raw


def loads_json(text: str, *, path: str | Path, line: int | None = None) -> Any:
    """``json.loads`` whose failures (bad syntax, nesting past the parser's depth) name the file.

    ``line`` is the physical line of ``text`` within the file (JSON lines); without it the
    parser's own line number is used.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON ({exc.msg})", path=path,
                         line=line if line is not None else exc.lineno) from None
    except RecursionError:
        raise InputError("JSON nested too deeply", path=path, line=line) from None


def validation_error(
    exc: ValidationError, *, path: str | Path | None = None, prefix: str = ""
) -> InputError:
    """The first problem of a pydantic error as an :class:`InputError` naming the field."""
    err = exc.errors()[0]
    field = ".".join(str(x) for x in err["loc"]) or None
    msg = str(err["msg"]).removeprefix("Value error, ")
    return InputError(f"{prefix}{msg}", path=path, field=field)


def read_toml_object(path: str | Path, *, what: str = "file") -> dict[str, Any]:
    """Read a TOML file; errors name the file (``what`` says what kind it is)."""
    import tomllib

    p = Path(path)
    text = read_text(p, what=f"TOML {what}" if what == "file" else what)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML ({exc})", path=p) from None
    except RecursionError:
        raise InputError("TOML nested too deeply", path=p) from None


def finite_json(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by ``None`` (JSON has no NaN/Infinity)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_json(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite_json(v) for v in obj]
    return obj


def dumps_json(obj: Any, **kw: Any) -> str:
    """Standard JSON text: non-finite floats become ``null``; ``allow_nan=False`` guards the rest."""
    return json.dumps(finite_json(obj), allow_nan=False, **kw)


# ---------------------------------------------------------------- paths


def check_outputs(outputs: Mapping[str, str | Path | None],
                  inputs: Sequence[str | Path | None] = ()) -> None:
    """Refuse outputs that are folders or symlink loops, that name an input, or each other.

    ``outputs`` maps an option name (``--output``) to a path; ``inputs`` are the
    files the command reads. Run before anything is written, so a refused
    command leaves every file as it was.
    """
    seen: dict[str, str] = {}
    ins = {_identity(p): str(p) for p in inputs if p is not None}
    for option, out in outputs.items():
        if out is None:
            continue
        p = Path(out)
        _check_writable_path(p, option)
        key = _identity(p)
        if key in ins:
            raise InputError(f"is also an input ({ins[key]}); refusing to overwrite an input",
                             path=p, field=option)
        if key in seen:
            raise InputError(f"is also given as {seen[key]}; each output needs its own file",
                             path=p, field=option)
        seen[key] = option


def check_inputs(inputs: Mapping[str, str | Path | None]) -> None:
    """Refuse input paths that are missing, folders or symlink loops, naming the option.

    Example:
        >>> check_inputs({"--baseline": "/"})
        Traceback (most recent call last):
        acceptance_cards.errors.InputError: /: field `--baseline`: is a folder; expected a file
    """
    for option, path in inputs.items():
        if path is None:
            continue
        p = Path(path)
        try:
            st = os.stat(p)
        except OSError as exc:
            err = _os_error(exc, p, "file")
            raise InputError(err.message, path=p, field=option) from None
        if not stat.S_ISREG(st.st_mode):
            what = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file"
            raise InputError(f"is {what}; expected a file", path=p, field=option)


def _identity(p: str | Path) -> str:
    """Same file ⇔ same identity: device+inode when it exists, else the real path."""
    try:
        st = os.stat(p)
        return f"inode:{st.st_dev}:{st.st_ino}"
    except OSError:
        return "path:" + os.path.realpath(p)


def _check_writable_path(p: Path, option: str | None = None) -> None:
    try:
        if p.is_dir():
            raise InputError("is a folder; give a file path", path=p, field=option)
    except OSError as exc:
        raise _os_error(exc, p, "file") from None
    if p.is_symlink():
        try:
            os.stat(p)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise InputError("is a symlink loop", path=p, field=option) from None
    if p.parent.exists() and not p.parent.is_dir():
        raise InputError(f"folder {p.parent} is a file", path=p, field=option)


# ---------------------------------------------------------------- writing


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
        _check_writable_path(p)
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
