"""Gate verdict vocabulary shared by the four diagnostics (SPEC §2, §9)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

# the vocabulary is owned by `vocab`; re-exported here, where the gates have always offered it
from ..vocab import GATE_VERDICTS, GateVerdict

__all__ = ["GATES", "GATE_NAMES", "GATE_VERDICTS", "GateResult", "GateVerdict"]

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
