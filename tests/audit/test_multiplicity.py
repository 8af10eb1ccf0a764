"""Multiplicity across an audit: passes next to chance, Holm-adjusted (a), verdicts untouched.

The tiny audit here: two strong reductions (p = 0), four marginal (a) passes
(bootstrap p between 0.010 and 0.0175) and two null cells. Holm over the eight
cells where (a) decided keeps the two strong passes and drops the four marginal
ones (the smallest marginal p, 0.010, is multiplied by 6 > 0.025/0.010).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acceptance_cards.audit.cells import CellResult, positive_control_cell
from acceptance_cards.audit.report.outputs import write_outputs
from acceptance_cards.audit.report.sensitivity_multiplicity import (
    P_BOOTSTRAP,
    P_NORMAL,
    chance_table,
    holm_table,
    multiplicity,
)
from acceptance_cards.audit.report.tables import to_markdown
from acceptance_cards.card.build import build_card
from acceptance_cards.card.model import CardOptions
from acceptance_cards.clusters import paired_table
from acceptance_cards.stats.bootstrap import bootstrap_draws, percentile_ci
from acceptance_cards.stats.multiplicity import (
    at_least_tail,
    holm_adjust,
    normal_p_value,
    percentile_p_value,
)
from acceptance_cards.synthetic import CellRates, Scenario, simulate_pair

B = 400
#: A small held-out reduction: these seeds pass (a) with a marginal bootstrap p.
MARGINAL = Scenario(defense=CellRates(eval=0.45, deploy=0.75))
MARGINAL_SEEDS = (68, 76, 79, 86)


def _cell(name: str, seed: int, scenario: str | Scenario, *, records: bool = True) -> CellResult:
    b, d = simulate_pair(seed=seed, scenario=scenario, n_fresh=40)
    card = build_card(b, d, options=CardOptions(seed=seed, n_resamples=B))
    return CellResult(name=name, model="synthetic", recipe=name.split("-")[0], seed=seed,
                      task="sandbagging", card=card, baseline=b if records else None,
                      defense=d if records else None)


@pytest.fixture(scope="module")
def cells() -> list[CellResult]:
    return [_cell("strong-s1", 1, "reduction"), _cell("strong-s2", 2, "reduction"),
            *(_cell(f"marginal-s{s}", s, MARGINAL) for s in MARGINAL_SEEDS),
            _cell("null-s3", 3, "null"), _cell("null-s4", 4, "null"),
            positive_control_cell(n_resamples=B)]


# ------------------------------------------------------------------ the statistics

def test_holm_matches_the_textbook_example() -> None:
    # Holm (1979) as usually worked: p = .01, .04, .03, .005 at α = .05 rejects H1 and H4
    adj = holm_adjust([0.01, 0.04, 0.03, 0.005])
    assert adj == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert [q < 0.05 for q in adj] == [True, False, False, True]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=30))
def test_holm_lies_between_raw_and_bonferroni(p: list[float]) -> None:
    adj = holm_adjust(p)
    m = len(p)
    for raw, q in zip(p, adj, strict=True):
        assert raw <= q + 1e-12 and q <= min(1.0, m * raw) + 1e-12
    order = sorted(range(m), key=lambda i: p[i])
    assert all(adj[order[i]] <= adj[order[i + 1]] + 1e-12 for i in range(m - 1))


def test_holm_keeps_the_family_wise_error_under_the_global_null() -> None:
    rng = np.random.default_rng(0)
    p = rng.random((20_000, 10))
    fwer = np.mean([min(holm_adjust(list(row))) < 0.05 for row in p])
    # exactly 1 − (1 − α/m)^m = 0.0489 for independent uniform p-values
    assert fwer == pytest.approx(1 - (1 - 0.05 / 10) ** 10, abs=0.006)


def test_chance_tail_is_the_binomial_tail() -> None:
    m, a = 12, 0.025
    for k in range(4):
        exact = sum(math.comb(m, j) * a**j * (1 - a) ** (m - j) for j in range(k, m + 1))
        assert at_least_tail([a] * m, k) == pytest.approx(exact, rel=1e-12)


def test_percentile_p_value_inverts_the_gate_exactly(cells: list[CellResult]) -> None:
    for c in cells:
        if c.baseline is None or c.defense is None:
            continue
        o = c.card.options
        draws = bootstrap_draws(paired_table(c.baseline, c.defense, split="heldout"),
                                n_resamples=B, rng=np.random.default_rng(o.seed)).delta_gap
        # the recomputed draws are the card's own
        assert percentile_ci(draws, level=o.ci_level)[1] == c.card.diagnostics.a.ci_high
        p = percentile_p_value(draws)
        for level in (0.8, 0.9, 0.95, 0.99):
            assert (p < (1 - level) / 2) == (percentile_ci(draws, level=level)[1] < 0)
        # and it is about the share of draws at or above 0
        assert p == pytest.approx(float(np.mean(draws >= 0)), abs=2 / B)


def test_normal_p_value_from_a_ci() -> None:
    # ΔG = -0.1, 95% CI ±1.96·0.05: z = -2, p = Φ(-2)
    assert normal_p_value(-0.1, -0.198, -0.002, 0.95) == pytest.approx(0.02275, abs=1e-4)


# ------------------------------------------------------------------ the audit

def test_holm_keeps_strong_passes_and_drops_marginal_ones(cells: list[CellResult]) -> None:
    m = multiplicity(cells)
    assert m.n_cells == 8 and m.family_alpha == pytest.approx(0.025)
    rows = {r.cell: r for r in m.holm}
    assert "positive-control" not in rows
    assert all(r.p_source == P_BOOTSTRAP for r in rows.values())
    assert m.n_a_passes == 6 and m.n_surviving == 2
    assert rows["strong-s1"].survives and rows["strong-s2"].survives
    for s in MARGINAL_SEEDS:
        r = rows[f"marginal-s{s}"]
        assert r.gate == "pass" and 0 < r.p_value < 0.025 and not r.survives
        assert r.p_holm > 0.025


def test_chance_counts_follow_the_null_model(cells: list[CellResult]) -> None:
    m = multiplicity(cells)
    a, b, c, d = m.chance
    assert (a.gate, a.tested, a.passes) == ("a", 8, 6)
    assert a.expected == pytest.approx(8 * 0.025)
    assert a.p_any == pytest.approx(1 - 0.975**8)
    assert b.alpha == pytest.approx(1 - 0.9772498680518208)
    assert c.expected is None and "not a test" in c.null_model
    assert d.tested == 0 and d.expected is None


def test_a_cell_without_records_uses_its_ci(cells: list[CellResult]) -> None:
    imported = _cell("imported-s86", 86, MARGINAL, records=False)
    m = multiplicity([*cells, imported])
    row = next(r for r in m.holm if r.cell == "imported-s86")
    assert row.p_source == P_NORMAL and 0 < row.p_value < 0.05


def test_tables_and_report_say_how_many_passes_survive(cells: list[CellResult],
                                                        tmp_path: Path) -> None:
    m = multiplicity(cells)
    holm = to_markdown(holm_table(m))
    assert "2 of 6 (a) pass(es) survive Holm" in holm
    chance = to_markdown(chance_table(m))
    assert "| (a) | 8 | 6 | 2.50% | 0.20 |" in chance
    out = write_outputs(cells, tmp_path)
    assert (tmp_path / "sensitivity" / "multiplicity_holm.csv").exists()
    html = out.report.read_text(encoding="utf-8")
    assert 'id="multiplicity-summary"' in html
    assert "2 of the 6 (a) pass(es) survive Holm" in html


GOLDEN = Path(__file__).parent.parent / "golden" / "audit"


@pytest.mark.parametrize("stem", ["multiplicity_chance", "multiplicity_holm"])
def test_golden_multiplicity_tables(cells: list[CellResult], stem: str, tmp_path: Path) -> None:
    """This tiny audit's tables, reviewed by eye (ACARD_UPDATE_GOLDEN=1 regenerates)."""
    import os

    m = multiplicity(cells)
    out = to_markdown(chance_table(m) if stem == "multiplicity_chance" else holm_table(m))
    path = GOLDEN / f"{stem}.md"
    if os.environ.get("ACARD_UPDATE_GOLDEN") == "1":
        path.write_text(out, encoding="utf-8")
    assert out == path.read_text(encoding="utf-8"), f"{path.name} differs from the golden file"
