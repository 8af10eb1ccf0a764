"""SafeLoRA: an honest reference (never the attack's items or seed), both projections, the facts.

The recipe is driven through a :class:`RecipeContext` built here from a really
trained adapter, with ``train_reference`` training the reference through the
real loop (``train_cell``), as the loop's own context does.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers_train import tiny_config
from safetensors.torch import load_file

from acceptance_cards._util.errors import InputError
from acceptance_cards.evidence.data.attacks import build_attack_data, data_hash, training_templates
from acceptance_cards.evidence.data.mmlu import load_mmlu_source
from acceptance_cards.evidence.data.split import load_split, make_split, train_pool
from acceptance_cards.evidence.data.templates import load_templates
from acceptance_cards.evidence.gradients.calibration import calibration_for, calibration_role
from acceptance_cards.evidence.models.delta_w import delta_from_adapter
from acceptance_cards.evidence.training import loop
from acceptance_cards.evidence.training.config import TrainConfig
from acceptance_cards.evidence.training.recipes import LoraPair, RecipeContext, make_recipe
from acceptance_cards.evidence.training.recipes.safelora import (
    DEFAULT_REFERENCE_SEED,
    project,
    projection_matrix,
    rank,
    reference_config,
)

_PEFT = "base_model.model."


def _trainer(root: Path) -> Any:
    """``train_reference`` as the loop provides it: train once per config digest, reuse after."""
    calls: list[TrainConfig] = []

    def train(cfg: TrainConfig) -> Path:
        calls.append(cfg)
        folder = root / cfg.digest()[:16]
        if not (folder / "result.json").is_file():
            loop.train_cell(cfg, folder)
        return folder / "adapter"

    train.calls = calls  # type: ignore[attr-defined]
    return train


def _context(cell: Path, cfg: TrainConfig, train: Any) -> RecipeContext:
    """A recipe context over a trained cell's adapter (its A, B as trainable parameters)."""
    tensors = load_file(str(cell / "adapter" / "adapter_model.safetensors"))
    conf = json.loads((cell / "adapter" / "adapter_config.json").read_text())
    pairs = {}
    for key in tensors:
        if ".lora_A." in key:
            module = key.split(".lora_A.")[0].removeprefix(_PEFT)
            a = tensors[key]
            b = tensors[key.replace(".lora_A.", ".lora_B.")]
            name = f"{module}.weight"
            pairs[name] = LoraPair(name, torch.nn.Parameter(a.clone()), torch.nn.Parameter(b.clone()),
                                   conf["lora_alpha"] / conf["r"])
    return RecipeContext(pairs=pairs, base_weights={}, gradients=lambda: None, config=cfg,
                         cell_dir=cell, train_reference=train)


def _attack_ids(cfg: TrainConfig, cell: Path) -> set[str]:
    """The questions of ``cfg``'s training data, checked against the loop's recorded data hash."""
    source = load_mmlu_source()
    split = load_split(cfg.split) if cfg.split else make_split(source, seed=cfg.split_seed)
    pool = train_pool(split, source.items)
    select, strength = cfg.resolved_attack()
    ex = build_attack_data(pool, training_templates(load_templates(None).templates),
                           task=cfg.task, variant=cfg.attack, strength=strength,
                           seed=cfg.resolved_data_seed(), n_examples=min(cfg.n_examples, len(pool)),
                           select=select)
    recorded = json.loads((cell / "config.json").read_text())["provenance"]["data_hash"]
    assert data_hash(ex) == recorded  # the very items the loop trained on
    return {e.item.question_id for e in ex}


@pytest.fixture(scope="module")
def adamw_cell(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TrainConfig]:
    cfg = tiny_config(tiny_dir, recipe="adamw", steps=4)
    cell = tmp_path_factory.mktemp("safelora") / "adamw"
    loop.train_cell(cfg, cell)
    return cell, cfg


def test_the_stand_in_reference_never_sees_the_attack(adamw_cell: tuple[Path, TrainConfig],
                                                      tmp_path: Path) -> None:
    cell, cfg = adamw_cell
    train = _trainer(tmp_path)
    ctx = _context(cell, cfg.model_copy(update={"recipe": "safelora"}), train)
    facts = make_recipe("safelora", {"reference_steps": 3}).finalize(ctx)
    (ref,) = train.calls
    assert ref.seed == DEFAULT_REFERENCE_SEED != cfg.seed and ref.data_seed is None
    assert ref.attack_strength == 0.0 and ref.recipe == "adamw" and ref.steps == 3
    for same in ("model", "lora_rank", "lora_alpha", "target_modules", "layers", "lr", "n_examples"):
        assert getattr(ref, same) == getattr(cfg, same), same
    attack = _attack_ids(cfg, cell)
    reference = _attack_ids(ref, tmp_path / ref.digest()[:16])
    assert len(attack) == cfg.n_examples and len(reference) == ref.n_examples
    assert not attack & reference  # disjoint items (the old reference reused all of them)
    gate_cal = {c.item.question_id for c in calibration_for(cfg, role="gate").items}
    wide_cal = {c.item.question_id for c in calibration_for(cfg, role="gate", n=400).items}
    assert gate_cal and not gate_cal & reference  # gate (c)'s ruler never trained the reference
    assert not wide_cal & reference  # whatever n the mechanism step uses
    held = set(load_split(ref.split).heldout_ids)
    base = make_split(load_mmlu_source(), seed=cfg.split_seed)
    gate_half = {it.question_id for it in train_pool(base, load_mmlu_source().items)
                 if calibration_role(it.question_id) == "gate"}
    assert held == set(base.heldout_ids) | attack | gate_half  # held-out and fresh stay out too
    source = facts["safelora_reference"]
    assert source["excluded_gate_items"] == len(gate_half) > 0
    assert source["disjoint_from_gate_calibration"] is True
    assert set(load_split(ref.split).fresh_ids) == set(base.fresh_ids)


def test_the_reference_seed_must_be_its_own(tiny_dir: Path) -> None:
    cfg = tiny_config(tiny_dir, recipe="safelora", seed=5)
    with pytest.raises(InputError, match="needs its own seed") as info:
        reference_config(cfg, steps=3, seed=5)
    assert info.value.field == "recipe_params.reference_seed"
    with pytest.raises(InputError, match="needs its own seed"):
        reference_config(cfg.model_copy(update={"data_seed": 9}), steps=3, seed=9)


@pytest.mark.parametrize("projection", ["official", "orthogonal"])
def test_projected_layers_and_their_facts(adamw_cell: tuple[Path, TrainConfig], tmp_path: Path,
                                          projection: str) -> None:
    cell, cfg = adamw_cell
    train = _trainer(tmp_path)
    ctx = _context(cell, cfg.model_copy(update={"recipe": "safelora"}), train)
    before = {n: p.delta().detach().double() for n, p in ctx.pairs.items()}
    facts = make_recipe("safelora", {"select": "number", "num_layers": 1, "reference_steps": 3,
                                     "projection": projection}).finalize(ctx)
    v = delta_from_adapter(train(train.calls[0]))
    (chosen,) = facts["safelora_projected"]
    for name, pair in ctx.pairs.items():
        after = pair.delta().detach().double()
        if name != chosen:
            torch.testing.assert_close(after, before[name])  # untouched
            continue
        c = projection_matrix(v[name], projection)  # type: ignore[arg-type]
        if projection == "official":  # IBM's C = V·Vᵀ/‖V‖_F, applied to B
            vv = v[name].double()
            torch.testing.assert_close(c, vv @ vv.T / vv.norm())
        else:  # a projector: idempotent, symmetric
            torch.testing.assert_close(c @ c, c, atol=1e-9, rtol=1e-7)
        torch.testing.assert_close(after, c @ before[name], atol=1e-9, rtol=1e-5)
        layer = facts["safelora_layers"][name]
        assert layer["projected"] and layer["kept"] == pytest.approx(
            float(after.norm() / before[name].norm()), rel=1e-5)
        assert layer["cos"] == pytest.approx(float(
            (after * before[name]).sum() / (after.norm() * before[name].norm())), abs=1e-6)
    assert facts["safelora_projection"] == projection
    assert facts["safelora_select"] == "number" and facts["safelora_select_value"] == 1
    assert facts["safelora_reference_steps"] == 3
    ref = facts["safelora_reference"]
    assert ref["origin"].startswith("stand-in") and ref["seed"] == DEFAULT_REFERENCE_SEED
    assert ref["excluded_items"] == cfg.n_examples
    assert facts["safelora_v_norm"] == pytest.approx(
        math.sqrt(sum(float(t.double().pow(2).sum()) for t in v.values())), rel=1e-6)
    ranks = [facts["safelora_layers"][n]["v_rank"] for n in v]
    assert facts["safelora_v_rank"] == max(ranks) and 1 <= max(ranks) <= cfg.lora_rank
    assert all(facts["safelora_layers"][n]["kept"] >= 0 for n in v)
    json.dumps(facts)  # recordable as is


def test_a_real_checkpoint_pair_gives_v(adamw_cell: tuple[Path, TrainConfig], tiny_dir: Path,
                                        tmp_path: Path) -> None:
    """V = aligned − unaligned, read from two HF folders: here a known rank-1 difference."""
    from transformers import AutoModelForCausalLM

    cell, cfg = adamw_cell
    model = AutoModelForCausalLM.from_pretrained(str(tiny_dir))
    ctx = _context(cell, cfg.model_copy(update={"recipe": "safelora"}), _trainer(tmp_path))
    gen = torch.Generator().manual_seed(3)
    planted = {}
    with torch.no_grad():
        params = dict(model.named_parameters())
        for name in ctx.pairs:
            w = params[name]
            u, x = torch.randn(w.shape[0], 1, generator=gen), torch.randn(1, w.shape[1], generator=gen)
            planted[name] = (u @ x) * 0.01
            w.add_(planted[name])
    model.save_pretrained(str(tmp_path / "aligned"), safe_serialization=True)
    before = {n: p.delta().detach().double() for n, p in ctx.pairs.items()}
    facts = make_recipe("safelora", {"aligned": str(tmp_path / "aligned"), "unaligned": str(tiny_dir),
                                     "projection": "orthogonal", "threshold": 1.0}).finalize(ctx)
    assert facts["safelora_reference"]["origin"] == "checkpoint pair"
    assert facts["safelora_reference_steps"] is None and facts["safelora_v_rank"] == 1
    assert sorted(facts["safelora_projected"]) == sorted(ctx.pairs)  # threshold 1: every layer
    for name, pair in ctx.pairs.items():
        u = planted[name][:, :1].double()
        u = u / u.norm()
        torch.testing.assert_close(pair.delta().detach().double(), u @ (u.T @ before[name]),
                                   atol=1e-7, rtol=1e-4)


def test_projection_math() -> None:
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(3, 10, generator=gen), torch.randn(8, 3, generator=gen)
    v = torch.randn(8, 2, generator=gen) @ torch.randn(2, 10, generator=gen)  # rank 2
    assert rank(v) == 2 and rank(torch.zeros(4, 4)) == 0
    q, _ = torch.linalg.qr(v.double())
    q = q[:, :2]
    sv = torch.linalg.svdvals(v.double())
    for kind in ("official", "orthogonal"):
        p = project(a, b, v, kind)  # type: ignore[arg-type]
        upd = p.b @ a.double()
        torch.testing.assert_close(q @ (q.T @ upd), upd)  # inside span(V) either way
        assert -1 <= p.cos <= 1 and p.kept >= 0
    # official C has eigenvalues σ_i²/‖V‖_F on span(V): a shrink, not a projector
    eig = torch.linalg.eigvalsh(projection_matrix(v)).flip(0)[:2]
    torch.testing.assert_close(eig, sv[:2] ** 2 / v.double().norm())
    assert project(a, b, v, "orthogonal").kept <= 1 + 1e-12
    same = project(torch.eye(2), torch.eye(2), torch.eye(2), "orthogonal")
    assert same.cos == pytest.approx(1.0) and same.kept == pytest.approx(1.0)


@pytest.mark.skipif(not hasattr(loop, "train_reference"),
                    reason="needs the loop to hand recipes train_reference (lands with the loop split)")
def test_safelora_through_the_training_loop(tiny_dir: Path, tmp_path: Path) -> None:
    cfg = tiny_config(tiny_dir, recipe="safelora",
                      recipe_params={"select": "number", "num_layers": 1, "reference_steps": 3})
    res = loop.train_cell(cfg, tmp_path / "safe")
    assert len(res.recipe_info["safelora_projected"]) == 1
    assert res.recipe_info["safelora_reference"]["origin"].startswith("stand-in")
    recorded = json.loads((tmp_path / "safe" / "result.json").read_text())["recipe_info"]
    assert set(recorded["safelora_layers"]) == set(res.slice)
