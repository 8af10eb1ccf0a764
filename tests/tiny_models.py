"""A tiny randomly initialised Llama saved as an HF folder (real transformers code path)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def build_tiny(folder: Path, tokenizer: Any, *, hidden: int = 32, layers: int = 2, seed: int = 0) -> Path:
    """Save a tiny random Llama + the given tokenizer into ``folder``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden,
                      num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=2048, tie_word_embeddings=True,
                      bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                      pad_token_id=tokenizer.pad_token_id)
    gen = torch.Generator().manual_seed(seed)
    model = LlamaForCausalLM(cfg)
    with torch.no_grad():
        for p in model.parameters():
            # larger-than-default weights spread the logits, so argmax ties are rare
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder
