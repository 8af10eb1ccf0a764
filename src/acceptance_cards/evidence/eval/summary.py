"""What a run's records say per scorer and framing, and how far two scorers agree.

``acard eval`` prints these after a run; ``acard eval-report`` for records files.
A file written with ``--scorer both`` holds each evaluation under both scorers:
:func:`by_scorer` splits it into one run per scorer.

Example:
    >>> recs = [{"scorer": "letter", "framing": "eval", "correct": 1, "valid": True,
    ...          "question_id": "q", "template_id": "t", "answer": "A"}]
    >>> summarize(recs)[0].accuracy
    1.0
    >>> scorer_agreement(recs, [dict(recs[0], scorer="option", answer="B")])
    (0.0, 1)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FramingSummary:
    """Rates for one (scorer, framing) of a run: the capability anchor of SPEC §8."""

    scorer: str
    framing: str
    n: int
    accuracy: float
    valid_rate: float


def summarize(records: Sequence[dict[str, Any]]) -> list[FramingSummary]:
    """Accuracy and well-formed-answer rate per (scorer, framing).

    Example:
        >>> summarize([{"scorer": "letter", "framing": "eval", "correct": 1, "valid": True}])
        [FramingSummary(scorer='letter', framing='eval', n=1, accuracy=1.0, valid_rate=1.0)]
    """
    acc: dict[tuple[str, str], list[tuple[float, bool]]] = {}
    for r in records:
        key = (str(r.get("scorer", "?")), str(r["framing"]))
        acc.setdefault(key, []).append((float(r["correct"]), bool(r.get("valid", True))))
    return [FramingSummary(s, f, len(v), sum(c for c, _ in v) / len(v),
                           sum(ok for _, ok in v) / len(v))
            for (s, f), v in sorted(acc.items())]


def by_scorer(records: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The records of each scorer, in the order the scorers first appear.

    Example:
        >>> list(by_scorer([{"scorer": "letter"}, {"scorer": "option"}, {"scorer": "letter"}]))
        ['letter', 'option']
    """
    out: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        out.setdefault(str(r.get("scorer", "?")), []).append(r)
    return out


def scorer_agreement(a: Sequence[dict[str, Any]], b: Sequence[dict[str, Any]]
                     ) -> tuple[float, int]:
    """Share of shared (question_id, template_id) evaluations where two runs chose the same letter."""
    from .scoring import agreement

    return agreement({(r["question_id"], r["template_id"]): r["answer"] for r in a},
                     {(r["question_id"], r["template_id"]): r["answer"] for r in b})
