"""Statistical guards (SPEC §10): too few clusters for (a), resample bounds, (d) on the same task."""

from __future__ import annotations

import dataclasses
import json
import math
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from acceptance_cards._util.errors import InputError
from acceptance_cards.card.build import build_card
from acceptance_cards.card.model import CardOptions
from acceptance_cards.clusters import paired_table
from acceptance_cards.constants import (
    MAX_RESAMPLES,
    MIN_QUESTION_CLUSTERS,
    MIN_TAIL_DRAWS,
)
from acceptance_cards.diagnostics import run_clustered_bootstrap, run_cross_task_transfer
from acceptance_cards.stats.bootstrap import bootstrap_draws, min_resamples
from acceptance_cards.synthetic import example_mechanism, simulate_pair, simulate_rows
from helpers import run_cli as run
from helpers import write_example_inputs, write_jsonl

OPTS = CardOptions(seed=0, n_resamples=500, claimed_class="attack-targeted")


# --- (a): minimum number of question clusters ------------------------------------------------


def _percentile_coverage(n: int, level: float = 0.95) -> float:
    """Coverage of a nominal percentile CI of a normal mean over n clusters (textbook).

    The bootstrap SD is √((n−1)/n)·s/√n and the endpoints are normal quantiles,
    so the interval covers iff |t_(n−1)| < z·√((n−1)/n).
    """
    from scipy import stats

    z = stats.norm.ppf((1 + level) / 2)
    return float(2 * stats.t.cdf(z * math.sqrt((n - 1) / n), n - 1) - 1)


def test_min_clusters_is_where_coverage_reaches_ninety_percent() -> None:
    assert _percentile_coverage(MIN_QUESTION_CLUSTERS) >= 0.90
    assert _percentile_coverage(MIN_QUESTION_CLUSTERS - 1) < 0.90
    assert _percentile_coverage(2) == pytest.approx(0.602, abs=1e-3)


@pytest.mark.parametrize("n_questions", [1, 2, MIN_QUESTION_CLUSTERS - 1])
def test_a_is_na_below_the_minimum(n_questions: int) -> None:
    # the strong-reduction scenario: on 1 or 2 questions the old gate said `pass`
    b, d = simulate_pair(seed=1, n_heldout=n_questions, n_fresh=40)
    a = run_clustered_bootstrap(b, d, seed=0, n_resamples=500)
    assert a.verdict == "n/a", a.reason
    assert f"only {n_questions} held-out question cluster" in a.reason
    assert str(MIN_QUESTION_CLUSTERS) in a.reason and a.min_questions == MIN_QUESTION_CLUSTERS
    # the numbers are still reported, for information
    assert a.n_questions == n_questions and a.ci_high is not None


def test_a_is_defined_at_the_minimum_and_the_minimum_is_configurable() -> None:
    b, d = simulate_pair(seed=1, n_heldout=MIN_QUESTION_CLUSTERS, n_fresh=0)
    assert run_clustered_bootstrap(b, d, seed=0, n_resamples=500).verdict in ("pass", "fail")
    b2, d2 = simulate_pair(seed=1, n_heldout=2, n_fresh=0)
    assert run_clustered_bootstrap(b2, d2, seed=0, n_resamples=500,
                                   min_questions=2).verdict == "pass"
    card = build_card(b2, d2, options=OPTS.model_copy(update={"min_questions": 2}))
    assert card.diagnostics.a.verdict == "pass" and card.diagnostics.a.min_questions == 2


def test_a_na_blocks_the_full_card_but_is_not_a_failure() -> None:
    b, d = simulate_pair(seed=1, n_heldout=2)
    xb, xd = simulate_pair(seed=2, task="sycophancy")
    card = build_card(b, d, cross_baseline=xb, cross_defense=xd,
                      mechanism=example_mechanism(), options=OPTS)
    states = [getattr(card.diagnostics, g).verdict for g in "abcd"]
    assert states == ["n/a", "pass", "pass", "pass"]
    assert card.verdict == "near miss" and card.claim_support == "insufficient"
    assert card.unmet == ["a"] and card.passed == 3 and card.run == 4


def test_item_unit_counts_questions_not_items() -> None:
    b, d = simulate_pair(seed=1, n_heldout=2, n_fresh=0, heldout_templates=6)
    a = run_clustered_bootstrap(b, d, seed=0, n_resamples=500, unit="item")
    assert a.verdict == "n/a" and a.n_questions == 2


# --- resample count: minimum per CI level, maximum ------------------------------------------


@given(st.floats(min_value=0.5, max_value=0.999))
def test_min_resamples_puts_enough_draws_in_each_tail(level: float) -> None:
    b = min_resamples(level)
    tail = (1 - level) / 2
    assert b * tail >= MIN_TAIL_DRAWS - 1e-6  # enough draws beyond each endpoint
    assert (b - 1) * tail < MIN_TAIL_DRAWS  # and it is the smallest such count


def test_min_resamples_named_values() -> None:
    assert (min_resamples(0.90), min_resamples(0.95), min_resamples(0.99)) == (100, 200, 1000)


@pytest.mark.parametrize("n", [1, 2, 199, MAX_RESAMPLES + 1])
def test_bad_resample_count_is_an_input_error_in_the_library(n: int) -> None:
    b, d = simulate_pair(seed=1)
    with pytest.raises(InputError, match="resamples") as ei:
        run_clustered_bootstrap(b, d, seed=0, n_resamples=n)
    assert ei.value.field == "n_resamples"
    with pytest.raises(ValidationError, match="n_resamples|resamples"):
        CardOptions(n_resamples=n)


def test_the_minimum_follows_the_ci_level() -> None:
    assert CardOptions(n_resamples=200, ci_level=0.95).n_resamples == 200
    with pytest.raises(ValidationError, match="at least 1000"):
        CardOptions(n_resamples=500, ci_level=0.99)
    b, d = simulate_pair(seed=1)
    with pytest.raises(InputError, match="at least 1000"):
        run_clustered_bootstrap(b, d, seed=0, n_resamples=999, ci_level=0.99)


def test_bootstrap_refuses_more_than_the_maximum_before_allocating() -> None:
    b, d = simulate_pair(seed=1, n_fresh=0)
    t = paired_table(b, d, split="heldout")
    with pytest.raises(ValueError, match="n_resamples"):
        bootstrap_draws(t, n_resamples=10**9, rng=np.random.default_rng(0))


def _peak_bytes(n_resamples: int) -> int:
    b, d = simulate_pair(seed=1, n_fresh=0)
    t = paired_table(b, d, split="heldout")
    tracemalloc.start()
    try:
        bootstrap_draws(t, n_resamples=n_resamples, rng=np.random.default_rng(0))
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_bootstrap_memory_is_bounded_per_resample() -> None:
    """Peak memory: one bounded count-matrix chunk plus a few floats per resample.

    Between 100k and 300k resamples (both above one chunk) the peak may grow
    by at most 100 bytes per resample: the 8 pooled totals are filled in place,
    not collected per chunk and concatenated (which cost ~160 bytes).
    """
    lo, hi = _peak_bytes(100_000), _peak_bytes(300_000)
    assert (hi - lo) / 200_000 < 100, (lo, hi)
    assert hi < 200_000_000


# --- CLI ------------------------------------------------------------------------------------


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    return write_example_inputs(tmp_path)


def _card_args(f: dict[str, str], xb: str, xd: str, out: Path) -> list[str]:
    return ["card", "-b", f["b"], "-d", f["d"], "--cross-baseline", xb, "--cross-defense", xd,
            "--mechanism", f["m"], "--claimed-class", "attack-targeted", "--resamples", "500",
            "-o", str(out)]


@pytest.mark.parametrize(("extra", "needle"), [
    (["--resamples", "1"], "at least 200"),
    (["--resamples", "2"], "at least 200"),
    (["--resamples", "500", "--ci-level", "0.99"], "at least 1000"),
    (["--resamples", "1000000000"], "maximum of 1,000,000"),
])
def test_cli_bad_resamples_exit_2_one_message(files: dict[str, str], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str],
                                             extra: list[str], needle: str) -> None:
    out = tmp_path / "card.json"
    args = _card_args(files, files["xb"], files["xd"], out)
    i = args.index("--resamples")
    del args[i:i + 2]
    code, so, se = run(args + extra, capsys)
    assert code == 2 and needle in se and "--resamples" in se
    assert len(se.strip().splitlines()) == 1 and "Traceback" not in se
    assert not out.exists()


def test_cli_two_questions_give_a_na(tmp_path: Path, files: dict[str, str],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    rb, rd = simulate_rows(seed=1, n_heldout=2, n_fresh=40)
    b, d = write_jsonl(tmp_path / "b2.jsonl", rb), write_jsonl(tmp_path / "d2.jsonl", rd)
    out = tmp_path / "card.json"
    args = _card_args({**files, "b": str(b), "d": str(d)}, files["xb"], files["xd"], out)
    code, _, se = run(args, capsys)
    assert code == 0, se
    card = json.loads(out.read_text())
    assert card["diagnostics"]["a"]["verdict"] == "n/a" and card["verdict"] == "near miss"


# --- (d): the cross task must be a different task ------------------------------------------


def test_primary_files_as_cross_files_never_pass_d(files: dict[str, str], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "card.json"
    code, _, se = run(_card_args(files, files["b"], files["d"], out), capsys)
    assert code == 0, se
    card = json.loads(out.read_text())
    d = card["diagnostics"]["d"]
    assert d["verdict"] == "n/a" and d["same_task"] is True
    assert "primary task" in d["reason"] and "n/a by construction" in d["reason"]
    assert card["verdict"] != "full-card pass" and "d" in card["unmet"]
    # the genuine cross task still passes
    code, _, _ = run(_card_args(files, files["xb"], files["xd"], out), capsys)
    assert code == 0
    card = json.loads(out.read_text())
    assert card["verdict"] == "full-card pass" and card["diagnostics"]["d"]["same_task"] is False


def _relabelled(rows: list[dict[str, object]], cell: str) -> list[dict[str, object]]:
    return [{**r, "task": "sycophancy", "cell": cell} for r in rows]


def test_primary_records_under_other_names_never_pass_d() -> None:
    from acceptance_cards.records import records_from_rows

    rb, rd = simulate_rows(seed=1, n_heldout=12, n_fresh=40)
    b, d = records_from_rows(rb), records_from_rows(rd)
    xb = records_from_rows(_relabelled(rb, "other-base"))
    xd = records_from_rows(_relabelled(rd, "other-def"))
    g = run_cross_task_transfer(xb, xd, delta_primary=-0.2, se_primary=0.03, primary=(b, d))
    assert g.verdict == "n/a" and g.same_task
    assert "are the primary records of cell" in g.reason
    card = build_card(b, d, cross_baseline=xb, cross_defense=xd,
                      mechanism=example_mechanism(), options=OPTS)
    assert card.diagnostics.d.verdict == "n/a" and card.verdict == "near miss"
    assert any("(d) does not test transfer" in n for n in card.notes)
    # one cross file being a primary file is enough: same questions, other outcomes beside it
    _, other = simulate_rows(seed=3, n_heldout=12, n_fresh=40)
    card = build_card(b, d, cross_baseline=xb,
                      cross_defense=records_from_rows(_relabelled(other, "x-def")),
                      mechanism=example_mechanism(), options=OPTS)
    assert card.diagnostics.d.verdict == "n/a" and card.diagnostics.d.same_task


def test_same_question_ids_with_other_outcomes_are_a_different_task() -> None:
    """A real cross task may reuse the fresh questions; only identical outcomes are the same data."""
    from acceptance_cards.records import records_from_rows

    rb, rd = simulate_rows(seed=1, n_heldout=12, n_fresh=40)
    b, d = records_from_rows(rb), records_from_rows(rd)
    ob, od = simulate_rows(seed=2, n_heldout=0, n_fresh=40)  # same ids, other outcomes
    xb = records_from_rows(_relabelled(ob, "x-base"))
    xd = records_from_rows(_relabelled(od, "x-def"))
    assert set(xb.question_id.tolist()) <= set(b.question_id.tolist())
    g = run_cross_task_transfer(xb, xd, delta_primary=-0.3, se_primary=0.04, primary=(b, d))
    assert g.same_task is False and g.verdict == "pass"
    # flipping a single outcome of the relabelled primary records makes them other data
    flipped = dataclasses.replace(records_from_rows(_relabelled(rb, "x")), correct=b.correct.copy())
    i = int(np.flatnonzero(b.split == "fresh")[0])
    flipped.correct[i] = 1.0 - flipped.correct[i]
    assert run_cross_task_transfer(flipped, xd, delta_primary=-0.3, se_primary=0.04,
                                   primary=(b, d)).same_task is False


def test_a_card_recorded_with_fewer_resamples_than_todays_minimum_still_loads(tmp_path: Path) -> None:
    """The resample minimum applies to new cards; a written card is a record and must load."""
    from acceptance_cards.card.model import card_to_json, load_card
    from acceptance_cards.synthetic import example_card

    raw = json.loads(card_to_json(example_card(seed=0, n_resamples=400)))
    raw["options"]["n_resamples"] = 100  # as an older tool version could have written it
    path = tmp_path / "old.json"
    path.write_text(json.dumps(raw))
    assert load_card(path).options.n_resamples == 100
    with pytest.raises(ValueError, match="too few"):
        CardOptions(n_resamples=100, ci_level=0.95)
