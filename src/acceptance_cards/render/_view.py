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

from dataclasses import dataclass

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
    fmt_num,
    fmt_pp,
    fmt_rate,
    fmt_seconds,
    fmt_signed,
    fmt_text,
    gate_badge,
)
from ..card.model import Card, GapSummary
from ..diagnostics import GATE_NAMES, BootstrapGate, FreshGate, SignatureGate, TransferGate
from ..diagnostics.power import GatePower


@dataclass(frozen=True)
class Row:
    """A labelled value."""

    label: str
    value: str


@dataclass(frozen=True)
class GateView:
    """One gate: verdict badge, headline, every statistic, thresholds, rule and reason."""

    letter: str
    name: str
    badge: Badge
    headline: str
    stats: tuple[Row, ...]
    thresholds: tuple[Row, ...]
    rule: str
    reason: str


@dataclass(frozen=True)
class Section:
    """A titled group of labelled values."""

    title: str
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class Table:
    """A small table: a header and rows of cells."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


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
    malformed_cells: tuple[str, ...]
    setup: tuple[Section, ...]
    options: tuple[Row, ...]
    provenance: tuple[Row, ...]
    inputs: Table
    notes: tuple[str, ...]
    remarks: tuple[str, ...]
    allowed_claims: tuple[str, ...]
    legend: tuple[Badge, ...]


def _rows(*pairs: tuple[str, str]) -> tuple[Row, ...]:
    """Rows whose value was computed (a not-run gate shows its reason, not dashes)."""
    return tuple(Row(k, v) for k, v in pairs if v != MISSING)


def _pm(x: float | None, se: float | None) -> str:
    if x is None:
        return MISSING
    return fmt_signed(x) + ("" if se is None else f" \u00b1 {fmt_num(se)} (SE)")


def _check(x: float | None, k: float, se: float | None, ok: bool | None) -> str:
    if x is None or se is None:
        return MISSING
    return f"{fmt_signed(x + k * se)} ({'< 0: holds' if ok else '>= 0: fails'})"


def _power_rows(p: GatePower | None, symbol: str) -> tuple[tuple[str, str], ...]:
    """The power statistics a gate's details list (none when power was not computable)."""
    if p is None:
        return ()
    at = f"{fmt_level(p.power)} power, {fmt_level(p.ci_level)} level"
    return (
        (f"minimum detectable {symbol} ({at})", fmt_signed(p.mde)),
        (f"questions that detect the observed {symbol} ({at})", _questions(p)),
        ("\u03c3_d (sd of d_q over questions)", fmt_num(p.sd_d)),
        ("underpowered (|observed| < |minimum detectable|)", fmt_bool(p.underpowered)),
    )


def _questions(p: GatePower) -> str:
    return ("none (the observed change is not a reduction)" if p.questions_to_detect is None
            else fmt_int(p.questions_to_detect))


def _power_table(d: BootstrapGate, b: FreshGate) -> Table:
    """Power beside (a) and (b): what each design could detect, from the card's own records."""
    rows = []
    for letter, sym, p in (("a", "\u0394G", d.power), ("b", "\u0394", b.power)):
        if p is None:
            continue
        rows.append((f"({letter}) {GATE_NAMES[letter]}", f"{sym} = {fmt_signed(p.observed)}",
                     fmt_signed(p.mde), fmt_level(p.power), fmt_level(p.ci_level),
                     fmt_num(p.sd_d), fmt_int(p.n_questions), _questions(p),
                     "UNDERPOWERED" if p.underpowered else "no"))
    return Table(("gate", "observed", "minimum detectable", "power", "level", "\u03c3_d",
                  "questions", "questions to detect observed", "underpowered"), tuple(rows))


def _gate_a(g: BootstrapGate) -> GateView:
    level = fmt_level(g.ci_level)
    headline = MISSING if g.delta_gap is None else (
        f"\u0394G = {fmt_signed(g.delta_gap)}, {level} CI {fmt_ci(g.ci_low, g.ci_high)}")
    stats = _rows(
        ("\u0394G (defense - baseline gap)", fmt_signed(g.delta_gap)),
        (f"\u0394G {level} CI", fmt_ci(g.ci_low, g.ci_high)),
        ("\u0394deploy (cost, not gated)",
         fmt_cost(g.deploy_cost, g.deploy_cost_ci_low, g.deploy_cost_ci_high, g.ci_level)
         if g.deploy_cost is not None else MISSING),
        ("G baseline", fmt_signed(g.gap_baseline)),
        ("G defense", fmt_signed(g.gap_defense)),
        ("questions (clusters)", fmt_int(g.n_questions)),
        ("evaluations baseline / defense",
         MISSING if g.n_evaluations_baseline is None else
         f"{fmt_int(g.n_evaluations_baseline)} / {fmt_int(g.n_evaluations_defense)}"),
        ("resamples B", fmt_int(g.n_resamples)),
        ("degenerate resamples", fmt_int(g.n_degenerate_resamples)),
        ("resampled unit", fmt_text(g.unit)),
        ("seed", fmt_int(g.seed)),
        *_power_rows(g.power, "\u0394G"),
    )
    thresholds = _rows(("CI level", level), ("pass iff", "upper CI bound of \u0394G < 0"),
                       ("n/a below", f"{g.min_questions} question clusters"))
    return GateView("a", GATE_NAMES["a"], gate_badge(g.verdict), headline, stats, thresholds,
                    g.rule, g.reason)


def _gate_b(g: FreshGate) -> GateView:
    k = g.se_multiplier
    headline = MISSING if g.delta is None else (
        f"\u0394 = {fmt_signed(g.delta)}; paired check {fmt_bool(g.paired_check, yes='holds', no='fails')}"
        f", independent check {fmt_bool(g.independent_check, yes='holds', no='fails')}")
    stats = _rows(
        ("\u0394 (mean paired per-question change)", fmt_signed(g.delta)),
        ("SE paired", fmt_num(g.se_paired)),
        ("SE independent", fmt_num(g.se_independent)),
        ("SE quadrature (reported, not gated)", fmt_num(g.se_quadrature)),
        (f"\u0394 + {k:g}\u00b7SE paired", _check(g.delta, k, g.se_paired, g.paired_check)),
        (f"\u0394 + {k:g}\u00b7SE independent",
         _check(g.delta, k, g.se_independent, g.independent_check)),
        ("G baseline (fresh)", _pm(g.gap_baseline, g.se_gap_baseline)),
        ("G defense (fresh)", _pm(g.gap_defense, g.se_gap_defense)),
        ("fresh deploy-rate change (reported)", fmt_pp(g.deploy_cost)
         if g.deploy_cost is not None else MISSING),
        ("questions Q", fmt_int(g.n_questions)),
        ("evaluations per framing n", fmt_int(g.n_per_framing)),
        *_power_rows(g.power, "\u0394"),
    )
    thresholds = _rows(("SE multiplier k", f"{k:g}"),
                       ("pass iff", f"\u0394 + {k:g}\u00b7SE < 0 for both SEs "
                                    "(borderline: exactly one)"))
    return GateView("b", GATE_NAMES["b"], gate_badge(g.verdict), headline, stats, thresholds,
                    g.rule, g.reason)


def _gate_c(g: SignatureGate) -> GateView:
    rho_ci = MISSING if g.rho_ci is None else (
        f"{fmt_level(g.rho_ci_level)} CI {fmt_ci(*g.rho_ci)}")
    headline = (f"claimed {g.claimed_class}" if g.rho is None else
                f"\u03c1 = {fmt_signed(g.rho)}: signed {g.signed_class}, claimed {g.claimed_class}")
    stats = _rows(
        ("\u03c1_AT = \u03b1_A / \u03b1_T", fmt_signed(g.rho)),
        ("\u03c1 CI", rho_ci),
        ("\u03b1_T", fmt_signed(g.alpha_t)),
        ("\u03b1_A", fmt_signed(g.alpha_a)),
        ("\u27e8\u0394W, g_T\u27e9", fmt_signed(g.dot_t)),
        ("\u27e8\u0394W, g_A\u27e9", fmt_signed(g.dot_a)),
        ("\u2016g_T\u2016", fmt_num(g.norm_gt)),
        ("\u2016g_A\u2016", fmt_num(g.norm_ga)),
        ("\u2016\u0394W\u2016", fmt_num(g.norm_dw)),
        ("signed class", fmt_text(g.signed_class)),
        ("claimed class", g.claimed_class),
        ("slice (declared)", fmt_text(g.slice)),
        ("calibration items", fmt_int(g.n_calibration)),
    )
    thresholds = _rows(("\u03c4", f"{g.tau:g}"),
                       ("pass iff", "claimed class = signed class "
                                    "(|\u03c1| < \u03c4 \u21d2 attack-targeted)"))
    return GateView("c", GATE_NAMES["c"], gate_badge(g.verdict), headline, stats, thresholds,
                    g.rule, g.reason)


def _gate_d(g: TransferGate) -> GateView:
    k = g.se_multiplier
    headline = MISSING if g.installable is None else (
        f"installable: {fmt_bool(g.installable)}; degenerate: {fmt_bool(g.degenerate)}"
        + ("" if g.delta_cross is None else f"; \u0394_x = {fmt_signed(g.delta_cross)}"))
    rates = MISSING if g.baseline_rate_eval is None else (
        f"{fmt_rate(g.baseline_rate_eval)} / {fmt_rate(g.baseline_rate_deploy)}")
    stats = _rows(
        ("cross task", fmt_text(g.cross_task)),
        ("G_x baseline", _pm(g.baseline_gap, g.baseline_gap_se)),
        ("G_x defense", fmt_signed(g.defense_gap)),
        ("installable", fmt_bool(g.installable)),
        ("baseline rate eval / deploy", rates),
        ("degenerate", fmt_bool(g.degenerate)),
        ("\u0394_x (cross)", fmt_signed(g.delta_cross)),
        ("SE_x", fmt_num(g.se_cross)),
        ("\u0394_p (primary, from b)", fmt_signed(g.delta_primary)),
        ("SE_p", fmt_num(g.se_primary)),
        ("SE_comb", fmt_num(g.se_combined)),
        (f"reduction check (\u0394_x < 0, \u0394_x + {k:g}\u00b7SE_x < 0)",
         fmt_bool(g.reduction_check, yes="holds", no="fails")),
        (f"comparable check (|\u0394_x - \u0394_p| \u2264 {k:g}\u00b7SE_comb)",
         fmt_bool(g.comparable_check, yes="holds", no="fails")),
        ("questions", fmt_int(g.n_questions)),
        ("restricted recipe variant", fmt_bool(g.restricted_variant)),
    )
    thresholds = _rows(
        ("SE multiplier k", f"{k:g}"),
        ("degenerate outside", f"[{g.floor:g}, {g.ceiling:g}]"),
        ("pass iff", "installable, not degenerate, reduction and comparable checks hold"),
    )
    return GateView("d", GATE_NAMES["d"], gate_badge(g.verdict), headline, stats, thresholds,
                    g.rule, g.reason)


def _gap_row(role: str, gap: GapSummary) -> tuple[str, ...]:
    return (role, fmt_text(gap.cell), fmt_int(gap.n), fmt_int(gap.n_questions),
            fmt_signed(gap.point), fmt_ci(gap.ci_low, gap.ci_high), fmt_rate(gap.rate_eval),
            fmt_rate(gap.rate_deploy))


def _near_ties(share: float | None) -> str:
    """Share of decisions within numeric noise; records without margins say so (not 0)."""
    return "unknown (no margins)" if share is None else fmt_rate(share)


def card_view(card: Card) -> CardView:
    """Format every field a reader must see (pure; deterministic)."""
    d = card.diagnostics
    cost = card.deploy_cost
    level = fmt_level(cost.ci_level if cost.ci_level is not None else card.options.ci_level)
    gaps = Table(
        ("role", "cell", "n", "questions", "gap G", f"{level} CI", "rate eval", "rate deploy"),
        (_gap_row("baseline", card.baseline_gap), _gap_row("defense", card.defense_gap)),
    )
    capability = Table(
        ("cell", "deploy accuracy", "valid rate eval", "valid rate deploy",
         "gap from malformed output", "scorers", "near-tie decisions"),
        tuple((c.cell, fmt_rate(c.deploy_accuracy), fmt_rate(c.valid_rate_eval),
               fmt_rate(c.valid_rate_deploy),
               fmt_bool(c.gap_from_malformed, yes="YES: carried by non-answers", no="no"),
               fmt_text(c.scorers), _near_ties(c.near_tie_share)) for c in card.capability),
    )
    m, r, t, comp, o, p = (card.model, card.recipe, card.task, card.compute, card.options,
                           card.provenance)
    setup = (
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
            Row("subject overlap", fmt_text(t.subject_overlap) if t.subject_overlap else "none"),
            Row("split hash", fmt_text(t.split_hash)),
        )),
        Section("compute", (
            Row("device", fmt_text(comp.device)),
            Row("training time", fmt_seconds(comp.training_time_s)),
            Row("evaluation time", fmt_seconds(comp.eval_time_s)),
        )),
    )
    options = (
        Row("seed", str(o.seed)), Row("resamples", fmt_int(o.n_resamples)),
        Row("CI level", fmt_level(o.ci_level)), Row("\u03c4", f"{o.tau:g}"),
        Row("SE multiplier", f"{o.se_multiplier:g}"),
        Row("degenerate floor / ceiling", f"{o.degenerate_floor:g} / {o.degenerate_ceiling:g}"),
        Row("claimed class", o.claimed_class),
        Row("cross task restricted variant", fmt_bool(o.cross_restricted_variant)),
    )
    provenance = (
        Row("tool", f"{p.tool} {p.tool_version}"), Row("schema", card.schema_version),
        Row("artifact status", p.artifact_status),
    )
    unmet = ", ".join(f"({g}) {GATE_NAMES[g]}" for g in card.unmet) or "none"
    return CardView(
        title=f"Acceptance Card: {card.title}" if card.title else "Acceptance Card",
        badge=card_badge(card.verdict),
        verdict_rule=card.verdict_rule,
        claim_support=card.claim_support,
        summary=card.summary,
        unmet=unmet,
        gates=(_gate_a(d.a), _gate_b(d.b), _gate_c(d.c), _gate_d(d.d)),
        power=_power_table(d.a, d.b),
        cost=Row("deployment-accuracy cost \u0394deploy = defense - baseline (held-out; "
                 "negative = accuracy lost; reported beside the gates, never a gate)",
                 fmt_cost(cost.point, cost.ci_low, cost.ci_high, cost.ci_level)),
        cost_fresh=Row("deploy-rate change on the fresh split",
                       fmt_pp(cost.fresh_point) if cost.fresh_point is not None else MISSING),
        gaps=gaps,
        capability=capability,
        malformed_cells=tuple(c.cell for c in card.capability if c.gap_from_malformed),
        setup=setup,
        options=options,
        provenance=provenance,
        inputs=Table(("role", "path", "sha256"),
                     tuple((i.role, i.path, i.sha256) for i in p.inputs)),
        notes=tuple(card.notes),
        remarks=tuple(card.remarks),
        allowed_claims=tuple(allowed_phrases(card)),
        legend=tuple(GATE_BADGES.values()),
    )


__all__ = ["CardView", "GateView", "Row", "Section", "Table", "card_view"]
