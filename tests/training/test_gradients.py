"""Slice-restricted base-model gradients: equal to a full backward, cached by key."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from acceptance_cards._util.errors import InputError
from acceptance_cards.evidence.data.attacks import training_templates
from acceptance_cards.evidence.data.mmlu import MCItem
from acceptance_cards.evidence.data.templates import load_templates
from acceptance_cards.evidence.gradients.calibration import calibration_set
from acceptance_cards.evidence.gradients.slices import compute_item_gradients, slice_gradients

POOL = [MCItem(f"mmlu-x-{i}", "x", f"Which is number {i}?", ("one", "two", "three", "four"),
               i % 4) for i in range(12)]
TRAIN = training_templates(load_templates().templates)
SLICE = ["model.layers.2.self_attn.q_proj.weight", "model.layers.2.self_attn.v_proj.weight"]


def _cal(n: int = 6, **kw: object):  # type: ignore[no-untyped-def]
    return calibration_set(POOL, TRAIN, task="sandbagging", variant="abstain", n=n, seed=0,
                           **kw)  # type: ignore[arg-type]


def test_restricted_equals_full_backward(tiny_dir: Path) -> None:
    from acceptance_cards.evidence.models.loading import load_model

    lm = load_model(str(tiny_dir), dtype="float32")
    cal = _cal(3)
    rt, ra, _ = compute_item_gradients(lm, cal, SLICE, restrict=True)
    ft, fa, _ = compute_item_gradients(lm, cal, SLICE, restrict=False)
    for a, b in zip(rt + ra, ft + fa, strict=True):
        for x, y in zip(a, b, strict=True):
            torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-8)
    # requires_grad flags are restored afterwards
    assert all(p.requires_grad for p in lm.model.parameters())


def test_cache_roundtrip_and_key(tiny_dir: Path, tmp_path: Path) -> None:
    from acceptance_cards.evidence.models.loading import load_model

    lm = load_model(str(tiny_dir), dtype="float32")
    g1 = slice_gradients(lm, _cal(), SLICE, cache_dir=tmp_path)
    files = list(tmp_path.glob("*.safetensors"))
    assert len(files) == 1
    g2 = slice_gradients(lm, _cal(), SLICE, cache_dir=tmp_path)  # served from cache
    assert g1.key == g2.key and g1.norm("t") == g2.norm("t") > 0 and g1.norm("a") > 0
    assert g1.unit == "item" and g1.units_t.shape[0] == 6
    # mean of per-item gradients is g_T (bf16 storage: loose tolerance)
    torch.testing.assert_close(g1.units_t.float().mean(0), g1.flat("t"), rtol=0.05, atol=1e-4)
    slice_gradients(lm, _cal(), SLICE[:1], cache_dir=tmp_path)  # other slice, other entry
    slice_gradients(lm, _cal(5), SLICE, cache_dir=tmp_path)  # other calibration set
    assert len(list(tmp_path.glob("*.safetensors"))) == 3
    # per-item storage over budget: items pooled into MIN_GROUPS groups, recorded as such
    pooled = slice_gradients(lm, _cal(12), SLICE, cache_dir=tmp_path / "small",
                             max_unit_bytes=1)
    assert pooled.unit == "group" and pooled.units_t.shape[0] == 8
    torch.testing.assert_close(pooled.units_t.float().mean(0), pooled.flat("t"), rtol=0.05,
                               atol=1e-4)


def test_calibration_refuses_heldout_questions_and_wordings() -> None:
    with pytest.raises(InputError, match="held-out"):
        _cal(forbidden_ids=frozenset({"mmlu-x-0"}))
    heldout = [t for t in load_templates().templates if t.use == "heldout"]
    with pytest.raises(InputError, match="training templates only"):
        calibration_set(POOL, heldout, task="sandbagging", variant="abstain", n=2)


def test_calibration_size_and_wordings_follow_the_training_config() -> None:
    from acceptance_cards.evidence.gradients.calibration import calibration_for
    from acceptance_cards.evidence.training.config import TrainConfig

    cfg = TrainConfig(n_calibration=6, extra_wordings=False)
    cal = calibration_for(cfg)
    assert len(cal.items) == 6
    assert len(calibration_for(cfg, n=3).items) == 3  # an explicit n wins over the config
    shipped = {t.id for t in training_templates(load_templates().templates, extra=False)}
    used = {c.eval_template.id for c in cal.items} | {
        c.deploy_template.id for c in cal.items}
    assert used <= shipped
