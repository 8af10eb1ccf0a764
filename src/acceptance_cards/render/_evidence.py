"""The card's evidence provenance as a reader sees it: stand-ins, recipe facts, rulers, relabel.

Part of the card view (:mod:`._view`). Everything is optional on a card, so
each piece is empty (``None`` or no rows) when the card states nothing, and the
templates then show no block at all (a card from imported logs looks as before).

Example:
    >>> from acceptance_cards.synthetic import example_card
    >>> ev = evidence_view(example_card())
    >>> ev.present, ev.relabel
    (False, None)
"""

from __future__ import annotations

from dataclasses import dataclass

from ..card.evidence import CalibrationRulers, KeptShare, PermissiveRelabel, SafeLoRAFacts
from ..card.formatting import (
    MISSING,
    card_badge,
    fmt_bool,
    fmt_int,
    fmt_num,
    fmt_rate,
    fmt_text,
    gate_badge,
)
from ..card.model import Card
from ._gates import Row, Table, natural_key


@dataclass(frozen=True)
class EvidenceView:
    """Stand-ins, the recipe's own facts and the calibration rulers, formatted."""

    stand_ins: Table
    facts: tuple[Row, ...]
    layers: Table
    relabel: Row | None

    @property
    def present(self) -> bool:
        """Whether the card states any of it (else no block is rendered)."""
        return bool(self.stand_ins.rows or self.facts or self.layers.rows or self.relabel)


def _relabel(r: PermissiveRelabel | None) -> Row | None:
    """The permissive relabel beside the strict verdict: (c) and the verdict under it."""
    if r is None:
        return None
    return Row(f"Permissive relabel (claimed {r.claimed_class})",
               f"(c) {gate_badge(r.c.verdict).text}: {r.c.reason}; verdict "
               f"{card_badge(r.verdict).text} ({r.summary}). The strict verdict stays the "
               "card's verdict.")


def _safelora(f: SafeLoRAFacts) -> tuple[Row, ...]:
    k = KeptShare.of(f)
    share = (f"median {fmt_rate(k.median)} (min {fmt_rate(k.low)}, max {fmt_rate(k.high)})"
             if k.median is not None else MISSING)
    steps = f"{f.reference_steps} steps" if f.reference_steps is not None else "no training steps"
    return (
        Row("SafeLoRA reference", f"{f.reference_origin}; ‖V‖_F {fmt_num(f.v_norm)}, rank "
            f"{fmt_int(f.v_rank)}, {steps}"),
        Row("SafeLoRA projection", f"{fmt_text(f.projection)}; selection {fmt_text(f.selection)} "
            f"{fmt_text(f.selection_value)}; {k.projected} of {fmt_int(k.considered)} matrices "
            f"projected; share of the update norm kept: {share}"),
    )


def _rulers(c: CalibrationRulers) -> Row:
    recipe = ("none (the recipe reads no base-model gradients)" if c.recipe_hash is None
              else f"{c.recipe_hash} ({fmt_int(c.recipe_n)} items)")
    # one ruler only: nothing to be disjoint from
    disjoint = "n/a (one ruler)" if c.recipe_hash is None and c.disjoint is None else fmt_bool(c.disjoint)
    return Row("Calibration items", f"gate (c): {fmt_text(c.gate_hash)} ({fmt_int(c.gate_n)} items); "
               f"recipe's gradients: {recipe}; disjoint: {disjoint}")


def evidence_view(card: Card) -> EvidenceView:
    """Format the card's evidence section and relabel (empty when it states none)."""
    ev = card.evidence
    none = Table((), ())
    if ev is None:
        return EvidenceView(none, (), none, _relabel(card.relabel))
    facts: tuple[Row, ...] = ()
    layers = none
    if ev.safelora is not None:
        facts += _safelora(ev.safelora)
        layers = Table(("projected matrix", "cos", "share of update norm kept"),
                       tuple((x.name, fmt_num(x.cos), fmt_rate(x.kept))
                             for x in sorted(ev.safelora.layers, key=lambda x: natural_key(x.name))
                             if x.projected))
    if ev.calibration is not None:
        facts += (_rulers(ev.calibration),)
    return EvidenceView(
        stand_ins=Table(("stand-in", "why", "affects"),
                        tuple((s.what, s.why, s.affects) for s in ev.stand_ins)),
        facts=facts, layers=layers, relabel=_relabel(card.relabel))


__all__ = ["EvidenceView", "evidence_view"]
