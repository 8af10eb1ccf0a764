"""File reads and path checks at the edge of the program (atomic writes: :mod:`.writes`).

Reads turn every problem a user can cause (a missing file, a folder, a symlink
loop, bytes that are not UTF-8, gzip that is not gzip) into an
:class:`~acceptance_cards._util.errors.InputError` naming the file and, where there is
one, the line. :func:`check_outputs` refuses an output path before anything is
written.

Example:
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "a.txt").write_bytes(b"A")
    >>> read_text(d / "a.txt")
    'A'
    >>> read_text(d / "missing.txt")
    Traceback (most recent call last):
    ...
    acceptance_cards._util.errors.InputError: ...missing.txt...
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import json
import math
import os
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
        acceptance_cards._util.errors.InputError: ...x.jsonl:2: not UTF-8 text (byte 0xff at column 1)
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
        check_writable_path(p, option)
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
        acceptance_cards._util.errors.InputError: /: field `--baseline`: is a folder; expected a file
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


def check_writable_path(p: Path, option: str | None = None) -> None:
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


__all__ = [
    "GZIP_SUFFIXES", "check_inputs", "check_outputs", "check_writable_path", "dumps_json",
    "finite_json", "iter_text_lines", "loads_json", "read_bytes", "read_json_object", "read_text",
    "read_toml_object", "sha256_file", "validation_error",
]
