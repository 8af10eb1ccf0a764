"""Each recipe changes the update the way it claims (tiny model, real peft, real MMLU)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers_train import tiny_config

from acceptance_cards._util.errors import InputError
from acceptance_cards.evidence.models.delta_w import delta_from_adapter
from acceptance_cards.evidence.training.loop import recipe_gradients, train_cell
from acceptance_cards.evidence.training.recipes import card_class, claimed_class, make_recipe


def _alpha_a(cell: Path, cfg) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(α_T, α_A) of a trained cell against the cached base gradients."""
    dw = delta_from_adapter(cell / "adapter")
    g = recipe_gradients(None, cfg, sorted(dw))
    flat = torch.cat([dw[n].reshape(-1) for n in g.names]).double()
    return (float(flat @ g.flat("t").double()) / g.norm("t"),
            float(flat @ g.flat("a").double()) / g.norm("a"))


def test_attack_aware_removes_the_ga_component(tiny_dir: Path, tmp_path: Path) -> None:
    cells = {}
    for name, params in (("adamw", {}), ("attack-aware", {"alpha": 1.0}),
                         ("attack-aware", {"alpha": 0.5})):
        cfg = tiny_config(tiny_dir, recipe=name, recipe_params=params, steps=3)
        out = tmp_path / f"{name}-{params.get('alpha', 0)}"
        train_cell(cfg, out)
        cells[(name, params.get("alpha"))] = _alpha_a(out, cfg)
    _, a_adamw = cells[("adamw", None)]
    _, a_full = cells[("attack-aware", 1.0)]
    _, a_half = cells[("attack-aware", 0.5)]
    assert abs(a_adamw) > 0
    assert abs(a_full) < 0.05 * abs(a_adamw)  # first-order removal: only δB·δA survives
    assert abs(a_full) < abs(a_half) < abs(a_adamw)


def test_ac_adamw_shrinks_the_top_fisher_rows(tiny_dir: Path, tmp_path: Path) -> None:
    runs = {}
    for alpha in (0.0, 10.0, 1000.0):
        cfg = tiny_config(tiny_dir, recipe="ac-adamw", recipe_params={"alpha": alpha}, steps=6)
        train_cell(cfg, tmp_path / f"ac{alpha}")
        runs[alpha] = delta_from_adapter(tmp_path / f"ac{alpha}" / "adapter")
    base = tiny_config(tiny_dir, recipe="adamw", steps=6)
    train_cell(base, tmp_path / "adamw")
    adamw = delta_from_adapter(tmp_path / "adamw" / "adapter")
    for n in adamw:  # alpha = 0 is AdamW exactly
        torch.testing.assert_close(runs[0.0][n], adamw[n])
    g = recipe_gradients(None, base, sorted(adamw))
    scores = sorted(((float(g.fisher_t[n].sum(1)[r]), n, r) for n in adamw
                     for r in range(adamw[n].shape[0])), reverse=True)
    top = scores[: max(1, round(0.1 * len(scores)))]

    def top_norm(dw: dict[str, torch.Tensor]) -> float:
        return sum(float(dw[n][r].pow(2).sum()) for _, n, r in top) ** 0.5

    assert top_norm(runs[1000.0]) < top_norm(runs[10.0]) < top_norm(adamw)


def test_registry_and_claims() -> None:
    assert claimed_class("adamw") == "reference" and card_class("adamw") == "unstated"
    assert claimed_class("ac-adamw") == "shrinkage"
    assert claimed_class("attack-aware") == "attack-targeted"
    assert card_class("safelora") == "attack-targeted"
    assert card_class("safelora", permissive=True) == "shrinkage"
    with pytest.raises(InputError, match="unknown recipe"):
        make_recipe("sgd")
    with pytest.raises(InputError, match="no parameter"):
        make_recipe("adamw", {"alpha": 1})
    with pytest.raises(InputError, match="recipe_params.alpha"):
        make_recipe("attack-aware", {"alpha": -1})
    with pytest.raises(InputError, match="both aligned and unaligned"):
        make_recipe("safelora", {"aligned": "x"})


def test_attack_aware_counts_projected_steps_across_a_resume(tiny_dir: Path, tmp_path: Path) -> None:
    cfg = tiny_config(tiny_dir, recipe="attack-aware", steps=4, n_calibration=4)
    cell = tmp_path / "cell"
    first = train_cell(cfg, cell, stop_after=2)
    assert first.steps == 2
    res = train_cell(cfg, cell)
    assert res.resumed_from == 2
    assert res.recipe_info["attack_aware_steps_projected"] == 4
    whole = train_cell(cfg, tmp_path / "whole")
    assert whole.recipe_info["attack_aware_steps_projected"] == 4
