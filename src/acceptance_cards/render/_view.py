"""The card as a reader sees it: one format-neutral view the three templates share.

:func:`card_view` turns a :class:`~acceptance_cards.card.model.Card` into plain,
already formatted strings (via :mod:`._format`) grouped the way every format
lays them out. Templates only arrange and escape; no template computes or
formats a number, so Markdown, HTML and LaTeX always show the same values.

Example:
    >>> from acceptance_cards.synthetic import example_card
    >>> v = card_view(example_card())
    >>> v.badge.text, v.summary, [g.badge.label for g in v.gates]
    ('\u2713 full-card pass', '4 of 4 run diagnostics pass', ['pass', 'pass', 'pass', 'pass'])
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from ..card.claims import allowed_phrases
from ..card.formatting import (
    GATE_BADGES,
    MISSING,
    Badge,
    card_badge,
    fmt_bool,
    fmt_ci,
    fmt_cost,
    fmt_int,
    fmt_level,
    fmt_pp,
    fmt_rate,
    fmt_seconds,
    fmt_signed,
    fmt_text,
)
from ..card.model import Card, CellCapability, GapSummary
from ..constants import NEAR_TIE_MARGIN
from ..diagnostics import GATE_NAMES
from ._evidence import EvidenceView, evidence_view
from ._gates import GateView, Row, Table, gate_views, power_table


@dataclass(frozen=True)
class Section:
    """A titled group of labelled values."""

    title: str
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class CardView:
    """Everything a rendered card shows, in reading order."""

    title: str
    badge: Badge
    verdict_rule: str
    claim_support: str
    summary: str
    unmet: str
    gates: tuple[GateView, ...]
    power: Table
    cost: Row
    cost_fresh: Row
    gaps: Table
    capability: Table
    capability_splits: Table
    scorer_agreement: Table
    scorer_notes: tuple[str, ...]
    malformed_cells: tuple[str, ...]
    setup: tuple[Section, ...]
    options: tuple[Row, ...]
    provenance: tuple[Row, ...]
    inputs: Table
    notes: tuple[str, ...]
    remarks: tuple[str, ...]
    allowed_claims: tuple[str, ...]
    legend: tuple[Badge, ...]
    evidence: EvidenceView


def _gap_row(role: str, gap: GapSummary) -> tuple[str, ...]:
    return (role, fmt_text(gap.cell), fmt_int(gap.n), fmt_int(gap.n_questions),
            fmt_signed(gap.point), fmt_ci(gap.ci_low, gap.ci_high), fmt_rate(gap.rate_eval),
            fmt_rate(gap.rate_deploy))


def _near_ties(share: float | None) -> str:
    """Share of decisions within numeric noise; records without margins say so (not 0)."""
    return "unknown (no margins)" if share is None else fmt_rate(share)


def _gaps_table(card: Card) -> Table:
    cost = card.deploy_cost
    level = fmt_level(cost.ci_level if cost.ci_level is not None else card.options.ci_level)
    return Table(
        ("role", "cell", "n", "questions", "gap G", f"{level} CI", "rate eval", "rate deploy"),
        (_gap_row("baseline", card.baseline_gap), _gap_row("defense", card.defense_gap)),
    )


def _cell_label(c: CellCapability) -> str:
    """The cell's name; a cross-task cell (often the same name) says so."""
    return c.cell if c.role in (None, "baseline", "defense") else (
        f"{c.cell} ({(c.role or '').replace('_', ' ')})")


def _non_answers(flag: bool | None) -> str:
    return fmt_bool(flag, yes="YES: carried by non-answers", no="no")


#: What the evaluator's own scorers can record (``acard eval --scorer``): read beside their
#: agreement, it says why a gap installed as abstention shows under one scorer only.
SCORER_READS: Final[Mapping[str, str]] = MappingProxyType({
    "letter": "letter: the most likely next letter A–D; a prompt whose most likely next token is "
              "no letter (the abstain attack's E, or prose) is a non-answer, never correct",
    "option": "option: the option text the model finds most likely as its reply; it always names "
              "one of the four, so it cannot record a non-answer, and a gap installed as "
              "abstention shows under the letter scorer only",
})


def _near_tie_header() -> str:
    """The near-tie column's header, with each scorer's margin bound (constants.NEAR_TIE_MARGIN)."""
    bounds = ", ".join(f"{m:g} {s}" for s, m in NEAR_TIE_MARGIN.items())
    return f"near-tie decisions (|margin| < {bounds})"


def _scorer_notes(card: Card) -> tuple[str, ...]:
    """:data:`SCORER_READS` of the scorers in the card's agreement rows, in first-seen order."""
    seen = dict.fromkeys(s for c in card.capability for a in c.scorer_agreement for s in a.scorers)
    return tuple(SCORER_READS[s] for s in seen if s in SCORER_READS)


def _capability_table(card: Card) -> Table:
    return Table(
        ("cell", "deploy accuracy", "valid rate eval", "valid rate deploy",
         "gap from malformed output", "scorers", _near_tie_header()),
        tuple((_cell_label(c), fmt_rate(c.deploy_accuracy), fmt_rate(c.valid_rate_eval),
               fmt_rate(c.valid_rate_deploy), _non_answers(c.gap_from_malformed),
               fmt_text(c.scorers), _near_ties(c.near_tie_share)) for c in card.capability),
    )


def _capability_splits(card: Card) -> Table:
    """The capability anchor on every split of every cell (SPEC §10)."""
    return Table(
        ("cell", "split", "questions", "deploy accuracy", "eval accuracy", "valid rate eval",
         "valid rate deploy", "gap from malformed output"),
        tuple((_cell_label(c), s.split, fmt_int(s.n_questions), fmt_rate(s.deploy_accuracy),
               fmt_rate(s.eval_accuracy), fmt_rate(s.valid_rate_eval),
               fmt_rate(s.valid_rate_deploy), _non_answers(s.gap_from_malformed))
              for c in card.capability for s in c.splits),
    )


def _scorer_agreement(card: Card) -> Table:
    """Two scorers on the same evaluations: agreement and the gap each gives (SPEC §8)."""
    return Table(
        ("cell", "split", "scorers (gates read the first)", "shared evaluations", "agreement",
         "compared on", "gap G per scorer"),
        tuple((_cell_label(c), a.split, " vs ".join(a.scorers), fmt_int(a.n),
               fmt_rate(a.agreement), a.basis, " vs ".join(fmt_signed(g) for g in a.gap_by_scorer))
              for c in card.capability for a in c.scorer_agreement),
    )


def _malformed(card: Card) -> tuple[str, ...]:
    """Cells (with the splits) whose gap is carried by non-answers.

    One parenthesis a cell: ``adamw-s42 (heldout, fresh)``, a cross cell
    ``adamw-s42 (cross baseline: fresh)``.
    """
    out = []
    for c in card.capability:
        splits = ", ".join(s.split for s in c.splits if s.gap_from_malformed)
        if not splits and not c.gap_from_malformed:
            continue
        role = None if c.role in (None, "baseline", "defense") else (c.role or "").replace("_", " ")
        said = ": ".join(x for x in (role, splits) if x)
        out.append(f"{c.cell} ({said})" if said else c.cell)
    return tuple(out)


def _setup(card: Card) -> tuple[Section, ...]:
    """Model, recipe, task and splits, compute: what the evidence came from."""
    m, r, t, comp = card.model, card.recipe, card.task, card.compute
    return (
        Section("model", (
            Row("family", fmt_text(m.family)),
            Row("base checkpoint", fmt_text(m.base_checkpoint)),
        )),
        Section("recipe", (
            Row("name", fmt_text(r.name)),
            Row("optimizer", fmt_text(r.optimizer)),
            Row("LoRA rank / alpha", f"{fmt_text(r.lora_rank)} / {fmt_text(r.lora_alpha)}"),
            Row("LoRA targets", fmt_text(r.target_modules)),
            Row("learning rate / steps", f"{fmt_text(r.learning_rate)} / {fmt_text(r.steps)}"),
            Row("attack variant", fmt_text(r.attack_variant)),
            Row("config", fmt_text(r.config_link)),
            Row("hyper-parameters", fmt_text(r.hyperparameters)),
        )),
        Section("task and splits", (
            Row("primary / cross task", f"{fmt_text(t.primary)} / {fmt_text(t.cross)}"),
            Row("train pool", fmt_text(t.train_pool)),
            Row("held-out subjects (a)", fmt_text(t.heldout_subjects)),
            Row("fresh subjects (b, d)", fmt_text(t.fresh_subjects)),
            Row("subject overlap, fresh vs held-out",
                fmt_text(t.subject_overlap) if t.subject_overlap else "none"),
            Row("split hash", fmt_text(t.split_hash)),
        )),
        Section("compute", (
            Row("device", fmt_text(comp.device)),
            Row("training time", fmt_seconds(comp.training_time_s)),
            Row("evaluation time", fmt_seconds(comp.eval_time_s)),
        )),
    )


def _options(card: Card) -> tuple[Row, ...]:
    o = card.options
    return (
        Row("seed", str(o.seed)), Row("resamples", fmt_int(o.n_resamples)),
        Row("CI level", fmt_level(o.ci_level)), Row("\u03c4", f"{o.tau:g}"),
        Row("SE multiplier", f"{o.se_multiplier:g}"),
        Row("degenerate floor / ceiling", f"{o.degenerate_floor:g} / {o.degenerate_ceiling:g}"),
        Row("claimed class", o.claimed_class),
        Row("cross task restricted variant", fmt_bool(o.cross_restricted_variant)),
    )


def _provenance(card: Card) -> tuple[Row, ...]:
    p = card.provenance
    return (
        Row("tool", f"{p.tool} {p.tool_version}"), Row("schema", card.schema_version),
        Row("artifact status", p.artifact_status),
    )


def card_view(card: Card) -> CardView:
    """Format every field a reader must see (pure; deterministic)."""
    cost, p = card.deploy_cost, card.provenance
    unmet = ", ".join(f"({g}) {GATE_NAMES[g]}" for g in card.unmet) or "none"
    return CardView(
        title=f"Acceptance Card: {card.title}" if card.title else "Acceptance Card",
        badge=card_badge(card.verdict),
        verdict_rule=card.verdict_rule,
        claim_support=card.claim_support,
        summary=card.summary,
        unmet=unmet,
        gates=gate_views(card.diagnostics),
        power=power_table(card.diagnostics.a, card.diagnostics.b),
        cost=Row("deployment-accuracy cost \u0394deploy = defense - baseline (held-out; "
                 "negative = accuracy lost; reported beside the gates, never a gate)",
                 fmt_cost(cost.point, cost.ci_low, cost.ci_high, cost.ci_level)),
        cost_fresh=Row("deploy-rate change on the fresh split",
                       fmt_pp(cost.fresh_point) if cost.fresh_point is not None else MISSING),
        gaps=_gaps_table(card),
        capability=_capability_table(card),
        capability_splits=_capability_splits(card),
        scorer_agreement=_scorer_agreement(card),
        scorer_notes=_scorer_notes(card),
        malformed_cells=_malformed(card),
        setup=_setup(card),
        options=_options(card),
        provenance=_provenance(card),
        inputs=Table(("role", "path", "sha256"),
                     tuple((i.role, i.path, i.sha256) for i in p.inputs)),
        notes=tuple(card.notes),
        remarks=tuple(card.remarks),
        allowed_claims=tuple(allowed_phrases(card)),
        legend=tuple(GATE_BADGES.values()),
        evidence=evidence_view(card),
    )


__all__ = ["CardView", "EvidenceView", "GateView", "Row", "Section", "Table", "card_view"]
