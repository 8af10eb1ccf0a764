"""The conjunction rule and the card-level verdict (SPEC §3).

Card-level verdict, first rule that applies (reconstructed from the paper's
matrix and made total):

1. ``full-card pass`` — all four gates are ``pass``;
2. ``missing evidence`` — at least one gate is ``not run``;
3. ``near miss`` — at least one gate passes;
4. ``fail`` — no gate passes and at least one is ``fail`` or ``borderline``;
5. ``undefined`` — otherwise (every gate is ``n/a`` or ``pass-with-caveat``).

``borderline`` and ``pass-with-caveat`` never count as a pass. Missing or
undefined gates block the full card but are not evidence of failure.

Example:
    >>> conclude({"a": "pass", "b": "fail", "c": "pass", "d": "n/a"}).verdict
    'near miss'
    >>> conclude({"a": "pass", "b": "fail", "c": "pass", "d": "not run"}).summary
    '2 of 3 run diagnostics pass'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict

from .diagnostics._common import GATES, GateVerdict

CardVerdict = Literal["full-card pass", "near miss", "missing evidence", "fail", "undefined"]
CARD_VERDICTS: tuple[CardVerdict, ...] = (
    "full-card pass", "near miss", "missing evidence", "fail", "undefined"
)
ClaimSupport = Literal["full-card", "insufficient"]


class Conclusion(BaseModel):
    """The card-level outcome of four gate verdicts."""

    model_config = ConfigDict(frozen=True)

    verdict: CardVerdict
    claim_support: ClaimSupport
    passed: int
    run: int
    unmet: list[str]
    summary: str
    rule: str


def conclude(gates: Mapping[str, GateVerdict]) -> Conclusion:
    """Apply the conjunction to gate verdicts keyed ``a``–``d``."""
    missing = [g for g in GATES if g not in gates]
    if missing:
        raise ValueError(f"gate verdicts missing for {missing}: an absent gate is `not run`")
    states = [gates[g] for g in GATES]
    passed = sum(s == "pass" for s in states)
    run = sum(s != "not run" for s in states)
    unmet = [g for g in GATES if gates[g] != "pass"]
    verdict: CardVerdict
    if passed == len(GATES):
        verdict, rule = "full-card pass", "1: all four gates pass"
    elif "not run" in states:
        verdict, rule = "missing evidence", "2: at least one gate is not run"
    elif passed > 0:
        verdict, rule = "near miss", "3: at least one gate passes"
    elif any(s in ("fail", "borderline") for s in states):
        verdict, rule = "fail", "4: no gate passes and at least one fails or is borderline"
    else:
        verdict, rule = "undefined", "5: every gate is n/a or pass-with-caveat"
    return Conclusion(
        verdict=verdict,
        claim_support="full-card" if verdict == "full-card pass" else "insufficient",
        passed=passed,
        run=run,
        unmet=unmet,
        summary=f"{passed} of {run} run diagnostics pass",
        rule=rule,
    )
