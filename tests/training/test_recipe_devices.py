"""Recipes build their per-step tensors on the adapters' device (not the host's).

The ``meta`` device stands in for an accelerator: an op mixing a CPU tensor with
a meta one fails exactly as CPU-with-CUDA does, so the test runs on a CPU box.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch

from acceptance_cards.evidence.training.recipes.ac_adamw import ACAdamW
from acceptance_cards.evidence.training.recipes.base import LoraPair, RecipeContext


def _ctx(device: str) -> RecipeContext:
    names = ["m.0.weight", "m.1.weight"]
    pairs = {
        n: LoraPair(
            n,
            torch.nn.Parameter(torch.ones(2, 3, device=device)),
            torch.nn.Parameter(torch.ones(4, 2, device=device)),
            0.5,
        )
        for n in names
    }
    # Fisher scores are read on the host in setup (a one-off .tolist()).
    fisher = {n: torch.arange(12, dtype=torch.float32).reshape(4, 3) + i for i, n in enumerate(names)}
    grads = SimpleNamespace(fisher_t=fisher)
    config: Any = None
    return RecipeContext(
        pairs=pairs,
        base_weights={},
        gradients=lambda: grads,
        config=config,
        train_reference=lambda _cfg: Path("."),
        cell_dir=Path("."),
        log=lambda _m: None,
    )


def test_ac_adamw_penalty_runs_on_the_adapters_device() -> None:
    ctx = _ctx("meta")
    recipe = ACAdamW(alpha=2.0, top_k_fraction=0.5)
    recipe.setup(ctx)
    for idx, w in recipe._rows.values():
        assert idx.device.type == "meta" and w.device.type == "meta"
    loss = recipe.extra_loss(ctx)
    assert loss is not None and loss.device.type == "meta"


def test_ac_adamw_penalty_value_on_cpu() -> None:
    # Same setup on the CPU: every ΔW entry is 2·0.5 = 1 → ‖row‖² = 3; the top half
    # of the 8 rows by Fisher (k = 4) is penalised.
    ctx = _ctx("cpu")
    recipe = ACAdamW(alpha=2.0, top_k_fraction=0.5)
    recipe.setup(ctx)
    loss = recipe.extra_loss(ctx)
    assert loss is not None
    # Σ w over the chosen rows is k (weights are normalised to mean 1): 0.5·α·3·k.
    assert abs(float(loss) - 0.5 * 2.0 * 3.0 * 4) < 1e-5


def test_attack_aware_step_stays_on_the_device(tmp_path: Path) -> None:
    # A host sync (float(), .item(), .tolist()) on a meta tensor raises: after_step
    # passing here means its per-pair statistics never leave the device.
    from acceptance_cards.evidence.training.recipes.attack_aware import AttackAware

    ctx = _ctx("meta")
    ctx.cell_dir = tmp_path
    g_a = {n: torch.ones(4, 3, device="meta") for n in ctx.pairs}
    ctx.gradients = lambda: SimpleNamespace(norm=lambda which: 2.0, g_a=g_a)
    recipe = AttackAware(alpha=1.0)
    recipe.setup(ctx)
    before = {f"{n}:{t}": (p.a if t == "A" else p.b).detach().clone()
              for n, p in ctx.pairs.items() for t in ("A", "B")}
    recipe.after_step(ctx, before)
    assert recipe._projected.device.type == "meta"
