"""Formatting helpers shared by every renderer: one definition per notion.

Numbers, intervals, percentage points and verdict badges are formatted here
once, so the Markdown, HTML and LaTeX cards can never disagree about how a
value reads. Output is plain text (ASCII ``-`` for minus, so it survives every
escaper); each renderer escapes it for its own format.

Example:
    >>> fmt_signed(-0.21666)
    '-0.2167'
    >>> fmt_ci(-0.2958, -0.125)
    '[-0.2958, -0.1250]'
    >>> fmt_pp(0.01875)
    '+1.9 pp'
    >>> gate_badge("not run").text
    '\u25cb not run'
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

#: What a value that was not computed (``None``) reads as.
MISSING: Final = "\u2014"

#: Decimal places of statistics (gaps, deltas, SEs, ρ): matches the gates' reasons.
STAT_DIGITS: Final = 4

#: Decimal places of rates in [0, 1] (accuracies, valid-answer rates).
RATE_DIGITS: Final = 3

#: Decimal places of percentage points (the deploy-accuracy cost).
PP_DIGITS: Final = 1


@dataclass(frozen=True)
class Badge:
    """How one verdict is shown: a symbol (never colour alone), its text and a CSS class."""

    symbol: str
    label: str
    css: str

    @property
    def text(self) -> str:
        """Symbol and label, e.g. ``'\u2713 pass'``."""
        return f"{self.symbol} {self.label}"


#: Gate verdicts: each of the six reads differently in every format, so
#: `not run`, `n/a`, `fail`, `borderline` and `pass-with-caveat` are never confused.
GATE_BADGES: Final[Mapping[str, Badge]] = {
    "pass": Badge("\u2713", "pass", "v-pass"),
    "fail": Badge("\u2717", "fail", "v-fail"),
    "borderline": Badge("\u2248", "borderline", "v-borderline"),
    "n/a": Badge("\u2205", "n/a", "v-na"),
    "pass-with-caveat": Badge("\u2713*", "pass-with-caveat", "v-caveat"),
    "not run": Badge("\u25cb", "not run", "v-notrun"),
}

#: Card-level verdicts (SPEC §3).
CARD_BADGES: Final[Mapping[str, Badge]] = {
    "full-card pass": Badge("\u2713", "full-card pass", "c-pass"),
    "near miss": Badge("\u25d0", "near miss", "c-near"),
    "missing evidence": Badge("\u25cb", "missing evidence", "c-missing"),
    "fail": Badge("\u2717", "fail", "c-fail"),
    "undefined": Badge("\u2205", "undefined", "c-undefined"),
}


def gate_badge(verdict: str) -> Badge:
    """Badge of a gate verdict string (SPEC §9 vocabulary)."""
    return GATE_BADGES[verdict]


def card_badge(verdict: str) -> Badge:
    """Badge of a card-level verdict string."""
    return CARD_BADGES[verdict]


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def fmt_num(x: float | None, *, digits: int = STAT_DIGITS) -> str:
    """A plain number; ``MISSING`` for ``None``, ``nan``/``inf`` spelled out."""
    if x is None:
        return MISSING
    if not math.isfinite(x):
        return str(x)
    return f"{x:.{digits}f}"


def fmt_signed(x: float | None, *, digits: int = STAT_DIGITS) -> str:
    """A difference with an explicit sign (only a negative ΔG is evidence)."""
    if not _finite(x):
        return fmt_num(x, digits=digits)
    assert x is not None
    text = f"{x:+.{digits}f}"
    # -0.0000 would suggest a sign the value does not have.
    return text.replace("-", "+", 1) if float(text) == 0 else text


def fmt_rate(x: float | None) -> str:
    """A rate in [0, 1]."""
    return fmt_num(x, digits=RATE_DIGITS)


def fmt_ci(lo: float | None, hi: float | None, *, digits: int = STAT_DIGITS) -> str:
    """A closed interval of signed values."""
    if lo is None and hi is None:
        return MISSING
    return f"[{fmt_signed(lo, digits=digits)}, {fmt_signed(hi, digits=digits)}]"


def fmt_level(level: float | None) -> str:
    """A confidence level, e.g. ``95%``."""
    if level is None:
        return MISSING
    pct = level * 100
    return f"{pct:.0f}%" if abs(pct - round(pct)) < 1e-9 else f"{pct:g}%"


def fmt_pp(x: float | None, *, signed: bool = True) -> str:
    """A difference of rates in percentage points (``signed=False``: a magnitude)."""
    if not _finite(x):
        return fmt_num(x)
    assert x is not None
    if not signed:
        return f"{fmt_num(100 * x, digits=PP_DIGITS)} pp"
    return f"{fmt_signed(100 * x, digits=PP_DIGITS)} pp"


def fmt_pp_ci(lo: float | None, hi: float | None) -> str:
    """An interval in percentage points."""
    if lo is None and hi is None:
        return MISSING
    return (f"[{fmt_signed(None if lo is None else 100 * lo, digits=PP_DIGITS)}, "
            f"{fmt_signed(None if hi is None else 100 * hi, digits=PP_DIGITS)}] pp")


def fmt_cost(point: float | None, lo: float | None, hi: float | None,
             level: float | None) -> str:
    """The deploy-accuracy cost as a reader sees it: point, then the CI."""
    if point is None:
        return "not measured"
    out = fmt_pp(point)
    if lo is not None or hi is not None:
        out += f" ({fmt_level(level)} CI {fmt_pp_ci(lo, hi)})"
    return out


def fmt_bool(x: bool | None, *, yes: str = "yes", no: str = "no") -> str:
    """A flag; ``MISSING`` when not computed."""
    if x is None:
        return MISSING
    return yes if x else no


def fmt_int(x: int | None) -> str:
    """A count with thousands separators."""
    return MISSING if x is None else f"{x:,}"


def fmt_text(x: object) -> str:
    """Free metadata: ``None`` → ``MISSING``, lists joined, dicts as sorted ``k=v``."""
    if x is None:
        return MISSING
    if isinstance(x, float):
        return f"{x:g}"
    if isinstance(x, list | tuple):
        return ", ".join(fmt_text(v) for v in x) if x else MISSING
    if isinstance(x, Mapping):
        return _fmt_mapping(x)
    return str(x)


def _fmt_mapping(m: Mapping[str, Any]) -> str:
    if not m:
        return MISSING
    return ", ".join(f"{k}={json.dumps(m[k], sort_keys=True, ensure_ascii=False)}"
                     for k in sorted(m))


def fmt_seconds(x: float | None) -> str:
    """A duration."""
    if x is None:
        return MISSING
    return f"{x:,.1f} s"


__all__ = [
    "CARD_BADGES", "GATE_BADGES", "MISSING", "PP_DIGITS", "RATE_DIGITS", "STAT_DIGITS", "Badge",
    "card_badge", "fmt_bool", "fmt_ci", "fmt_cost", "fmt_int", "fmt_level", "fmt_num", "fmt_pp",
    "fmt_pp_ci", "fmt_rate", "fmt_seconds", "fmt_signed", "fmt_text", "gate_badge",
]
