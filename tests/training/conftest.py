"""Fixtures for the training / mechanism tests.

Mechanics run on a tiny randomly initialised Llama built from a config (fast,
weights drawn from an explicit ``torch.Generator``) that shares SmolLM2's real
tokenizer, so prompts, MMLU items and peft adapters are all the real thing.
Tests marked ``slow`` use the real SmolLM2-135M-Instruct.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")
pytest.importorskip("transformers")

#: Tiny model shape: 4 layers so a "mid-depth" slice exists; q/k/v/o/MLP all present.
TINY = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 4,
        "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8}


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
                    ) -> None:
    """Gradient caches and SafeLoRA references go to a per-session temp folder,
    while the dequantized SmolLM2 cache (slow to rebuild) is shared."""
    shared = os.environ.get("ACARD_CACHE")
    root = tmp_path_factory.getbasetemp() / "acard-cache"
    root.mkdir(exist_ok=True)
    models = root / "models"
    real = Path(shared) if shared else Path.home() / ".cache" / "acceptance-cards"
    if not models.exists() and (real / "models").exists():
        models.symlink_to(real / "models")
    for name in ("sha_index.json",):
        if not (root / name).exists() and (real / name).exists():
            (root / name).write_bytes((real / name).read_bytes())
    monkeypatch.setenv("ACARD_CACHE", str(root))
    torch.set_num_threads(1)


def _smollm2_tokenizer_dir() -> Path:
    from acceptance_cards.evidence.models.loading import cached_model_dir

    return cached_model_dir("smollm2")


def build_tiny(folder: Path, *, seed: int = 0, **overrides: int) -> Path:
    """Save a tiny random Llama (+ SmolLM2 tokenizer) as an HF folder."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(str(_smollm2_tokenizer_dir()))
    cfg = LlamaConfig(vocab_size=len(tok), bos_token_id=tok.bos_token_id,
                      eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                      tie_word_embeddings=True, **(TINY | overrides))
    model = LlamaForCausalLM(cfg)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # explicit generator, never the global RNG
        for name, p in sorted(model.named_parameters()):
            if "norm" in name:
                p.fill_(1.0)
            else:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.05)
    model.save_pretrained(str(folder), safe_serialization=True)
    tok.save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama folder (session-wide, read-only for tests)."""
    return build_tiny(tmp_path_factory.mktemp("tiny") / "tiny-llama")


@pytest.fixture(scope="session")
def other_tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second tiny model with different shapes (an 'other base model')."""
    return build_tiny(tmp_path_factory.mktemp("tiny2") / "tiny-other", seed=1, hidden_size=48,
                      num_attention_heads=6, num_key_value_heads=2, head_dim=8)
