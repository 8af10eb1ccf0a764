"""The one error type for bad user input.

Every problem a user can fix (a malformed record, a missing field, a file that
does not exist, a mechanism file with a negative norm) is raised as
:class:`InputError`. It names the file, the line (or row) and the field, so the
CLI can print one clear message and exit 2 without a traceback.
"""

from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """A problem with user-supplied input, located as precisely as possible.

    Example:
        >>> str(InputError("must be 0/1", path="b.jsonl", line=3, field="correct"))
        'b.jsonl:3: field `correct`: must be 0/1'
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        super().__init__(self._format())

    def _format(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path
            if self.line is not None:
                where += f":{self.line}"
            where += ": "
        elif self.line is not None:
            where = f"line {self.line}: "
        what = f"field `{self.field}`: " if self.field else ""
        return f"{where}{what}{self.message}"


class MissingExtraError(ImportError):
    """A heavy optional dependency is not installed; the message names the extra."""
