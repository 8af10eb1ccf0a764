"""The ``--map`` expression language: parse and evaluate one ``source | filter …`` expression.

:mod:`.mapping` says which expressions to try per record field; this module is
the language itself.

**Expressions.** ``source ( "|" filter )*``

* ``source`` — a dotted path into the view (``metadata.question_id``,
  ``scores.pattern.value``, ``doc.choices[0]``) or a quoted literal
  (``'sandbagging'``). A missing key, an index out of range or ``null`` gives
  no value, so the next candidate is tried.
* ``re/PATTERN/`` — search PATTERN in the value's text; the first capture group
  (or the whole match) is the result, no match gives no value. Write ``\\/`` for
  a slash inside the pattern.
* ``map{a=b, c=d}`` — replace the value ``a`` by ``b`` (others pass unchanged).
* ``lower``, ``upper``, ``strip`` — text case and surrounding blanks.
* ``argmax`` — index of the largest element of a list; a list of lists or pairs
  compares their first elements (lm-eval's ``[loglikelihood, is_greedy]``).
* ``letter`` — an option index 0, 1, 2 … as ``A``, ``B``, ``C`` …; a letter
  passes unchanged.
* ``nonempty`` — ``true`` when the value is there and not blank, else ``false``
  (never "no value"): ``valid = "scores.choice.answer | nonempty"`` marks a
  sample whose scorer found no answer as not valid.

Example:
    >>> parse_expr("id | re/::(.+)$/").evaluate({"id": "q1::eval-h01"})
    'eval-h01'
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from .._util.errors import InputError


class _Missing:
    """The value of an expression that found nothing (distinct from ``None``/``""``)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


#: What an expression gives when the source has no value.
MISSING: Final = _Missing()

_LETTERS: Final = string.ascii_uppercase
_SIMPLE_FILTERS: Final = ("lower", "upper", "strip", "argmax", "letter", "nonempty")
_PATH_PART = re.compile(r"([^.\[\]]+)|\[(-?\d+)\]")


@dataclass(frozen=True)
class Filter:
    """One ``| filter`` step: its name and parsed argument."""

    name: str
    pattern: re.Pattern[str] | None = None
    table: tuple[tuple[str, str], ...] = ()

    def apply(self, value: Any) -> Any:
        """The filtered value, or :data:`MISSING`."""
        if self.name == "nonempty":  # the one filter that reads "no value" as an answer
            return _nonempty(value)
        if value is MISSING:
            return MISSING
        if self.name == "re":
            assert self.pattern is not None
            m = self.pattern.search(str(value))
            if m is None:
                return MISSING
            return m.group(1) if m.groups() else m.group(0)
        if self.name == "map":
            key = str(value)
            return next((new for old, new in self.table if old == key), value)
        if self.name in ("lower", "upper", "strip"):
            return getattr(str(value), self.name)()
        if self.name == "argmax":
            return _argmax(value)
        return _letter(value)


def _nonempty(value: Any) -> bool:
    if value is MISSING or value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, list | tuple | Mapping):
        return bool(value)
    return True


def _argmax(value: Any) -> Any:
    if not isinstance(value, list | tuple) or not value:
        return MISSING
    keys = [v[0] if isinstance(v, list | tuple) and v else v for v in value]
    try:
        return max(range(len(keys)), key=lambda i: float(keys[i]))
    except (TypeError, ValueError):
        return MISSING


def _letter(value: Any) -> Any:
    if isinstance(value, str) and len(value.strip()) == 1 and value.strip().upper() in _LETTERS:
        return value.strip().upper()
    try:
        i = int(str(value).strip())
    except ValueError:
        return MISSING
    return _LETTERS[i] if 0 <= i < len(_LETTERS) else MISSING


@dataclass(frozen=True)
class Expr:
    """A parsed expression; :meth:`evaluate` reads it from a sample view."""

    text: str
    path: tuple[str | int, ...] = ()
    literal: str | None = None
    filters: tuple[Filter, ...] = ()

    def evaluate(self, view: Mapping[str, Any]) -> Any:
        """The expression's value on ``view`` (:data:`MISSING` when it finds none)."""
        value: Any = self.literal if self.literal is not None else _lookup(view, self.path)
        for f in self.filters:
            value = f.apply(value)
        return value


def _lookup(view: Any, path: tuple[str | int, ...]) -> Any:
    cur = view
    for part in path:
        if isinstance(part, int):
            if not isinstance(cur, list | tuple) or not -len(cur) <= part < len(cur):
                return MISSING
            cur = cur[part]
        elif isinstance(cur, Mapping) and part in cur:
            cur = cur[part]
        else:
            return MISSING
    return MISSING if cur is None else cur


def parse_expr(text: str, *, field: str | None = None, where: str | None = None) -> Expr:
    """Parse one expression; a syntax error is an :class:`InputError` naming ``field``.

    Example:
        >>> parse_expr("'sandbagging'").evaluate({})
        'sandbagging'
        >>> parse_expr("filtered_resps | argmax | letter").evaluate(
        ...     {"filtered_resps": [[-3.0, False], [-0.5, True]]})
        'B'
    """
    def fail(msg: str) -> InputError:
        return InputError(f"bad mapping expression {text!r}: {msg}", path=where, field=field)

    i = _skip_ws(text, 0)
    if i >= len(text):
        raise fail("empty")
    literal, path, i = _parse_source(text, i, fail)
    filters = _parse_filters(text, i, fail)
    return Expr(text=text.strip(), path=path, literal=literal, filters=tuple(filters))


def _skip_ws(s: str, j: int) -> int:
    """The first position at or after ``j`` that is not whitespace."""
    while j < len(s) and s[j].isspace():
        j += 1
    return j


def _parse_source(s: str, i: int, fail: Callable[[str], InputError]
                  ) -> tuple[str | None, tuple[str | int, ...], int]:
    """What an expression reads: a quoted literal or a field path; and where it ends."""
    n = len(s)
    if s[i] in "'\"":
        quote, j, buf = s[i], i + 1, []
        while j < n and s[j] != quote:
            if s[j] == "\\" and j + 1 < n:
                j += 1
            buf.append(s[j])
            j += 1
        if j >= n:
            raise fail("unterminated quote")
        return "".join(buf), (), j + 1
    j = i
    while j < n and not s[j].isspace() and s[j] != "|":
        j += 1
    return None, _parse_path(s[i:j], fail), j


def _parse_filters(s: str, i: int, fail: Callable[[str], InputError]) -> list[Filter]:
    """The ``| filter`` chain from position ``i`` to the end of the expression."""
    n = len(s)
    filters: list[Filter] = []
    while True:
        i = _skip_ws(s, i)
        if i >= n:
            return filters
        if s[i] != "|":
            raise fail(f"expected `|` at position {i}")
        i = _skip_ws(s, i + 1)
        j = i
        while j < n and s[j].isalpha():
            j += 1
        name = s[i:j]
        if name == "re":
            f, i = _parse_re(s, j, fail)
        elif name == "map":
            f, i = _parse_map(s, j, fail)
        elif name in _SIMPLE_FILTERS:
            f, i = Filter(name), j
        else:
            raise fail(f"unknown filter {name or s[i:i + 1]!r}; one of re/…/, map{{…}}, "
                       + ", ".join(_SIMPLE_FILTERS))
        filters.append(f)


def _parse_path(text: str, fail: Callable[[str], InputError]) -> tuple[str | int, ...]:
    parts: list[str | int] = []
    pos = 0
    for m in _PATH_PART.finditer(text):
        gap = text[pos:m.start()]
        if gap not in ("", ".") or (gap == "" and parts and m.group(1) is not None):
            raise fail(f"malformed path {text!r}")
        parts.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
        pos = m.end()
    if pos != len(text) or not parts or isinstance(parts[0], int):
        raise fail(f"malformed path {text!r}")
    return tuple(parts)


def _parse_re(s: str, j: int, fail: Callable[[str], InputError]) -> tuple[Filter, int]:
    if j >= len(s) or s[j] != "/":
        raise fail("`re` takes a pattern between slashes: re/PATTERN/")
    k, buf = j + 1, []
    while k < len(s) and s[k] != "/":
        if s[k] == "\\" and k + 1 < len(s) and s[k + 1] == "/":
            k += 1
        buf.append(s[k])
        k += 1
    if k >= len(s):
        raise fail("unterminated re/…/")
    try:
        pattern = re.compile("".join(buf))
    except re.error as exc:
        raise fail(f"invalid regular expression ({exc})") from None
    return Filter("re", pattern=pattern), k + 1


def _parse_map(s: str, j: int, fail: Callable[[str], InputError]) -> tuple[Filter, int]:
    if j >= len(s) or s[j] != "{":
        raise fail("`map` takes pairs in braces: map{old=new, …}")
    k = s.find("}", j)
    if k < 0:
        raise fail("unterminated map{…}")
    pairs: list[tuple[str, str]] = []
    for item in s[j + 1:k].split(","):
        if not item.strip():
            continue
        old, eq, new = item.partition("=")
        if not eq or not old.strip():
            raise fail(f"map entry {item.strip()!r} is not old=new")
        pairs.append((old.strip(), new.strip()))
    return Filter("map", table=tuple(pairs)), k + 1


__all__ = ["MISSING", "Expr", "Filter", "parse_expr"]
