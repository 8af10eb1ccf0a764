"""ΔW from a real peft adapter equals what peft's own merge adds to the weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from acceptance_cards._util.errors import InputError
from acceptance_cards.evidence.models.delta_w import (
    adapter_modules,
    check_against_base,
    delta_from_adapter,
    delta_from_checkpoints,
)


def _adapter(tiny_dir: Path, out: Path, **lora: object) -> tuple[Path, dict[str, torch.Tensor]]:
    """A peft adapter with random (non-zero) B, and the merged-minus-base ΔW peft computes."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(str(tiny_dir), dtype=torch.float32)
    before = {n: p.detach().clone() for n, p in base.named_parameters()}
    pm = get_peft_model(base, LoraConfig(**({"r": 4, "lora_alpha": 8,
                                            "target_modules": ["q_proj", "v_proj"]} | lora)))
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for n, p in pm.named_parameters():
            if "lora_" in n:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
    pm.save_pretrained(str(out), safe_serialization=True)
    merged = pm.merge_and_unload()
    after = dict(merged.named_parameters())
    return out, {n: after[n].detach() - before[n] for n in before
                 if not torch.equal(after[n].detach(), before[n])}


@pytest.mark.parametrize("lora", [{}, {"use_rslora": True}, {"layers_to_transform": [1]}])
def test_delta_matches_peft_merge(tiny_dir: Path, tmp_path: Path, lora: dict[str, object]
                                  ) -> None:
    folder, expected = _adapter(tiny_dir, tmp_path / "a", **lora)
    got = delta_from_adapter(folder)
    assert sorted(got) == sorted(expected) == adapter_modules(folder)
    for n in got:
        torch.testing.assert_close(got[n], expected[n], rtol=1e-4, atol=1e-6)


def test_delta_from_two_checkpoints(tiny_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    m = AutoModelForCausalLM.from_pretrained(str(tiny_dir), dtype=torch.float32)
    name = "model.layers.1.mlp.up_proj.weight"
    with torch.no_grad():
        m.get_parameter(name).add_(0.5)
    m.save_pretrained(str(tmp_path / "tuned"), safe_serialization=True)
    d = delta_from_checkpoints(tiny_dir, tmp_path / "tuned", [name])
    torch.testing.assert_close(d[name], torch.full_like(d[name], 0.5), atol=1e-6, rtol=0)


def test_bad_adapters_are_clear_errors(tiny_dir: Path, other_tiny_dir: Path, tmp_path: Path
                                       ) -> None:
    from transformers import AutoModelForCausalLM

    with pytest.raises(InputError, match="no such adapter folder"):
        delta_from_adapter(tmp_path / "nope")
    folder, _ = _adapter(tiny_dir, tmp_path / "a")
    cfg = json.loads((folder / "adapter_config.json").read_text())
    (folder / "adapter_config.json").write_text(json.dumps(cfg | {"use_dora": True}))
    with pytest.raises(InputError, match="DoRA"):
        delta_from_adapter(folder)
    # an adapter of another base model: shapes do not fit
    other, _ = _adapter(other_tiny_dir, tmp_path / "other")
    shapes = {n: tuple(p.shape) for n, p in AutoModelForCausalLM.from_pretrained(
        str(tiny_dir)).named_parameters()}
    with pytest.raises(InputError, match="another base model"):
        check_against_base(delta_from_adapter(other), shapes, source=str(other))
