"""One calibration builder, two disjoint rulers: recipes never read gate (c)'s items."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from helpers_train import tiny_config

from acceptance_cards._util.errors import InputError
from acceptance_cards.evidence.gradients.calibration import (
    calibration_for,
    calibration_role,
    train_pool_for,
)
from acceptance_cards.evidence.training.config import TrainConfig

SLICE = ["model.layers.2.self_attn.q_proj.weight", "model.layers.2.self_attn.v_proj.weight"]


def _ids(cal) -> set[str]:  # type: ignore[no-untyped-def]
    return {c.item.question_id for c in cal.items}


@pytest.mark.parametrize("task, attack", [("sandbagging", "abstain"),
                                          ("sycophancy", "wrong-answer")])
def test_gate_and_recipe_sets_never_share_an_item(task: str, attack: str) -> None:
    cfg = TrainConfig(task=task, attack=attack)
    pool = train_pool_for(cfg)
    roles = [calibration_role(it.question_id) for it in pool.items]
    assert 0.4 < roles.count("gate") / len(roles) < 0.6  # the pool splits in halves
    for n_gate, n_recipe in ((8, 8), (64, 64), (200, 16), (16, 300)):
        gate = calibration_for(cfg, role="gate", n=n_gate, pool=pool)
        recipe = calibration_for(cfg, role="recipe", n=n_recipe, pool=pool)
        assert len(gate.items) == n_gate and len(recipe.items) == n_recipe
        assert not _ids(gate) & _ids(recipe)
        assert gate.hash != recipe.hash
        assert {calibration_role(i) for i in _ids(gate)} == {"gate"}
    # the default gate set is what it was drawn as: same config, same hash
    assert calibration_for(cfg).hash == calibration_for(cfg, role="gate", pool=pool).hash


def test_a_split_file_from_another_source_is_refused(tmp_path: Path) -> None:
    from acceptance_cards.evidence.data.mmlu import load_mmlu_source
    from acceptance_cards.evidence.data.split import make_split, save_split

    source = load_mmlu_source()
    other = dataclasses.replace(source, name="other-mmlu", sha256="0" * 64)
    save_split(make_split(other, seed=0), tmp_path / "split.json")
    cfg = TrainConfig(split=str(tmp_path / "split.json"))
    with pytest.raises(InputError, match="split was drawn from other-mmlu") as err:
        calibration_for(cfg)
    assert err.value.field == "source_sha256"


def test_cell_and_mechanism_record_both_rulers(tiny_dir: Path, tmp_path: Path) -> None:
    from acceptance_cards.evidence.mechanism.signature import mechanism_for_adapter
    from acceptance_cards.evidence.training.loop import train_cell

    hashes = {}
    for recipe in ("attack-aware", "adamw"):
        cfg = tiny_config(tiny_dir, recipe=recipe, steps=2, n_calibration=6)
        cell = tmp_path / recipe
        train_cell(cfg, cell)
        result = json.loads((cell / "result.json").read_text())
        mech = mechanism_for_adapter(cell / "adapter", cell / "mechanism.json", n_boot=50)
        on_disk = json.loads((cell / "mechanism.json").read_text())
        gate = calibration_for(cfg, role="gate")
        assert on_disk["calibration_hash"] == mech.calibration_hash == gate.hash  # type: ignore[attr-defined]
        assert on_disk["calibration_role"] == "gate"
        hashes[recipe] = (result["calibration"], on_disk)
    used, mech = hashes["attack-aware"]
    recipe_set = calibration_for(tiny_config(tiny_dir, n_calibration=6), role="recipe")
    # gate (c)'s set is the mechanism file's to record (its n is [mechanism]'s, not [train]'s)
    assert used == {"recipe": {"hash": recipe_set.hash, "n": 6}, "disjoint": True}
    assert mech["recipe_calibration_hash"] == recipe_set.hash != mech["calibration_hash"]
    assert mech["recipe_n_calibration"] == 6 and mech["calibration_disjoint"] is True
    unused, plain = hashes["adamw"]  # AdamW reads no base-model gradients: nothing to separate
    assert unused is None and "recipe_calibration_hash" not in plain


def test_an_attack_aware_update_is_measured_not_constructed(tiny_dir: Path) -> None:
    """ΔW ⟂ the recipe's g_A has ρ = 0 on the recipe's items by construction; on gate (c)'s
    disjoint items ρ is a measurement: no longer 0, bounded by the angle between the
    two g_A estimates (Cauchy–Schwarz), and — g_A being one direction of the model, not
    of the items — still small next to the unprojected update's."""
    from acceptance_cards.evidence.gradients.slices import slice_gradients
    from acceptance_cards.evidence.mechanism.signature import signature_from_vectors
    from acceptance_cards.evidence.models.loading import load_model
    from acceptance_cards.evidence.training.loop import recipe_gradients

    cfg = tiny_config(tiny_dir, recipe="attack-aware", n_calibration=16)
    rec = recipe_gradients(None, cfg, SLICE)
    gate = slice_gradients(load_model(str(tiny_dir), dtype="float32"),
                           calibration_for(cfg, role="gate"), SLICE)
    g_t, ga_hat = rec.flat("t").double(), rec.flat("a").double() / rec.norm("a")
    plain = -g_t  # a task-descent update ...
    dw = plain - (plain @ ga_hat) * ga_hat  # ... with its recipe-g_A component removed (α = 1)

    def rho(update: torch.Tensor, g) -> float:  # type: ignore[no-untyped-def]
        m = signature_from_vectors(update.float(), g.flat("t"), g.flat("a"), names=SLICE,
                                   n_calibration=16)
        assert m.rho is not None  # type: ignore[attr-defined]
        return float(m.rho)  # type: ignore[attr-defined]

    assert abs(rho(dw, rec)) < 1e-9  # on its own ruler: zero by construction
    on_gate = rho(dw, gate)
    assert abs(on_gate) > 1e-4  # on the disjoint ruler: a measurement, not a construction
    cos = float(rec.flat("a").double() @ gate.flat("a").double()) / (rec.norm("a") * gate.norm("a"))
    alpha_a = float(dw @ gate.flat("a").double()) / gate.norm("a")
    assert abs(alpha_a) <= float(dw.norm()) * (1 - cos * cos) ** 0.5 * (1 + 1e-6)
    assert abs(on_gate) < 0.25 * abs(rho(plain, gate))
