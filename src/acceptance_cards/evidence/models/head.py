"""The model's output function: one owner for how hidden states become logits.

Scoring, the training loss and the base-model gradients of gate (c) all call
:func:`head_logits`, so they read the same function of the weights — including
Gemma-2's final-logit soft-capping (``final_logit_softcapping`` in its config,
30.0 for Gemma-2-2B), which a bare ``lm_head`` call would skip.

Example:
    >>> import torch
    >>> from transformers import LlamaConfig, LlamaForCausalLM
    >>> cfg = LlamaConfig(vocab_size=32, hidden_size=8, intermediate_size=16,
    ...                   num_hidden_layers=1, num_attention_heads=2)
    >>> head_logits(LlamaForCausalLM(cfg), torch.zeros(3, 8)).shape
    torch.Size([3, 32])
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["head_logits"]


def head_logits(model: Any, hidden: torch.Tensor) -> torch.Tensor:
    """fp32 logits of the LM head for the given hidden states, soft-capped where the
    model's config says so (``tanh(z / cap) · cap``, as the model's own forward does)."""
    logits: torch.Tensor = model.get_output_embeddings()(hidden)
    cap = getattr(model.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return logits.float()
