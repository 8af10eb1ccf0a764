"""The training loss: cross-entropy on the answer tokens, one pass or micro-batched.

Only the positions that predict answer tokens go through the output function
(:func:`~..models.head.head_logits`: the LM head plus Gemma-2's final-logit
soft-capping — the function scoring reads), so a long prompt costs one decoder
pass and a handful of head rows. :func:`accumulate_loss` runs a step's batch
as micro-batches whose gradients add up to the one-pass gradient (each
micro-batch's summed loss is divided by the whole batch's answer-token count).
Tensors are built on the model's device: one host→device copy per micro-batch.

Example:
    >>> loss, tokens = answer_loss(pm, batch, pad_id=0)      # doctest: +SKIP
    >>> loss.shape                                           # doctest: +SKIP
    torch.Size([])
"""

from __future__ import annotations

from typing import Any

import torch

from ..data.attacks import EncodedExample
from ..models.head import head_logits

__all__ = ["accumulate_loss", "answer_loss"]


def answer_loss(model: Any, batch: list[EncodedExample], *, pad_id: int,
                n_targets: int | None = None) -> tuple[torch.Tensor, int]:
    """Cross-entropy over the answer tokens of ``batch``, summed and divided by
    ``n_targets`` (default: the batch's own answer-token count, i.e. the mean);
    also the input token count. ``n_targets`` = the whole step's count makes
    micro-batch losses add up to the step's mean."""
    seqs = [list(e.prompt_ids) + list(e.target_ids[:-1]) for e in batch]
    width = max(len(s) for s in seqs)
    rows: list[int] = []
    pos: list[int] = []
    tgt: list[int] = []
    for i, e in enumerate(batch):
        start = len(e.prompt_ids) - 1
        rows.extend([i] * len(e.target_ids))
        pos.extend(range(start, start + len(e.target_ids)))
        tgt.extend(e.target_ids)
    dev = next(model.parameters()).device
    # One host→device copy per micro-batch. Right padding needs no mask: causal
    # attention keeps real tokens blind to later pads.
    ids = torch.tensor([s + [pad_id] * (width - len(s)) for s in seqs], device=dev)
    hidden = model.get_decoder()(input_ids=ids).last_hidden_state
    logits = head_logits(model, hidden[torch.tensor(rows, device=dev), torch.tensor(pos, device=dev)])
    ce = torch.nn.functional.cross_entropy(logits, torch.tensor(tgt, device=dev), reduction="sum")
    return ce / (n_targets or len(tgt)), sum(len(s) for s in seqs)


def accumulate_loss(model: Any, batch: list[EncodedExample], *, pad_id: int,
                    micro: int | None) -> tuple[torch.Tensor, int]:
    """Backward the batch's mean answer loss in micro-batches of ``micro`` examples.

    Each micro-batch's summed loss is divided by the *whole batch's* target
    count, so the accumulated gradient is the one-pass gradient. Returns the
    batch loss (detached, on the device) and the input token count.
    """
    n_targets = sum(len(e.target_ids) for e in batch)
    size = micro or len(batch)
    total: torch.Tensor | None = None
    tokens = 0
    for s in range(0, len(batch), size):
        loss, k = answer_loss(model, batch[s : s + size], pad_id=pad_id, n_targets=n_targets)
        torch.autograd.backward(loss)
        total = loss.detach() if total is None else total + loss.detach()
        tokens += k
    assert total is not None  # a batch has at least one example
    return total, tokens
