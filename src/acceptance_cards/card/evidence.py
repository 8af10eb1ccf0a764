"""What the card's evidence stands on: stand-ins, a recipe's own facts, calibration rulers.

Issue 15's standard: *every stand-in is stated on the card, not only in logs.*
An audit that had to replace part of the published protocol (the abstain attack
instead of the paper's wrong-answer attack on near-chance models; a SafeLoRA
reference fine-tune instead of a released aligned/unaligned pair) says so here,
with why and what it affects. The section also carries the facts a reviewer
needs to judge a recipe that transforms the update (SafeLoRA's reference
origin, ‖V‖_F, rank and per-layer share of the update kept) and the hashes of
the two calibration rulers (the recipe's base-model gradients vs gate (c)'s),
so "ρ ≈ 0 by construction" can be ruled out from the card alone.

Everything here is author-supplied metadata (``acard card --meta`` or the audit
runner): a card from imported logs has none of it. The section is hashed into
``provenance.metadata_sha256`` like the other author fields.

:class:`PermissiveRelabel` is computed, not supplied: when the evidence states
a recipe's permissive class (SafeLoRA: strict attack-targeted, permissive
shrinkage; SPEC §2c), the card carries gate (c) and the verdict under it too.
The strict verdict stays *the* card verdict.

Example:
    >>> ev = EvidenceProvenance(stand_ins=[StandIn(what="abstain attack", why="near chance",
    ...                                            affects="gates (a)-(d)")],
    ...                         permissive_class="shrinkage")
    >>> ev.stand_ins[0].what, ev.permissive_class
    ('abstain attack', 'shrinkage')
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..diagnostics import SignatureGate
from ..vocab import MechanismClass
from .verdict import CardVerdict

__all__ = ["CalibrationRulers", "EvidenceProvenance", "KeptShare", "PermissiveRelabel",
           "ProjectedLayer",
           "SafeLoRAFacts", "StandIn", "calibration_notes"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StandIn(_Frozen):
    """One part of the evidence that replaces what the published protocol uses."""

    what: str = Field(description="What stands in, e.g. `abstain attack`.")
    why: str = Field(description="Why the published part could not be used.")
    affects: str = Field(description="Which gates / figures of this card it affects.")


class ProjectedLayer(_Frozen):
    """One matrix SafeLoRA considered: cosine and share of the update norm kept."""

    name: str = Field(description="Parameter name of the matrix.")
    cos: float = Field(description="cos(C·B·A, B·A): similarity of the projected to the trained update.")
    kept: float = Field(description="‖C·B·A‖ / ‖B·A‖: share of the update's norm the projection keeps.")
    projected: bool = Field(True, description="Whether the projection replaced this matrix's update.")


class SafeLoRAFacts(_Frozen):
    """What SafeLoRA's projection did on this cell (the recipe's own record)."""

    reference_origin: str = Field(
        description="Where V = W_aligned − W_unaligned came from: a checkpoint pair, or a "
        "stand-in fine-tune.")
    v_norm: float | None = Field(None, description="‖V‖_F over the slice.")
    v_rank: int | None = Field(None, description="Largest numerical rank of V over the matrices.")
    reference_steps: int | None = Field(
        None, description="Steps of the stand-in reference fine-tune (none for a checkpoint pair).")
    selection: str | None = Field(
        None, description="`threshold` (cos ≤ value) or `number` (the value least similar).")
    selection_value: float | None = Field(None, description="The threshold or the count.")
    projection: str | None = Field(
        None, description="`official` (C = V·Vᵀ/‖V‖_F, IBM's code) or `orthogonal` (projector "
        "onto span(V)).")
    n_matrices: int | None = Field(None, description="Matrices considered (the slice).")
    layers: list[ProjectedLayer] = Field(
        default_factory=list, description="Per projected matrix: cosine and share of the update kept.")


@dataclass(frozen=True)
class KeptShare:
    """How many matrices SafeLoRA projected and the share of the update norm each kept."""

    considered: int | None
    projected: int
    median: float | None
    low: float | None
    high: float | None

    @classmethod
    def of(cls, f: SafeLoRAFacts) -> KeptShare:
        """Summarise ``f``'s projected layers (no layers recorded: no shares).

        Example:
            >>> f = SafeLoRAFacts(reference_origin="stand-in", n_matrices=3, layers=[
            ...     ProjectedLayer(name="a", cos=0.2, kept=0.05),
            ...     ProjectedLayer(name="b", cos=0.9, kept=1.0, projected=False),
            ...     ProjectedLayer(name="c", cos=0.1, kept=0.25)])
            >>> k = KeptShare.of(f)
            >>> k.projected, k.considered, k.median, k.low, k.high
            (2, 3, 0.15, 0.05, 0.25)
        """
        kept = [x.kept for x in f.layers if x.projected]
        considered = f.n_matrices if f.n_matrices is not None else (len(f.layers) or None)
        if not kept:
            return cls(considered, 0, None, None, None)
        return cls(considered, len(kept), statistics.median(kept), min(kept), max(kept))


class CalibrationRulers(_Frozen):
    """The items base-model gradients were taken over: the recipe's and gate (c)'s."""

    gate_hash: str | None = Field(None, description="Hash of gate (c)'s calibration items.")
    gate_n: int | None = Field(None, description="Gate (c)'s calibration items.")
    recipe_hash: str | None = Field(
        None, description="Hash of the items the recipe's base-model gradients used (none: the "
        "recipe reads no base-model gradients).")
    recipe_n: int | None = Field(None, description="The recipe's calibration items.")
    disjoint: bool | None = Field(
        None, description="The two sets share no item (checked when the evidence was computed).")

    def same_items(self) -> bool:
        """Both hashes stated and equal: the recipe and gate (c) used one calibration set."""
        return self.gate_hash is not None and self.gate_hash == self.recipe_hash

    @model_validator(mode="after")
    def _disjoint_needs_two_sets(self) -> CalibrationRulers:
        """``disjoint`` with equal hashes contradicts itself (SPEC §10: the hashes must differ)."""
        if self.disjoint and self.same_items():
            raise ValueError("disjoint is true but gate_hash equals recipe_hash: one set of "
                             "calibration items cannot be disjoint from itself")
        return self


def calibration_notes(evidence: EvidenceProvenance | None) -> list[str]:
    """A card note when the recipe and gate (c) measured with the same calibration items.

    Example:
        >>> ev = EvidenceProvenance(calibration=CalibrationRulers(gate_hash="ab", recipe_hash="ab"))
        >>> calibration_notes(ev)[0].startswith("The recipe's calibration items")
        True
        >>> calibration_notes(None)
        []
    """
    cal = evidence.calibration if evidence is not None else None
    if cal is None or not cal.same_items():
        return []
    return ["The recipe's calibration items and gate (c)'s have the same hash: the recipe's "
            "base-model gradients and gate (c) use one ruler, so (c) does not measure the "
            "recipe independently (SPEC §10: the two hashes must differ)."]


class EvidenceProvenance(_Frozen):
    """Stand-ins, a recipe's own facts and the calibration rulers (all optional)."""

    stand_ins: list[StandIn] = Field(
        default_factory=list, description="Every part of the evidence that stands in for the "
        "published protocol, with why and what it affects.")
    permissive_class: MechanismClass | None = Field(
        None, description="The recipe's class under a permissive relabel (SafeLoRA: shrinkage); "
        "the card then also carries gate (c) and the verdict under it (`relabel`).")
    safelora: SafeLoRAFacts | None = Field(None, description="SafeLoRA's projection facts.")
    calibration: CalibrationRulers | None = Field(
        None, description="Hashes of the recipe's and gate (c)'s calibration items.")


class PermissiveRelabel(_Frozen):
    """Gate (c) and the card verdict under the permissive class (the strict verdict stays)."""

    claimed_class: MechanismClass = Field(description="The permissive class gate (c) is run with.")
    c: SignatureGate = Field(description="Gate (c) under that class (same ρ).")
    verdict: CardVerdict = Field(description="Card verdict with this (c) and the other three gates.")
    passed: int
    run: int
    unmet: list[str]
    summary: str
    verdict_rule: str
