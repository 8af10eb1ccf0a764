"""A card built inside an audit states what its defense cell's training folder says.

The mechanism step records the adapter relative to the store (``train/<key>/adapter``),
so the card step must find the training folder through the store, never the CWD.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from acceptance_cards.audit.run.config import AuditConfig
from acceptance_cards.audit.run.evidence_facts import evidence_metadata

_CFG = AuditConfig.model_validate({
    "audit": {"name": "x", "seeds": [1]}, "models": [{"name": "m", "spec": "tiny"}],
    "recipes": [{"name": "adamw"}, {"name": "safelora", "claimed_class": "shrinkage"}],
    "train": {"attack": "abstain"}})

_SAFELORA_INFO = {
    "safelora_reference": {"origin": "stand-in fine-tune", "steps": 4, "seed": 7},
    "safelora_v_norm": 1.5, "safelora_v_rank": 2, "safelora_reference_steps": 4,
    "safelora_select": "threshold", "safelora_select_value": 0.35, "safelora_projection": "full",
    "safelora_layers": {"q_proj": {"cos": 0.2, "kept": 0.9, "projected": True}},
}


def _store(root: Path) -> Path:
    """A store with a SafeLoRA train step and a mechanism file naming its adapter relatively."""
    steps = root / "out" / "artifacts" / "steps"
    train = steps / "train" / "abc123"
    (train / "adapter").mkdir(parents=True)
    (train / "result.json").write_text(json.dumps({
        "recipe_info": _SAFELORA_INFO,
        "calibration": {"recipe": {"hash": "r" * 16, "n": 8}}}))
    (train / "config.json").write_text(json.dumps({"config": {"attack": "abstain"}}))
    mech = steps / "mechanism" / "def456" / "mechanism.json"
    mech.parent.mkdir(parents=True)
    mech.write_text(json.dumps({"adapter": "train/abc123/adapter", "calibration_hash": "g" * 16}))
    return mech


def test_relative_adapter_resolves_against_the_store_not_the_cwd(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mech = _store(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    ev = evidence_metadata(_CFG, "safelora", mechanism=mech)
    assert ev is not None
    assert [s["what"].split(" ")[0] for s in ev["stand_ins"]] == ["abstain", "SafeLoRA"]
    assert ev["safelora"]["reference_origin"] == "stand-in fine-tune"
    assert ev["safelora"]["n_matrices"] == 1
    assert ev["calibration"]["recipe_hash"] == "r" * 16


def test_an_explicit_train_dir_wins(tmp_path: Path) -> None:
    mech = _store(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    (other / "result.json").write_text(json.dumps({"calibration": {"recipe": {"hash": "o" * 16}}}))
    ev = evidence_metadata(_CFG, "safelora", mechanism=mech, train_dir=other)
    assert ev is not None and ev["calibration"]["recipe_hash"] == "o" * 16
    assert "safelora" not in ev


def test_audit_card_states_the_recipe_facts_of_its_training_folder(first_run: Path) -> None:
    """The tiny audit ran from the test's CWD, not its output folder: the card still finds them."""
    assert Path.cwd().resolve() != first_run.resolve()
    assert not first_run.resolve().is_relative_to(Path(os.getcwd()).resolve())
    card = json.loads((first_run / "cards" / "tiny-attack-aware-s1.json").read_text())
    results = list((first_run / "artifacts" / "steps" / "train").glob("*/result.json"))
    # one attack-aware fine-tune per task (primary and cross): the card's is the primary one's
    side = {p: json.loads((p.parent / "adapter" / "acard_adapter.json").read_text()) for p in results}
    recorded = {(side[p]["recipe"], side[p]["task"]): json.loads(p.read_text()) for p in results}
    want = recorded[("attack-aware", "sandbagging")]["calibration"]["recipe"]
    ev = card["evidence"]
    assert [s["what"] for s in ev["stand_ins"]] == ["abstain attack"]
    assert ev["calibration"]["recipe_hash"] == want["hash"]
    assert ev["calibration"]["recipe_n"] == want["n"]


@pytest.mark.parametrize(("edit", "field"), [
    (("n_resamples = 200", "n_resamples = 300"), "options.n_resamples"),
    (('claimed_class = "attack-targeted"', 'claimed_class = "shrinkage"'), "options.claimed_class"),
    (("alpha = 1.0", "alpha = 2.0"), "recipe.hyperparameters"),
    (("alpha = 1.0 }", "}"), "recipe.hyperparameters"),  # a parameter left to its default
    (("[train]\nsteps = 3\n", "[train]\nsteps = 7\n"), "recipe.steps"),  # not the run's
])
def test_pack_refuses_a_config_that_did_not_produce_the_cards(
        config: Path, first_run: Path, tmp_path: Path, edit: tuple[str, str], field: str) -> None:
    from tiny_audit import acard

    other = tmp_path / "other.toml"
    assert edit[0] in config.read_text()
    other.write_text(config.read_text().replace(*edit))
    r = acard("results", "pack", str(first_run), str(tmp_path / "res"), "--config", str(other))
    assert r.returncode == 2, r.stderr[-2000:]
    assert "tiny-attack-aware-s1.json" in r.stderr and field in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "res").exists()
    r = acard("results", "pack", str(first_run), str(tmp_path / "ok"), "--config", str(config))
    assert r.returncode == 0, r.stderr[-2000:]


def test_audit_card_states_the_fine_tune_as_it_ran(first_run: Path) -> None:
    """LoRA rank, targets, lr, steps and the base checkpoint come from the run's config.json.

    The tiny config sets none of them: the old card said "—" for each.
    """
    card = json.loads((first_run / "cards" / "tiny-attack-aware-s1.json").read_text())
    configs = [json.loads(p.read_text())
               for p in (first_run / "artifacts" / "steps" / "train").glob("*/config.json")]
    ran = next(c for c in configs
               if c["config"]["recipe"] == "attack-aware" and c["config"]["task"] == "sandbagging")
    run = ran["config"]
    assert card["recipe"]["lora_rank"] == run["lora_rank"] and card["recipe"]["lora_rank"] is not None
    assert card["recipe"]["lora_alpha"] == run["lora_alpha"]
    assert card["recipe"]["target_modules"] == run["target_modules"]
    assert card["recipe"]["learning_rate"] == run["lr"] and card["recipe"]["steps"] == run["steps"]
    assert card["recipe"]["hyperparameters"] == {"alpha": 1.0}  # as configured: pack checks it
    base = card["model"]["base_checkpoint"]
    assert ran["provenance"]["model_hash"] in base and base.startswith(ran["provenance"]["model"])
    assert str(first_run) not in base and "/" not in base


def test_fine_tune_facts_states_only_well_typed_values(tmp_path: Path) -> None:
    from acceptance_cards.audit.run.evidence_facts import fine_tune_facts

    (tmp_path / "config.json").write_text(json.dumps({
        "config": {"lora_rank": "eight", "lora_alpha": 16, "steps": True, "lr": 0.002,
                   "target_modules": ["q_proj", 3], "attack": "abstain"},
        "provenance": {"model": "m", "model_source": "/some/where/m.gguf", "dtype": "bfloat16"}}))
    model, recipe = fine_tune_facts(tmp_path)
    assert recipe == {"lora_alpha": 16, "learning_rate": 0.002, "attack_variant": "abstain"}
    assert model == {"base_checkpoint": "m (m.gguf, run in bfloat16)"}
    assert fine_tune_facts(tmp_path / "absent") == ({}, {})
