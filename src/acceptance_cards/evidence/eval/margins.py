"""Decision margins across numeric precisions: which decisions are near-ties.

Our evaluator writes, with every record, the fp32 ``margin`` of its decision
(the chosen outcome's score minus the runner-up's; see :mod:`.scoring`). Two
runs of the same prompts in different precisions (bf16 vs fp32) or on CPUs
with different bf16 kernels can disagree only where that margin is within the
numeric noise. :func:`compare_margins` pairs two runs' records and reports
every disagreement with both margins and the per-record *margin noise*:

* same decision: ``|margin_a - margin_b|`` (how far the lead moved);
* different decision: ``margin_a + margin_b`` (the lead of a's choice over b's
  moved from ``+margin_a`` to ``-margin_b``; exact when each run's runner-up is
  the other's choice).

A decision can flip between two bf16 machines only if its margin is below the
sum of both machines' noise against fp32, so the documented bound
:data:`acceptance_cards.constants.NEAR_TIE_MARGIN` is set from twice the
largest noise measured here (``benchmarks/margin_noise.py``).

Example:
    >>> a = [{"question_id": "q", "template_id": "t", "scorer": "letter", "answer": "A",
    ...       "valid": True, "margin": 0.02}]
    >>> b = [dict(a[0], answer="C", margin=0.01)]
    >>> cmp = compare_margins(a, b)
    >>> cmp.n, len(cmp.flips), round(cmp.max_noise, 6)
    (1, 1, 0.03)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: The letter scorer's outcome for a record whose top token is not a letter.
NO_LETTER = "no letter"


def decision(rec: dict[str, Any]) -> str:
    """The outcome a record's margin is about: the letter, or "no letter" (letter scorer).

    Example:
        >>> decision({"scorer": "letter", "answer": "B", "valid": False})
        'no letter'
        >>> decision({"scorer": "option", "answer": "B", "valid": False})
        'B'
    """
    if rec.get("scorer", "letter") == "letter" and not rec.get("valid", True):
        return NO_LETTER
    return str(rec["answer"])


@dataclass(frozen=True)
class Flip:
    """One evaluation on which two runs decided differently."""

    question_id: str
    template_id: str
    decision_a: str
    decision_b: str
    margin_a: float
    margin_b: float


@dataclass(frozen=True)
class MarginComparison:
    """Two runs of the same prompts, paired by (question_id, template_id)."""

    n: int
    flips: tuple[Flip, ...]
    max_noise: float
    max_flip_margin: float  # the larger of the two margins, over flips; 0 when none
    margins_a: tuple[float, ...]
    margins_b: tuple[float, ...]

    def near_tie_share(self, bound: float, *, side: str = "a") -> float:
        """Share of run ``side``'s (``"a"`` or ``"b"``) decisions with margin below ``bound``."""
        margins = self.margins_a if side == "a" else self.margins_b
        return sum(m < bound for m in margins) / len(margins) if margins else float("nan")


def compare_margins(a: Sequence[dict[str, Any]], b: Sequence[dict[str, Any]]
                    ) -> MarginComparison:
    """Pair two runs' records and report every disagreement with its margins.

    Raises:
        ValueError: a shared record has no ``margin`` (records of another tool).
    """
    bk = {(r["question_id"], r["template_id"]): r for r in b}
    flips: list[Flip] = []
    noise: list[float] = []
    ma: list[float] = []
    mb: list[float] = []
    for ra in a:
        rb = bk.get((ra["question_id"], ra["template_id"]))
        if rb is None:
            continue
        if "margin" not in ra or "margin" not in rb:
            raise ValueError(f"record {ra['question_id']}/{ra['template_id']} has no margin")
        x, y = float(ra["margin"]), float(rb["margin"])
        ma.append(x)
        mb.append(y)
        da, db = decision(ra), decision(rb)
        if da == db:
            noise.append(abs(x - y))
        else:
            noise.append(x + y)
            flips.append(Flip(ra["question_id"], ra["template_id"], da, db, x, y))
    return MarginComparison(
        n=len(noise), flips=tuple(flips), max_noise=max(noise, default=0.0),
        max_flip_margin=max((max(f.margin_a, f.margin_b) for f in flips), default=0.0),
        margins_a=tuple(ma), margins_b=tuple(mb),
    )
