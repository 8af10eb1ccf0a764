"""Card → Hugging Face model card: huggingface_hub's own classes, numbers not "±", permitted wording."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from acceptance_cards.card.build import CardMetadata, build_card
from acceptance_cards.card.claims import lint_claim
from acceptance_cards.card.model import Card, CardOptions, card_to_json
from acceptance_cards.synthetic import example_card, example_mechanism, simulate_pair
from helpers import run_cli as run

hub = pytest.importorskip("huggingface_hub")

from acceptance_cards.export.huggingface import (  # noqa: E402
    BEGIN,
    END,
    METRIC_PREFIX,
    card_section,
    to_model_card,
)


def _card(scenario: str, *, mech: str | None = None, cross: bool = False,
          title: str | None = None) -> Card:
    b, d = simulate_pair(seed=5, scenario=scenario, n_heldout=16, n_fresh=40)
    xb = xd = None
    if cross:
        xb, xd = simulate_pair(seed=6, scenario=scenario, task="sycophancy", n_heldout=0,
                               n_fresh=40)
    return build_card(b, d, cross_baseline=xb, cross_defense=xd,
                      mechanism=example_mechanism(mech) if mech else None,
                      options=CardOptions(seed=0, n_resamples=300,
                                          claimed_class="attack-targeted"),
                      metadata=CardMetadata(title=title))


CARDS = {
    "full-card pass": lambda: example_card(n_resamples=300),
    "near miss": lambda: _card("heldout-only", mech="attack-targeted"),
    "missing evidence": lambda: _card("reduction"),
    "fail": lambda: _card("null", mech="shrinkage", cross=True),
    "floor": lambda: _card("floor", mech="undefined", cross=True),
}


@pytest.mark.parametrize("name", list(CARDS))
def test_section_states_the_verdict_in_permitted_wording(name: str) -> None:
    card = CARDS[name]()
    text = card_section(card)
    assert text.startswith(BEGIN) and text.rstrip().endswith(END)
    assert f"**Verdict: {card.verdict}**" in text and card.summary in text
    assert "±" not in text
    prose = text.split("Wording this evidence does not permit")[0]
    # the section's own prose never exceeds the evidence (cell names are code spans)
    assert lint_claim(card, re.sub(r"`[^`]*`", "", prose)).clean
    for g in "abcd":
        assert f"| ({g}) " in text


@pytest.mark.parametrize("name", list(CARDS))
def test_model_index_round_trips_through_huggingface_hub(name: str) -> None:
    card = CARDS[name]()
    mc = to_model_card(card, model_name="smollm2-demo")
    parsed = hub.ModelCard(str(mc))  # what the Hub would read back
    results = {r.metric_type: r for r in parsed.data.eval_results}
    a, b = card.diagnostics.a, card.diagnostics.b
    assert results[METRIC_PREFIX + "delta-gap"].metric_value == pytest.approx(a.delta_gap)
    args = results[METRIC_PREFIX + "delta-gap"].metric_args
    assert args["ci_low"] == pytest.approx(a.ci_low) and args["ci_high"] == pytest.approx(a.ci_high)
    assert args["ci_level"] == a.ci_level and args["n_questions"] == a.n_questions
    assert results[METRIC_PREFIX + "delta-gap"].dataset_split == "heldout"
    fresh = results[METRIC_PREFIX + "fresh-delta"]
    assert fresh.metric_value == pytest.approx(b.delta) and fresh.dataset_split == "fresh"
    assert fresh.metric_args["se_paired"] == pytest.approx(b.se_paired)
    cost = results[METRIC_PREFIX + "deploy-cost"]
    assert cost.metric_args["ci_low"] == pytest.approx(card.deploy_cost.ci_low)
    for r in parsed.data.eval_results:  # uncertainty is numbers, never "±" strings
        assert isinstance(r.metric_value, float)
        assert all(isinstance(v, int | float) for v in (r.metric_args or {}).values())
    # a statistic that was not computed (gate not run, or undefined) is left out
    assert (METRIC_PREFIX + "rho-at" in results) == (card.diagnostics.c.rho is not None)
    assert (METRIC_PREFIX + "cross-delta" in results) == (card.diagnostics.d.delta_cross is not None)
    meta = parsed.data.to_dict()["acceptance_card"]
    assert meta["verdict"] == card.verdict and meta["claim_support"] == card.claim_support
    assert meta["gates"] == {g: getattr(card.diagnostics, g).verdict for g in "abcd"}
    assert parsed.data.model_name == "smollm2-demo" and "acceptance-card" in parsed.data.tags
    assert "±" not in str(mc)


def test_author_wording_is_linted_beside_it() -> None:
    card = _card("reduction", title="A robust defense that generalizes")
    text = card_section(card)
    assert "`A robust defense that generalizes`" in text
    assert "⚠ `robust` exceeds this evidence" in text and "⚠ `defense`" in text


def _existing() -> str:
    other = hub.EvalResult(task_type="text-generation", dataset_type="cais/mmlu",
                           dataset_name="MMLU", metric_type="accuracy", metric_value=0.31)
    data = hub.ModelCardData(license="apache-2.0", model_name="mine", eval_results=[other])
    return f"---\n{data.to_yaml()}\n---\n\n# My model\n\nIt answers questions.\n"


def test_export_updates_an_existing_readme_in_place(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    card_path = tmp_path / "card.json"
    card_path.write_text(card_to_json(CARDS["near miss"]()))
    readme = tmp_path / "README.md"
    readme.write_text(_existing())
    for _ in range(2):  # exporting twice replaces, never duplicates
        code, so, err = run(["export", "hf", str(card_path), "-o", str(readme)], capsys)
        assert code == 0 and "updated" in so, err
    text = readme.read_text()
    assert text.count(BEGIN) == 1 and "# My model" in text and "It answers questions." in text
    mc = hub.ModelCard(text)
    types = [r.metric_type for r in mc.data.eval_results]
    assert "accuracy" in types and types.count(METRIC_PREFIX + "delta-gap") == 1
    assert mc.data.license == "apache-2.0" and mc.data.model_name == "mine"


def test_export_to_stdout_and_bad_input(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    card_path = tmp_path / "card.json"
    card_path.write_text(card_to_json(CARDS["full-card pass"]()))
    code, so, _ = run(["export", "hf", str(card_path), "--model-name", "m",
                       "--base-model", "HuggingFaceTB/SmolLM2-135M-Instruct"], capsys)
    assert code == 0 and so.startswith("---\n") and "full-card pass under the protocol" in so
    assert hub.ModelCard(so).data.base_model == "HuggingFaceTB/SmolLM2-135M-Instruct"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"verdict": "great"}))
    code, _, err = run(["export", "hf", str(bad)], capsys)
    assert code == 2 and "not a valid card" in err and "Traceback" not in err
    code, _, err = run(["export", "hf", str(tmp_path / "none.json")], capsys)
    assert code == 2 and "no such file" in err


def _numbers(card: Card) -> dict[str, Any]:
    return {r.metric_type: r.metric_value for r in to_model_card(card).data.eval_results}


def test_numbers_equal_the_card_fields() -> None:
    card = CARDS["fail"]()
    n = _numbers(card)
    d = card.diagnostics
    assert n[METRIC_PREFIX + "rho-at"] == pytest.approx(d.c.rho)
    assert n[METRIC_PREFIX + "cross-delta"] == pytest.approx(d.d.delta_cross)
    assert n[METRIC_PREFIX + "gap-baseline"] == pytest.approx(card.baseline_gap.point)
    assert n[METRIC_PREFIX + "gap-recipe"] == pytest.approx(card.defense_gap.point)
