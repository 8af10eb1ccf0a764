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

**Order of verdict levels** (:data:`VERDICT_ORDER`, strongest support first;
what ``acard card --require`` and ``acard check --require`` compare against):
``full-card pass`` > ``near miss`` > ``missing evidence`` > ``undefined`` >
``fail``. This is not the precedence above (which decides *which* verdict a
card gets) but how much the card supports the claim: a near miss has every
gate run and at least one passing; missing evidence may still go either way
once the missing gate is run; undefined decided nothing; fail is evidence
against the claim. So ``--require near-miss`` accepts a full-card pass or a
near miss and rejects a card with a gate not run.

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

from ..diagnostics._common import GATES
from ..vocab import CARD_VERDICTS as CARD_VERDICTS  # re-exported: public before `vocab` owned it
from ..vocab import CardVerdict as CardVerdict
from ..vocab import GateVerdict

ClaimSupport = Literal["full-card", "insufficient"]

#: Card verdicts from the strongest support for the claim to the weakest (module docstring).
VERDICT_ORDER: tuple[CardVerdict, ...] = (
    "full-card pass", "near miss", "missing evidence", "undefined", "fail"
)

#: Command-line spelling of each level (``--require near-miss``).
LEVEL_NAMES: dict[str, CardVerdict] = {v.replace(" pass", "").replace(" ", "-"): v
                                       for v in VERDICT_ORDER}


def meets(verdict: CardVerdict, required: CardVerdict) -> bool:
    """True when ``verdict`` is at or above ``required`` in :data:`VERDICT_ORDER`.

    Example:
        >>> meets("full-card pass", "near miss"), meets("missing evidence", "near miss")
        (True, False)
    """
    return VERDICT_ORDER.index(verdict) <= VERDICT_ORDER.index(required)


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
