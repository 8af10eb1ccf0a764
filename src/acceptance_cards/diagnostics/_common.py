"""Gate verdict vocabulary shared by the four diagnostics (SPEC §2, §9)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

GateVerdict = Literal["pass", "fail", "borderline", "n/a", "pass-with-caveat", "not run"]
#: Every gate verdict string, in the order tables list them.
GATE_VERDICTS: tuple[GateVerdict, ...] = (
    "pass", "fail", "borderline", "n/a", "pass-with-caveat", "not run"
)
GATES: tuple[str, ...] = ("a", "b", "c", "d")
GATE_NAMES: dict[str, str] = {
    "a": "question-clustered bootstrap",
    "b": "fresh-semantic reevaluation",
    "c": "parameter-space signature",
    "d": "cross-task transfer",
}


class GateResult(BaseModel):
    """Fields every gate result carries."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    verdict: GateVerdict
    reason: str
