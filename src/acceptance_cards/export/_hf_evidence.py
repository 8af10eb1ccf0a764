"""The card's evidence provenance in the Hugging Face export: stand-ins, SafeLoRA, rulers, relabel.

Part of :mod:`acceptance_cards.export.huggingface`. Issue 15's standard: every
stand-in is stated on the card, not only in logs, and a model card published
from it must say so too. The section gets:

* the **permissive relabel** beside the strict verdict (:func:`relabel_line`);
* every **stand-in** (what / why / affects, :func:`stand_in_lines`), quoted
  from the card's evidence;
* **SafeLoRA's facts** as a summary (reference origin, ‖V‖_F, rank, reference
  steps, selection mode and value, projection, matrices projected and the
  median / min / max share of the update norm kept): the per-layer table stays
  on the card (:func:`fact_lines`);
* both **calibration hashes** (gate (c)'s and the recipe's) and whether the
  two sets are disjoint.

The ``acceptance_card`` metadata carries the same facts as data
(:func:`evidence_metadata`). A card that states no evidence gets nothing here.

Example:
    >>> from acceptance_cards.synthetic import example_card
    >>> stand_in_lines(example_card()), evidence_metadata(example_card())
    ([], {})
"""

from __future__ import annotations

from typing import Any

from ..card.claims import STAND_IN, lint_claim
from ..card.evidence import CalibrationRulers, KeptShare, SafeLoRAFacts
from ..card.formatting import (
    card_badge,
    fmt_bool,
    fmt_int,
    fmt_num,
    fmt_rate,
    fmt_text,
    gate_badge,
)
from ..card.model import Card
from ._hf_text import cell, code


def relabel_line(card: Card) -> list[str]:
    """The permissive relabel's (c) and verdict, beside the strict one (none: no relabel).

    The relabelled verdict is a code span: it is the card's computed value, not
    the section's claim (a relabel may read ``full-card pass`` where the strict
    verdict does not).
    """
    r = card.relabel
    if r is None:
        return []
    return [f"Permissive relabel (SPEC §2c; claimed class `{r.claimed_class}`): gate (c) "
            f"`{gate_badge(r.c.verdict).text}`, verdict `{card_badge(r.verdict).text}` "
            f"({r.summary}). The strict verdict above stays the card's verdict.", ""]


def stand_in_lines(card: Card) -> list[str]:
    """The stand-ins as a table, quoted from the card's evidence (none: no lines).

    The table is the card's statement, not the section's wording: a stand-in
    names the part it replaces ("the paper's wrong-answer attack"), so the
    section's self-lint skips it (:data:`STAND_IN_INTRO` is linted). Each row is
    linted like the author's title and remarks, save the ``stand-in`` rule (naming
    the replaced part is the row's purpose); a finding is shown under the table.
    """
    ev = card.evidence
    if ev is None or not ev.stand_ins:
        return []
    rows = [f"| {cell(s.what)} | {cell(s.why)} | {cell(s.affects)} |" for s in ev.stand_ins]
    warnings = [f"- ⚠ stand-in {i}: {code(f.phrase)} exceeds this evidence ({f.rule}); say "
                f"instead: {f.suggestion}"
                for i, s in enumerate(ev.stand_ins, 1)
                for f in lint_claim(card, "\n".join((s.what, s.why, s.affects)),
                                    without=(STAND_IN.id,)).findings]
    return ["| stand-in | why | affects |", "|---|---|---|", *rows, "",
            *warnings, *([""] if warnings else [])]


#: The line before the stand-in table (the section's own wording: it is linted).
STAND_IN_INTRO = ("Stand-ins: each row replaces a part of the paper's method, in the card's "
                  "own words.")


def _safelora(f: SafeLoRAFacts) -> list[str]:
    k = KeptShare.of(f)
    steps = (f"{fmt_int(f.reference_steps)} reference steps" if f.reference_steps is not None
             else "no reference training steps")
    share = (f"median {fmt_rate(k.median)} (min {fmt_rate(k.low)}, max {fmt_rate(k.high)})"
             if k.median is not None else fmt_text(None))
    return [f"- SafeLoRA reference: {code(f.reference_origin)}; ‖V‖_F {fmt_num(f.v_norm)}, "
            f"rank {fmt_int(f.v_rank)}, {steps}.",
            f"- SafeLoRA projection: {code(fmt_text(f.projection))}, selection "
            f"{code(fmt_text(f.selection))} {fmt_text(f.selection_value)}; {k.projected} of "
            f"{fmt_int(k.considered)} matrices projected; share of the update norm kept: {share} "
            "(the per-matrix figures are on the card)."]


def _rulers(c: CalibrationRulers) -> str:
    recipe = ("none (the recipe reads no base-model gradients)" if c.recipe_hash is None
              else f"{code(c.recipe_hash)} ({fmt_int(c.recipe_n)} items)")
    # one ruler only: nothing to be disjoint from
    disjoint = "n/a (one ruler)" if c.recipe_hash is None and c.disjoint is None else fmt_bool(c.disjoint)
    return (f"- Calibration items: gate (c) {code(fmt_text(c.gate_hash))} ({fmt_int(c.gate_n)} items); "
            f"recipe's base-model gradients {recipe}; disjoint: {disjoint}.")


def fact_lines(card: Card) -> list[str]:
    """SafeLoRA's facts summary and the calibration rulers (none stated: no lines)."""
    ev = card.evidence
    if ev is None or (ev.safelora is None and ev.calibration is None):
        return []
    out = _safelora(ev.safelora) if ev.safelora is not None else []
    if ev.calibration is not None:
        out.append(_rulers(ev.calibration))
    return [*out, ""]


def evidence_metadata(card: Card) -> dict[str, Any]:
    """The ``evidence`` and ``relabel`` keys of the ``acceptance_card`` metadata (or none)."""
    out: dict[str, Any] = {}
    ev = card.evidence
    if ev is not None:
        stated: dict[str, Any] = {"stand_ins": [s.model_dump() for s in ev.stand_ins]}
        if ev.permissive_class is not None:
            stated["permissive_class"] = ev.permissive_class
        if ev.safelora is not None:
            f, k = ev.safelora, KeptShare.of(ev.safelora)
            stated["safelora"] = {
                **f.model_dump(exclude={"layers", "n_matrices"}), "n_matrices": k.considered,
                "n_projected": k.projected, "kept_median": k.median, "kept_min": k.low,
                "kept_max": k.high}
        if ev.calibration is not None:
            stated["calibration"] = ev.calibration.model_dump()
        out["evidence"] = stated
    r = card.relabel
    if r is not None:
        out["relabel"] = {"claimed_class": r.claimed_class, "c": r.c.verdict,
                          "verdict": r.verdict, "passed": r.passed, "run": r.run,
                          "unmet": list(r.unmet), "summary": r.summary}
    return out


__all__ = ["STAND_IN_INTRO", "evidence_metadata", "fact_lines", "relabel_line", "stand_in_lines"]
