"""Statistics against their textbook definitions, plus invariance properties."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acceptance_cards.clusters import paired_table
from acceptance_cards.records import RecordSet, records_from_rows
from acceptance_cards.stats import (
    bootstrap_draws,
    paired_standard_errors,
    percentile_ci,
    point_estimates,
    questions_for_power,
)
from acceptance_cards.synthetic import simulate_pair, simulate_rows


def _rate(rs: RecordSet, qids: list[str], *, eval_: bool) -> float:
    """Pooled rate over the records of the listed questions (with multiplicity)."""
    num = den = 0.0
    for q in qids:
        m = (rs.question_id == q) & (rs.is_eval == eval_)
        num += float(rs.correct[m].sum())
        den += float(m.sum())
    return num / den


def _delta_gap(b: RecordSet, d: RecordSet, qids: list[str]) -> tuple[float, float]:
    gb = _rate(b, qids, eval_=False) - _rate(b, qids, eval_=True)
    gd = _rate(d, qids, eval_=False) - _rate(d, qids, eval_=True)
    return gd - gb, _rate(d, qids, eval_=False) - _rate(b, qids, eval_=False)


def test_bootstrap_matches_textbook_loop() -> None:
    b, d = simulate_pair(seed=5, n_heldout=12, n_fresh=0)
    b, d = b.select("heldout"), d.select("heldout")
    t = paired_table(b, d, split="heldout")
    n_res, seed = 60, 11
    draws = bootstrap_draws(t, n_resamples=n_res, rng=np.random.default_rng(seed))
    # textbook: draw question ids with replacement, same ids for both cells
    idx = np.random.default_rng(seed).integers(0, t.n_clusters, size=(n_res, t.n_clusters))
    ids = list(t.ids)
    expect = [_delta_gap(b, d, [ids[i] for i in row]) for row in idx]
    assert np.allclose(draws.delta_gap, [e[0] for e in expect], atol=1e-12)
    assert np.allclose(draws.deploy_cost, [e[1] for e in expect], atol=1e-12)
    point = point_estimates(t)
    assert point.delta_gap == pytest.approx(_delta_gap(b, d, ids)[0], abs=1e-12)
    lo, hi = percentile_ci(draws.delta_gap, level=0.9)
    assert (lo, hi) == pytest.approx(tuple(np.percentile([e[0] for e in expect], [5, 95])))


def test_bootstrap_chunking_is_invisible() -> None:
    """Many clusters force several chunks; results equal one textbook-sized draw."""
    import acceptance_cards.stats.bootstrap as bs

    b, d = simulate_pair(seed=2, n_heldout=30, n_fresh=0)
    t = paired_table(b, d, split="heldout")
    one = bootstrap_draws(t, n_resamples=50, rng=np.random.default_rng(0))
    old = bs._CHUNK_ENTRIES
    bs._CHUNK_ENTRIES = 30 * 7  # 7 resamples per chunk
    try:
        many = bootstrap_draws(t, n_resamples=50, rng=np.random.default_rng(0))
    finally:
        bs._CHUNK_ENTRIES = old
    # chunked draws consume the generator in the same order -> identical numbers
    assert np.array_equal(one.delta_gap, many.delta_gap)


def test_item_level_ci_is_narrower_than_clustered() -> None:
    """With strong question effects, item resampling understates the CI (SPEC §2a)."""
    b, d = simulate_pair(seed=7, n_fresh=0)
    tq = paired_table(b, d, split="heldout", unit="question")
    ti = paired_table(b, d, split="heldout", unit="item")
    assert ti.n_clusters == 960 and tq.n_clusters == 48
    assert point_estimates(ti).delta_gap == pytest.approx(point_estimates(tq).delta_gap)
    def width(t: object) -> float:
        d = bootstrap_draws(t, n_resamples=2000, rng=np.random.default_rng(1))  # type: ignore[arg-type]
        lo, hi = percentile_ci(d.delta_gap, level=0.95)
        return hi - lo

    assert width(ti) < width(tq)


def test_standard_errors_match_textbook() -> None:
    b, d = simulate_pair(seed=9, n_heldout=0, n_fresh=25)
    s = paired_standard_errors(paired_table(b, d, split="fresh"))
    qids = sorted(set(b.question_id.tolist()))

    def g(rs: RecordSet, q: str) -> float:
        dep = rs.correct[(rs.question_id == q) & ~rs.is_eval]
        ev = rs.correct[(rs.question_id == q) & rs.is_eval]
        return sum(dep) / len(dep) - sum(ev) / len(ev)

    gb = [g(b, q) for q in qids]
    gd = [g(d, q) for q in qids]
    dq = [y - x for x, y in zip(gb, gd, strict=True)]
    n = len(dq)
    mean = sum(dq) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in dq) / (n - 1))
    assert s.delta == pytest.approx(mean)
    assert s.se_paired == pytest.approx(sd / math.sqrt(n))
    var = 0.0
    for rs in (b, d):
        for ev in (True, False):
            r = rs.correct[rs.is_eval == ev].mean()
            var += r * (1 - r) / (rs.is_eval == ev).sum()
    assert s.se_independent == pytest.approx(math.sqrt(var))

    def se(xs: list[float]) -> float:
        m = sum(xs) / len(xs)
        return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) / math.sqrt(len(xs))

    assert s.se_quadrature == pytest.approx(math.sqrt(se(gb) ** 2 + se(gd) ** 2))
    assert s.n_questions == 25 and s.n_per_framing == 50


def test_power_matches_formula() -> None:
    nd = NormalDist()
    for eff, sd, pw, lvl in ((-0.1, 0.35, 0.8, 0.95), (-0.03, 0.2, 0.9, 0.99)):
        r = questions_for_power(effect=eff, sd_d=sd, power=pw, ci_level=lvl)
        z = nd.inv_cdf(1 - (1 - lvl) / 2) + nd.inv_cdf(pw)
        assert r.n_questions == math.ceil((z * sd / abs(eff)) ** 2)
    with pytest.raises(ValueError):
        questions_for_power(effect=0.1, sd_d=0.3)


# ---- properties -------------------------------------------------------------

_seeds = st.integers(min_value=0, max_value=10_000)


@settings(max_examples=25, deadline=None)
@given(seed=_seeds, perm_seed=_seeds)
def test_row_order_does_not_matter(seed: int, perm_seed: int) -> None:
    rb, rd = simulate_rows(seed=seed, n_heldout=6, n_fresh=6, heldout_templates=2)
    perm = np.random.default_rng(perm_seed).permutation(len(rb))
    b1, d1 = records_from_rows(rb), records_from_rows(rd)
    b2 = records_from_rows([rb[i] for i in perm])
    for split in ("heldout", "fresh"):
        t1, t2 = paired_table(b1, d1, split=split), paired_table(b2, d1, split=split)
        assert np.array_equal(t1.sums, t2.sums) and np.array_equal(t1.counts, t2.counts)
        x1 = bootstrap_draws(t1, n_resamples=30, rng=np.random.default_rng(seed))
        x2 = bootstrap_draws(t2, n_resamples=30, rng=np.random.default_rng(seed))
        assert np.array_equal(x1.delta_gap, x2.delta_gap)


@settings(max_examples=25, deadline=None)
@given(seed=_seeds, perm_seed=_seeds)
def test_relabelling_questions_keeps_point_and_se(seed: int, perm_seed: int) -> None:
    rb, rd = simulate_rows(seed=seed, n_heldout=0, n_fresh=8)
    names = sorted({r["question_id"] for r in rb})
    new = dict(zip(names, np.random.default_rng(perm_seed).permutation(
        [f"z{i}" for i in range(len(names))]).tolist(), strict=True))
    relabel = [lambda rows: rows, lambda rows: [dict(r, question_id=new[r["question_id"]]) for r in rows]]
    stats = [paired_standard_errors(paired_table(records_from_rows(f(rb)), records_from_rows(f(rd)),
                                                 split="fresh")) for f in relabel]
    for field in ("delta", "se_paired", "se_independent", "se_quadrature"):
        assert getattr(stats[0], field) == pytest.approx(getattr(stats[1], field), abs=1e-12)


@settings(max_examples=25, deadline=None)
@given(seed=_seeds)
def test_swapping_baseline_and_defense_flips_signs(seed: int) -> None:
    b, d = simulate_pair(seed=seed, n_heldout=8, n_fresh=8, heldout_templates=2)
    for split in ("heldout", "fresh"):
        t, ts = paired_table(b, d, split=split), paired_table(d, b, split=split)
        x = bootstrap_draws(t, n_resamples=40, rng=np.random.default_rng(seed))
        xs = bootstrap_draws(ts, n_resamples=40, rng=np.random.default_rng(seed))
        assert np.allclose(x.delta_gap, -xs.delta_gap) and np.allclose(x.deploy_cost, -xs.deploy_cost)
        lo, hi = percentile_ci(x.delta_gap, level=0.95)
        los, his = percentile_ci(xs.delta_gap, level=0.95)
        assert lo == pytest.approx(-his) and hi == pytest.approx(-los)
        s, ss = paired_standard_errors(t), paired_standard_errors(ts)
        assert s.delta == pytest.approx(-ss.delta)
        assert s.se_paired == pytest.approx(ss.se_paired)
        assert s.se_independent == pytest.approx(ss.se_independent)


@settings(max_examples=25, deadline=None)
@given(seed=_seeds, level=st.sampled_from([0.9, 0.95, 0.99]))
def test_ci_contains_point_mass_and_nests(seed: int, level: float) -> None:
    b, d = simulate_pair(seed=seed, n_heldout=10, n_fresh=0, heldout_templates=4)
    t = paired_table(b, d, split="heldout")
    x = bootstrap_draws(t, n_resamples=400, rng=np.random.default_rng(seed))
    lo, hi = percentile_ci(x.delta_gap, level=level)
    lo99, hi99 = percentile_ci(x.delta_gap, level=0.999)
    assert lo99 <= lo <= hi <= hi99
    assert x.delta_gap.min() <= lo and hi <= x.delta_gap.max()
