"""The four gates as a reader sees them: badge, headline, statistics, thresholds, rule.

Part of the card view (:mod:`._view`): each ``_gate_x`` formats one gate's
result into labelled, already formatted strings; :func:`power_table` puts the
power of (a) and (b) side by side.

Example:
    >>> from acceptance_cards.synthetic import example_card
    >>> gate_views(example_card().diagnostics)[0].headline.startswith("\u0394G = ")
    True
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..card.formatting import (
    MISSING,
    Badge,
    fmt_bool,
    fmt_ci,
    fmt_cost,
    fmt_int,
    fmt_level,
    fmt_num,
    fmt_pp,
    fmt_rate,
    fmt_signed,
    fmt_text,
    gate_badge,
)
from ..card.model import Diagnostics
from ..diagnostics import GATE_NAMES, BootstrapGate, FreshGate, SignatureGate, TransferGate
from ..diagnostics.power import GatePower


@dataclass(frozen=True)
class Row:
    """A labelled value."""

    label: str
    value: str


@dataclass(frozen=True)
class Table:
    """A small table: a header and rows of cells."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


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


def power_table(d: BootstrapGate, b: FreshGate) -> Table:
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


_LAYER = re.compile(r"(?<=\.)(\d+)(?=\.)")


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders numbers inside names by value (layer 2 before layer 10).

    Example:
        >>> sorted(["l.10.q", "l.2.q", "l.1.v"], key=natural_key)
        ['l.1.v', 'l.2.q', 'l.10.q']
    """
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", name) if p)


def _ranges(nums: list[int]) -> str:
    """``[0, 1, 2, 5]`` → ``"0–2, 5"``."""
    out, start = [], nums[0]
    for prev, cur in zip(nums, [*nums[1:], None], strict=True):
        if cur != prev + 1:
            out.append(str(start) if start == prev else f"{start}\u2013{prev}")
            start = cur if cur is not None else start
    return ", ".join(out)


def fmt_slice(names: list[str] | None) -> str:
    """A parameter slice, layers folded: one line per module pattern with its layer ranges.

    Example:
        >>> fmt_slice([f"model.layers.{i}.self_attn.{m}.weight" for i in (0, 1, 2, 7)
        ...            for m in ("q_proj", "v_proj")])[-37:]
        'v_proj.weight (8 tensors; N = 0–2, 7)'
    """
    if not names or len(names) == 1:
        return fmt_text(names)
    layers: dict[str, set[int]] = {}
    for name in names:
        nums = _LAYER.findall(name)
        if len(nums) != 1:  # no single layer index to fold: list it as it is
            layers.setdefault(name, set())
            continue
        layers.setdefault(_LAYER.sub("N", name), set()).add(int(nums[0]))
    spans = {frozenset(v) for v in layers.values() if v}
    if len(spans) != 1 or any(len(v) < 2 for v in layers.values()):
        return fmt_text(names)  # patterns over different layers or one layer: nothing to fold
    (span,) = spans
    return f"{', '.join(layers)} ({len(set(names))} tensors; N = {_ranges(sorted(span))})"


def _gate_c(g: SignatureGate) -> GateView:
    # the bootstrap resamples calibration items: it says nothing of the spread over training seeds
    rho_ci = MISSING if g.rho_ci is None else (
        f"{fmt_level(g.rho_ci_level)} CI {fmt_ci(*g.rho_ci)} (calibration items resampled; "
        "not over training seeds)")
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
        ("slice (declared)", fmt_slice(g.slice)),
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


def gate_views(d: Diagnostics) -> tuple[GateView, ...]:
    """The four gates, (a) to (d)."""
    return (_gate_a(d.a), _gate_b(d.b), _gate_c(d.c), _gate_d(d.d))


__all__ = ["GateView", "Row", "Table", "gate_views", "power_table"]
