"""Atomic file writes and content hashes: nothing half-written is ever trusted."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import ValidationError

    from .errors import InputError


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder + rename.

    A crash leaves either the old file or the new one, never a torn mix.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Text version of :func:`atomic_write_bytes` (UTF-8)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def sha256_file(path: str | Path, *, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def read_json_object(path: str | Path) -> dict[str, Any]:
    """Read a JSON file that must hold an object; errors name the file (and line)."""
    from .errors import InputError

    p = Path(path)
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("no such file", path=p) from None
    except IsADirectoryError:
        raise InputError("is a folder, expected a JSON file", path=p) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON ({exc.msg})", path=p, line=exc.lineno) from None
    except UnicodeDecodeError:
        raise InputError("not a UTF-8 text file", path=p) from None
    if not isinstance(raw, dict):
        raise InputError("expected a JSON object", path=p)
    return raw


def validation_error(exc: ValidationError, *, path: str | Path, prefix: str = "") -> InputError:
    """The first problem of a pydantic error as an :class:`InputError` naming the field."""
    from .errors import InputError

    err = exc.errors()[0]
    field = ".".join(str(x) for x in err["loc"]) or None
    return InputError(f"{prefix}{err['msg']}", path=path, field=field)


def read_toml_object(path: str | Path, *, what: str = "file") -> dict[str, Any]:
    """Read a TOML file; errors name the file (``what`` says what kind it is)."""
    import tomllib

    from .errors import InputError

    p = Path(path)
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"no such {what}", path=p) from None
    except IsADirectoryError:
        raise InputError(f"is a folder, expected a TOML {what}", path=p) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML ({exc})", path=p) from None
