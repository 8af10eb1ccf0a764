"""`acard export hf` also writes the Hub's newer ``.eval_results/*.yaml`` entries.

Built and read back with huggingface_hub's own ``EvalResultEntry``,
``eval_result_entries_to_yaml`` and ``parse_eval_result_entries``. An entry has
one number (``value``); the bounds, SEs and the minimum detectable effect travel
as ``key=number`` text in its ``notes`` and must read back equal to the card.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from acceptance_cards.card.build import build_card
from acceptance_cards.card.claims import lint_claim
from acceptance_cards.card.model import Card, CardOptions, card_to_json
from acceptance_cards.synthetic import example_card, example_mechanism, simulate_pair
from helpers import run_cli as run

hub = pytest.importorskip("huggingface_hub")
if not hasattr(hub, "EvalResultEntry"):  # pragma: no cover - older huggingface_hub
    pytest.skip("huggingface_hub has no EvalResultEntry", allow_module_level=True)

from acceptance_cards.export.huggingface import (  # noqa: E402
    EVAL_RESULTS_FILE,
    METRIC_PREFIX,
    eval_results_yaml,
    parse_notes,
    to_model_card,
)


def _fail_card() -> Card:
    b, d = simulate_pair(seed=5, scenario="null", n_heldout=16, n_fresh=40)
    xb, xd = simulate_pair(seed=6, scenario="null", task="sycophancy", n_heldout=0, n_fresh=40)
    return build_card(b, d, cross_baseline=xb, cross_defense=xd,
                      mechanism=example_mechanism("shrinkage"),
                      options=CardOptions(seed=0, n_resamples=300,
                                          claimed_class="attack-targeted"))


def _missing_card() -> Card:
    b, d = simulate_pair(seed=5, scenario="reduction", n_heldout=16, n_fresh=40)
    return build_card(b, d, options=CardOptions(seed=0, n_resamples=300))


CARDS = {"full-card pass": lambda: example_card(n_resamples=300), "fail": _fail_card,
         "missing evidence": _missing_card}


def _entries(card: Card) -> dict[str, Any]:
    parsed = hub.parse_eval_result_entries(yaml.safe_load(eval_results_yaml(card)))
    return {e.task_id: e for e in parsed}


@pytest.mark.parametrize("name", list(CARDS))
def test_entries_carry_the_same_numbers_as_model_index(name: str) -> None:
    card = CARDS[name]()
    entries = _entries(card)
    model_index = {r.metric_type: r for r in to_model_card(card).data.eval_results}
    # the same statistics, nothing invented for a gate that was not run
    assert set(entries) == set(model_index)
    for task_id, e in entries.items():
        r = model_index[task_id]
        assert e.dataset_id == "cais/mmlu"
        assert isinstance(e.value, float) and e.value == r.metric_value
        # the bounds and SEs model-index keeps as numbers read back from the notes
        notes = parse_notes(e.notes)
        assert set(notes) == set(r.metric_args or {})
        for k, v in (r.metric_args or {}).items():
            assert math.isclose(notes[k], v, rel_tol=1e-9, abs_tol=1e-12), (task_id, k)
        # and the notes name the split the value came from
        if r.dataset_split:
            assert f"split {r.dataset_split}" in e.notes


def test_interval_and_power_of_gate_a_are_in_the_entry() -> None:
    card = CARDS["full-card pass"]()
    a = card.diagnostics.a
    assert a.power is not None
    e = _entries(card)[METRIC_PREFIX + "delta-gap"]
    n = parse_notes(e.notes)
    assert e.value == pytest.approx(a.delta_gap)
    assert (n["ci_low"], n["ci_high"], n["ci_level"]) == pytest.approx(
        (a.ci_low, a.ci_high, a.ci_level), rel=1e-9)
    assert n["mde"] == pytest.approx(a.power.mde, rel=1e-9) and n["mde_power"] == 0.8
    assert n["questions_to_detect"] == a.power.questions_to_detect


def test_no_rho_or_cross_entry_when_those_gates_did_not_run() -> None:
    entries = _entries(CARDS["missing evidence"]())
    assert METRIC_PREFIX + "rho-at" not in entries and METRIC_PREFIX + "cross-delta" not in entries
    assert METRIC_PREFIX + "delta-gap" in entries


@pytest.mark.parametrize("name", list(CARDS))
def test_notes_use_only_permitted_wording(name: str) -> None:
    card = CARDS[name]()
    for e in _entries(card).values():
        assert lint_claim(card, e.notes).clean, e.notes
        assert "±" not in e.notes


def test_cli_writes_the_file_beside_the_readme_and_replaces_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    card = CARDS["fail"]()
    card_path = tmp_path / "card.json"
    card_path.write_text(card_to_json(card))
    repo = tmp_path / "repo"
    repo.mkdir()
    readme = repo / "README.md"
    for _ in range(2):  # a second export replaces the file
        code, so, err = run(["export", "hf", str(card_path), "-o", str(readme)], capsys)
        assert code == 0, err
    path = repo / ".eval_results" / EVAL_RESULTS_FILE
    assert path.read_text(encoding="utf-8") == eval_results_yaml(card)
    assert ".eval_results" in so and [p.name for p in (repo / ".eval_results").iterdir()] == [
        EVAL_RESULTS_FILE]
    # stdout mode writes no files
    code, _, _ = run(["export", "hf", str(card_path)], capsys)
    assert code == 0 and not (tmp_path / ".eval_results").exists()
