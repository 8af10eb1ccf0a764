"""Power on every card: the minimum detectable ΔG of (a) and (b), checked by direct simulation.

The simulation takes a card's own question-level evidence as the population
(each question's per-framing sums and counts, the defense's eval sums shifted so
that the population's ΔG is the value under test, which keeps the per-question
variance as observed), draws designs of Q questions with replacement and runs
the gate's **own** statistics on each: gate (a)'s percentile bootstrap, gate (b)'s
two signed 2-SE checks. The share of designs that pass should be the 80 % the
power calculation promises.

Measured (seeded; 1,200 designs, B = 1,000; sampling SE of a share ≈ 0.012), on
the seed-7 "null" card: (a) 0.800 at its MDE (−0.1167, Q = 48); (b) 0.817 at its
MDE (−0.1543, Q = 150); (b) 0.783 with the 562 questions the card names for an
observed Δ of −0.08. Skewed per-question differences make the percentile
bootstrap a little more liberal than the normal formula (seed 42's "null" card,
skewness −0.67: 0.86), so the tests use near-symmetric cards.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from acceptance_cards.card.build import build_card
from acceptance_cards.card.claims import lint_claim
from acceptance_cards.card.model import Card, CardOptions
from acceptance_cards.clusters import DEFENSE, EVAL, PairedTable, paired_table
from acceptance_cards.constants import POWER
from acceptance_cards.diagnostics.fresh_reevaluation import gate_from_stats
from acceptance_cards.diagnostics.power import bootstrap_power, fresh_power
from acceptance_cards.render import render_html, render_latex, render_markdown
from acceptance_cards.stats.bootstrap import bootstrap_draws, percentile_ci
from acceptance_cards.stats.power import (
    minimum_detectable_effect,
    questions_for_power,
    questions_to_detect,
)
from acceptance_cards.stats.standard_errors import paired_standard_errors
from acceptance_cards.synthetic import simulate_pair

#: Simulated designs per check and the tolerance on the share that passes (≈ 3 SE).
N_DESIGNS = 1200
TOLERANCE = 0.04


def _card(seed: int, scenario: str) -> Card:
    b, d = simulate_pair(seed=seed, scenario=scenario)
    return build_card(b, d, options=CardOptions(seed=0, n_resamples=1000))


def _population(table: PairedTable, *, observed: float, target: float) -> PairedTable:
    """The card's questions with every d_q shifted by ``target − observed`` (variance kept)."""
    sums = table.sums.copy()
    # raising the defense's eval rate by s lowers G_defense, hence ΔG and every d_q, by s
    sums[:, DEFENSE, EVAL] += (observed - target) * table.counts[:, DEFENSE, EVAL]
    return PairedTable(table.ids, sums, table.counts, table.unit, table.split)


def _design(pop: PairedTable, n: int, rng: np.random.Generator) -> PairedTable:
    idx = rng.integers(0, pop.n_clusters, n)
    return PairedTable(tuple(f"q{i}" for i in range(n)), pop.sums[idx], pop.counts[idx],
                       pop.unit, pop.split)


def _share_a(pop: PairedTable, n: int, *, level: float, seed: int) -> float:
    rng = np.random.default_rng(seed)
    passed = 0
    for _ in range(N_DESIGNS):
        draws = bootstrap_draws(_design(pop, n, rng), n_resamples=1000, rng=rng)
        passed += percentile_ci(draws.delta_gap, level=level)[1] < 0
    return passed / N_DESIGNS


def _share_b(pop: PairedTable, n: int, *, seed: int) -> float:
    rng = np.random.default_rng(seed)
    verdicts = [gate_from_stats(paired_standard_errors(_design(pop, n, rng))).verdict
                for _ in range(N_DESIGNS)]
    return verdicts.count("pass") / N_DESIGNS


# ------------------------------------------------------------------ textbook formulas

def test_mde_of_a_is_the_textbook_normal_formula() -> None:
    p = bootstrap_power(delta=-0.05, sd_d=0.3, n_questions=48, ci_level=0.95)
    assert p is not None
    z = NormalDist().inv_cdf
    assert p.mde == pytest.approx(-(z(0.975) + z(POWER)) * 0.3 / math.sqrt(48), rel=1e-12)
    assert p.alpha == pytest.approx(0.025) and p.ci_level == pytest.approx(0.95)
    # the questions for the observed ΔG are acard power's answer for the same σ_d
    assert p.questions_to_detect == questions_for_power(effect=-0.05, sd_d=0.3).n_questions
    assert p.underpowered


def test_mde_of_b_uses_the_larger_se_for_the_rule_and_the_paired_se_for_sampling() -> None:
    p = fresh_power(delta=-0.3, se_paired=0.04, se_independent=0.05, n_questions=150, k=2.0)
    assert p is not None and not p.underpowered
    assert p.mde == pytest.approx(-(2.0 * 0.05 + NormalDist().inv_cdf(POWER) * 0.04))
    assert p.alpha == pytest.approx(1 - NormalDist().cdf(2.0))
    assert p.ci_level == pytest.approx(0.9545, abs=1e-4)


def test_questions_to_detect_scales_with_the_square_of_the_ratio() -> None:
    assert questions_to_detect(effect=-0.05, mde=-0.10, n_questions=48) == 192
    assert questions_to_detect(effect=-0.10, mde=-0.10, n_questions=48) == 48
    assert questions_to_detect(effect=0.01, mde=-0.10, n_questions=48) is None
    se = 0.3 / math.sqrt(48)
    assert minimum_detectable_effect(se=se, critical=1.959964) == pytest.approx(
        -(1.959964 + 0.841621) * se, rel=1e-5)


def test_no_power_without_question_variance() -> None:
    assert bootstrap_power(delta=0.0, sd_d=0.0, n_questions=48, ci_level=0.95) is None
    assert fresh_power(delta=0.0, se_paired=math.nan, se_independent=0.1, n_questions=1,
                       k=2.0) is None


# ------------------------------------------------------------------ direct simulation

def test_gate_a_detects_its_mde_in_80_percent_of_simulated_designs() -> None:
    b, d = simulate_pair(seed=7, scenario="null")
    a = build_card(b, d, options=CardOptions(seed=0, n_resamples=1000)).diagnostics.a
    assert a.power is not None
    table = paired_table(b, d, split="heldout")
    pop = _population(table, observed=a.power.observed, target=a.power.mde)
    share = _share_a(pop, table.n_clusters, level=a.power.ci_level, seed=1)
    assert share == pytest.approx(POWER, abs=TOLERANCE), share


def test_gate_b_detects_its_mde_in_80_percent_of_simulated_designs() -> None:
    b, d = simulate_pair(seed=7, scenario="null")
    g = build_card(b, d, options=CardOptions(seed=0, n_resamples=200)).diagnostics.b
    assert g.power is not None
    table = paired_table(b, d, split="fresh")
    pop = _population(table, observed=g.power.observed, target=g.power.mde)
    share = _share_b(pop, table.n_clusters, seed=2)
    assert share == pytest.approx(POWER, abs=TOLERANCE), share


def test_the_questions_a_card_names_detect_the_observed_change_80_percent_of_the_time() -> None:
    b, d = simulate_pair(seed=7, scenario="null")
    table = paired_table(b, d, split="fresh")
    observed = paired_standard_errors(table).delta
    pop = _population(table, observed=observed, target=-0.08)  # a card whose Δ is −0.08
    g = gate_from_stats(paired_standard_errors(pop))
    assert g.power is not None and g.power.questions_to_detect is not None
    assert g.power.questions_to_detect > table.n_clusters  # −0.08 is below this MDE
    share = _share_b(pop, g.power.questions_to_detect, seed=3)
    assert share == pytest.approx(POWER, abs=TOLERANCE), share


# ------------------------------------------------------------------ on the card

def test_failed_underpowered_gates_say_so_and_the_lint_forbids_no_effect() -> None:
    card = _card(42, "null")
    for gate in (card.diagnostics.a, card.diagnostics.b):
        assert gate.verdict == "fail" and gate.power is not None and gate.power.underpowered
        assert "underpowered" in gate.reason
    lint = lint_claim(card, "The recipe has no effect: it does not reduce the gap.")
    assert [(f.phrase, f.rule) for f in lint.findings] == [
        ("no effect", "underpowered"), ("does not reduce", "underpowered")]
    assert "inconclusive at this sample size" in lint.allowed_phrases


def test_passing_or_well_powered_gates_carry_no_underpowered_wording() -> None:
    card = _card(42, "reduction")
    for gate in (card.diagnostics.a, card.diagnostics.b):
        assert gate.verdict == "pass" and gate.power is not None
        assert not gate.power.underpowered and "underpowered" not in gate.reason
    lint = lint_claim(card, "No effect on deploy accuracy was claimed.")
    assert all(f.rule != "underpowered" for f in lint.findings)


def test_item_level_bootstrap_reports_no_power() -> None:
    from acceptance_cards.diagnostics import run_clustered_bootstrap

    b, d = simulate_pair(seed=1)
    assert run_clustered_bootstrap(b, d, seed=0, n_resamples=200, unit="item").power is None


@pytest.mark.parametrize("render", [render_markdown, render_html, render_latex])
def test_every_format_shows_the_mde_and_the_questions(render: object) -> None:
    card = _card(42, "null")
    assert callable(render)
    text = str(render(card))
    a, b = card.diagnostics.a.power, card.diagnostics.b.power
    assert a is not None and b is not None
    for p in (a, b):
        assert f"{p.mde:+.4f}" in text
    assert "80" in text and "95.45" in text and "underpowered" in text
