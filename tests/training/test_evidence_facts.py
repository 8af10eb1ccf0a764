"""The audit's card evidence from a finished cell's files (audit/run/evidence_facts.py).

A real tiny cell (the training loop and the mechanism step on a tiny Llama) and a cell
folder holding exactly the keys the SafeLoRA recipe and the calibration rulers record.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers_train import tiny_config

from acceptance_cards._util.errors import InputError
from acceptance_cards.audit.run.config import AuditConfig
from acceptance_cards.audit.run.evidence_facts import ABSTAIN_STAND_IN, evidence_metadata
from acceptance_cards.card.build import build_card
from acceptance_cards.card.metadata import CardMetadata
from acceptance_cards.card.model import CardOptions
from acceptance_cards.evidence.training.layout import CellLayout
from acceptance_cards.evidence.training.loop import train_cell
from acceptance_cards.mechanism import load_mechanism
from acceptance_cards.render import render_markdown
from acceptance_cards.synthetic import simulate_pair

pytestmark = pytest.mark.models


def audit_cfg(attack: str | None = "abstain") -> AuditConfig:
    train = {} if attack is None else {"attack": attack}
    return AuditConfig.model_validate({
        "audit": {"name": "t", "seeds": [1]}, "models": [{"name": "m", "spec": "tiny"}],
        "recipes": [{"name": "adamw"}, {"name": "safelora", "claimed_class": "attack-targeted"},
                    {"name": "attack-aware", "claimed_class": "attack-targeted"}],
        "train": train})


@pytest.fixture(scope="module")
def real_cell(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny attack-aware cell trained by the real loop, and its real mechanism file."""
    from acceptance_cards.evidence.mechanism.signature import mechanism_for_adapter

    cell = tmp_path_factory.mktemp("cell") / "attack-aware-s1"
    train_cell(tiny_config(tiny_dir, recipe="attack-aware", n_calibration=4), cell)
    mech = cell.parent / "mechanism.json"
    mechanism_for_adapter(CellLayout(cell).adapter, mech, n_calibration=4, n_boot=20)
    return cell, mech


def test_real_cell_states_the_abstain_stand_in_and_what_its_files_record(
        real_cell: tuple[Path, Path]) -> None:
    cell, mech = real_cell
    # the training folder is found through the adapter the mechanism file names, and the
    # attack it recorded wins over the audit config's (the card describes what ran)
    ev = evidence_metadata(audit_cfg(attack="wrong-answer"), "attack-aware", mechanism=mech)
    assert ev is not None and ev["stand_ins"] == [ABSTAIN_STAND_IN]
    result = json.loads(CellLayout(cell).result.read_text())
    m = json.loads(mech.read_text())
    rulers = ev.get("calibration")
    if "calibration_hash" in m:  # what gate (c) measured with, as the mechanism step records it
        assert rulers is not None and rulers["gate_hash"] == m["calibration_hash"]
    if isinstance(result.get("calibration"), dict):  # what the recipe's gradients used
        assert rulers is not None
        assert rulers["recipe_hash"] == result["calibration"]["recipe"]["hash"]
        assert rulers["recipe_hash"] != rulers["gate_hash"] and rulers["disjoint"] is True
    assert "safelora" not in ev  # not a SafeLoRA cell
    wrong = audit_cfg(attack="wrong-answer")
    assert evidence_metadata(wrong, "attack-aware", mechanism=mech, train_dir=cell) == ev
    alone = evidence_metadata(wrong, "attack-aware", train_dir=cell)  # no mechanism: no gate ruler
    assert alone is not None and alone["stand_ins"] == [ABSTAIN_STAND_IN]
    card = build_card(*simulate_pair(seed=1), mechanism=load_mechanism(mech),
                      options=CardOptions(n_resamples=200, claimed_class="attack-targeted"),
                      metadata=CardMetadata(evidence=ev))
    assert card.evidence is not None and card.evidence.stand_ins[0].what == "abstain attack"
    assert "abstain attack" in render_markdown(card)


def test_wrong_answer_cell_without_files_states_nothing() -> None:
    assert evidence_metadata(audit_cfg(attack="wrong-answer"), "safelora") is None


# --------------------------------------------------------------------------- recorded keys

#: ``result.json`` of a SafeLoRA cell with a stand-in reference, keys as the recipe writes them.
SAFELORA_RESULT: dict[str, Any] = {
    "steps": 4, "recipe": "safelora",
    "recipe_info": {
        "safelora_reference": {"origin": "stand-in fine-tune (no aligned/unaligned pair given)",
                               "steps": 40, "seed": 7919, "dir": "/x", "config_digest": "d",
                               "excluded_items": 32, "split_hash": "s"},
        "safelora_v_norm": 0.31, "safelora_v_rank": 8, "safelora_reference_steps": 40,
        "safelora_projection": "official", "safelora_select": "threshold",
        "safelora_select_value": 0.5,
        "safelora_layers": {
            "model.layers.2.self_attn.q_proj.weight": {"cos": 0.11, "kept": 0.065,
                                                       "projected": True, "v_norm": 0.2,
                                                       "v_rank": 8},
            "model.layers.2.self_attn.v_proj.weight": {"cos": 0.93, "kept": 0.97,
                                                       "projected": False, "v_norm": 0.24,
                                                       "v_rank": 7}},
        "safelora_cos": {}, "safelora_projected": ["model.layers.2.self_attn.q_proj.weight"]},
    "calibration": None,
}
#: The mechanism file's calibration provenance and recipe classes (what the mechanism step adds).
MECH_EXTRA: dict[str, Any] = {
    "calibration_hash": "g" * 64, "calibration_role": "gate", "recipe": "safelora",
    "claimed_class": "attack-targeted", "permissive_class": "shrinkage", "attack": "abstain"}


def write_cell(folder: Path, result: dict[str, Any], mech_extra: dict[str, Any],
               attack: str = "abstain") -> Path:
    layout = CellLayout(folder)
    layout.adapter.mkdir(parents=True)
    layout.result.write_text(json.dumps(result))
    layout.config.write_text(json.dumps({"config": {"attack": attack}, "recipe": {
        "name": mech_extra.get("recipe"), "permissive_class": mech_extra.get("permissive_class")}}))
    mech = folder.parent / f"{folder.name}-mechanism.json"
    mech.write_text(json.dumps({"dot_t": 1.0, "dot_a": 2.85, "norm_gt": 2.0, "norm_ga": 3.0,
                                "norm_dw": 1.0, "slice": ["w"], "n_calibration": 64,
                                "adapter": str(layout.adapter), **mech_extra}))
    return mech


def test_safelora_cell_states_reference_projection_rulers_and_relabel(tmp_path: Path) -> None:
    mech = write_cell(tmp_path / "safelora-s1", SAFELORA_RESULT, MECH_EXTRA)
    ev = evidence_metadata(audit_cfg(), "safelora", mechanism=mech)
    assert ev is not None
    assert [s["what"] for s in ev["stand_ins"]] == [
        "abstain attack",
        "SafeLoRA reference V from a stand-in fine-tune (40 steps, seed 7919, attack items excluded)"]
    f = ev["safelora"]
    assert (f["reference_origin"], f["v_norm"], f["v_rank"], f["reference_steps"], f["selection"],
            f["selection_value"], f["projection"], f["n_matrices"]) == (
        "stand-in fine-tune (no aligned/unaligned pair given)", 0.31, 8, 40, "threshold", 0.5,
        "official", 2)
    assert f["layers"][0] == {"name": "model.layers.2.self_attn.q_proj.weight", "cos": 0.11,
                              "kept": 0.065, "projected": True}
    assert f["layers"][1]["projected"] is False
    assert ev["calibration"] == {"gate_hash": "g" * 64, "gate_n": 64, "recipe_hash": None,
                                 "recipe_n": None, "disjoint": None}
    assert ev["permissive_class"] == "shrinkage"
    # on the card: the strict verdict and the relabel beside it (ρ = 0.95: shrinkage signature)
    card = build_card(*simulate_pair(seed=4), mechanism=load_mechanism(mech),
                      options=CardOptions(n_resamples=200, claimed_class="attack-targeted"),
                      metadata=CardMetadata(evidence=ev))
    assert card.diagnostics.c.verdict == "fail"
    assert card.relabel is not None and card.relabel.c.verdict == "pass"
    text = render_markdown(card)
    assert "1 of 2 matrices projected" in text and "Permissive relabel (claimed shrinkage)" in text


def test_a_real_pair_is_not_a_stand_in_and_recipe_rulers_are_read(tmp_path: Path) -> None:
    result = json.loads(json.dumps(SAFELORA_RESULT))
    result["recipe_info"]["safelora_reference"] = {"origin": "checkpoint pair", "aligned": "/a",
                                                   "unaligned": "/u", "steps": None}
    result["recipe_info"]["safelora_reference_steps"] = None  # as the recipe records a pair
    result["calibration"] = {"recipe": {"hash": "r" * 64, "n": 32},
                             "gate": {"hash": "g" * 64, "n": 64}, "disjoint": True}
    extra = MECH_EXTRA | {"recipe_calibration_hash": "r" * 64, "recipe_n_calibration": 32,
                          "calibration_disjoint": True}
    mech = write_cell(tmp_path / "c", result, extra, attack="wrong-answer")
    ev = evidence_metadata(audit_cfg(), "safelora", mechanism=mech)
    assert ev is not None and "stand_ins" not in ev  # wrong-answer attack, real pair
    assert ev["safelora"]["reference_steps"] is None
    assert ev["calibration"] == {"gate_hash": "g" * 64, "gate_n": 64, "recipe_hash": "r" * 64,
                                 "recipe_n": 32, "disjoint": True}


def test_malformed_recorded_facts_name_the_file_and_field(tmp_path: Path) -> None:
    result = json.loads(json.dumps(SAFELORA_RESULT))
    result["recipe_info"]["safelora_v_rank"] = "eight"
    mech = write_cell(tmp_path / "c", result, MECH_EXTRA)
    with pytest.raises(InputError) as ei:
        evidence_metadata(audit_cfg(), "safelora", mechanism=mech)
    assert ei.value.field == "evidence.safelora.v_rank"
    assert ei.value.path is not None and ei.value.path.endswith("result.json")
    (tmp_path / "c" / "result.json").write_text("{not json")
    with pytest.raises(InputError, match="result.json"):
        evidence_metadata(audit_cfg(), "safelora", mechanism=mech)
