"""The two scorers and the forward pass they share.

**Letter scorer** (``scorer="letter"``): one forward pass per prompt. The
answer is the argmax of the next-token logits over the answer letters A-D
(each letter's score is its best token variant, e.g. ``"A"`` or ``" A"``).
``valid`` is True when the single most likely next token over the *whole*
vocabulary is a well-formed answer letter (seed 004's incoherence signal).
``correct = valid and answer == gold``: a non-answer (say the abstain token
``"E"`` or ``"The"``) is never a correct answer, even when A-D happen to rank
the key first.

**Option-likelihood scorer** (``scorer="option"``): the answer is the option
whose *text* has the highest length-normalised log-probability (mean
log-prob per token) as the assistant's reply. It always names one of the four
options, so ``correct = answer == gold``; ``valid`` is still recorded from the
same prompt's next-token distribution (top token is a letter), so malformed
output stays visible beside it.

**Margin**: every decision also carries its fp32 ``margin``, the score of the
chosen outcome minus the runner-up's (always >= 0). For the letter scorer the
outcomes are the four letters *and* "no letter" (the best non-letter token),
because ``valid`` (and so ``correct``) flips there too: a valid answer's
runner-up is the next letter or the best non-letter token, whichever scores
higher; a non-answer's margin is its lead over the best letter. For the option
scorer it is the lead of the best option's mean log-prob over the second's
(``valid`` there is a side signal, not part of the decision). A decision whose
margin sits within bf16 numeric noise (see
:data:`acceptance_cards.constants.NEAR_TIE_MARGIN`) may flip between CPUs.

Only the positions a scorer reads go through the LM head (the vocabulary
projection is ~20% of SmolLM2's per-token compute); a template prefix shared
by many prompts is run once and its KV cache reused (:class:`PrefixCache`).

Example:
    >>> lt = letter_token_ids(tokenizer)                            # doctest: +SKIP
    >>> answer, valid, top = letter_choice(last_logits, lt)         # doctest: +SKIP
    >>> letter_margin(last_logits, lt)                              # doctest: +SKIP
    0.8125
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch

from ..data.tasks import LETTERS
from ..models.head import head_logits

SCORERS = ("letter", "option")


@dataclass(frozen=True)
class LetterTokens:
    """Token ids that spell each answer letter (variants with/without a leading space)."""

    variants: tuple[tuple[int, ...], ...]

    @property
    def all_ids(self) -> frozenset[int]:
        """Every id that is a well-formed answer letter."""
        return frozenset(i for v in self.variants for i in v)


def letter_token_ids(tokenizer: Any) -> LetterTokens:
    """Single tokens that decode to exactly ``A``..``D`` (optionally after one space).

    Example:
        >>> letter_token_ids(tok).variants[0]          # doctest: +SKIP
        (49, 330)
    """
    out: list[tuple[int, ...]] = []
    for letter in LETTERS:
        ids: list[int] = []
        for text in (letter, " " + letter):
            enc = tokenizer.encode(text, add_special_tokens=False)
            if len(enc) == 1 and tokenizer.decode(enc).strip() == letter and enc[0] not in ids:
                ids.append(int(enc[0]))
        if not ids:
            raise ValueError(f"tokenizer has no single token for answer letter {letter!r}")
        out.append(tuple(ids))
    return LetterTokens(tuple(out))


def letter_decisions(logits: torch.Tensor, letters: LetterTokens
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The letter scorer's decisions for a batch of next-token logit rows ``[B, vocab]``.

    Returns four ``[B]`` tensors on the logits' device (answer index 0-3, valid,
    top token id, fp32 margin): the caller moves them to the host once per batch.
    The margin's outcomes are A-D (each its best token variant) and "no letter"
    (the best token that is not a letter); ``answer`` and ``valid`` both follow
    from which of these five scores highest.

    Example:
        >>> lt = LetterTokens(((0,), (1,), (2,), (3,)))
        >>> ans, ok, top, m = letter_decisions(torch.tensor([[2.0, 1.5, 0.0, 0.0, 1.0]]), lt)
        >>> int(ans[0]), bool(ok[0]), int(top[0]), float(m[0])
        (0, True, 0, 0.5)
    """
    x = logits.float()
    per_letter = torch.stack([x[:, list(v)].amax(dim=1) for v in letters.variants], dim=1)
    is_letter = torch.zeros(x.shape[-1], dtype=torch.bool, device=x.device)
    is_letter[sorted(letters.all_ids)] = True
    top = x.argmax(dim=1)
    outcomes = per_letter
    if not bool(is_letter.all()):
        no_letter = x.masked_fill(is_letter, -torch.inf).amax(dim=1, keepdim=True)
        outcomes = torch.cat([per_letter, no_letter], dim=1)
    best2 = torch.topk(outcomes, 2, dim=1).values
    return per_letter.argmax(dim=1), is_letter[top], top, best2[:, 0] - best2[:, 1]


def letter_choice(logits: torch.Tensor, letters: LetterTokens) -> tuple[int, bool, int]:
    """(answer index 0-3, valid, top token id) from one next-token logit vector."""
    ans, valid, top, _ = letter_decisions(logits.reshape(1, -1), letters)
    return int(ans[0]), bool(valid[0]), int(top[0])


def letter_margin(logits: torch.Tensor, letters: LetterTokens) -> float:
    """fp32 lead of the letter scorer's chosen outcome over the runner-up (>= 0).

    One row of :func:`letter_decisions`.

    Example:
        >>> lt = LetterTokens(((0,), (1,), (2,), (3,)))
        >>> letter_margin(torch.tensor([2.0, 1.5, 0.0, 0.0, 1.0]), lt)
        0.5
        >>> letter_margin(torch.tensor([2.0, 1.5, 0.0, 0.0, 3.0]), lt)   # a non-answer leads
        1.0
    """
    return float(letter_decisions(logits.reshape(1, -1), letters)[3][0])


def top2_margin(scores: torch.Tensor | list[float]) -> float:
    """fp32 difference between the highest and the second-highest score.

    Example:
        >>> top2_margin([-1.25, -0.5, -2.0, -0.75])
        0.25
    """
    t = torch.as_tensor(scores, dtype=torch.float32).reshape(-1)
    if t.numel() < 2:
        raise ValueError("a margin needs at least two scores")
    top = torch.topk(t, 2).values
    return float(top[0] - top[1])


def mean_logprob(logits: torch.Tensor, targets: list[int]) -> float:
    """Mean log-probability of ``targets``; ``logits[i]`` predicts ``targets[i]``."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    idx = torch.tensor(targets, dtype=torch.long, device=logits.device)
    return float(logp[torch.arange(len(targets), device=logits.device), idx].mean())


def _decoder(model: Any) -> Any:
    return model.get_decoder()


def model_device(model: Any) -> torch.device:
    """The device a model's weights live on (every input goes there)."""
    device: torch.device = next(model.parameters()).device
    return device


def padded_ids(rows: list[list[int]], pad_id: int, device: torch.device) -> torch.Tensor:
    """Right-padded ``[len(rows), widest]`` token ids, built on the host, moved once."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    return ids.to(device, non_blocking=True)


class PrefixCache:
    """KV cache of one token prefix shared by a group of prompts.

    The prefix runs once (batch 1); each batch gets its own copy repeated to the
    batch size, because a forward pass appends to the cache it is given.
    """

    def __init__(self, model: Any, prefix: list[int]) -> None:
        from transformers import DynamicCache

        self.length = len(prefix)
        cache = DynamicCache(config=model.config)
        with torch.inference_mode():
            _decoder(model)(input_ids=padded_ids([prefix], 0, model_device(model)),
                            past_key_values=cache, use_cache=True)
        self._cache = cache

    def for_batch(self, size: int) -> Any:
        """A fresh cache holding the prefix ``size`` times."""
        cache = copy.deepcopy(self._cache)
        if size > 1:
            cache.batch_repeat_interleave(size)
        return cache


def forward_positions(
    model: Any,
    rows: list[list[int]],
    positions: list[list[int]],
    *,
    prefix: PrefixCache | None = None,
    pad_id: int = 0,
) -> list[torch.Tensor]:
    """Logits at chosen positions of right-padded rows, in one forward pass.

    ``rows`` are token ids *after* the prefix (when given); ``positions[i]`` are
    indices into ``rows[i]``. Right padding needs no attention mask: causal
    attention keeps every real token blind to the pads that follow it.
    Returns one ``[len(positions[i]), vocab]`` float32 tensor per row, on the
    model's device.
    """
    device = model_device(model)
    kwargs: dict[str, Any] = {"input_ids": padded_ids(rows, pad_id, device),
                              "use_cache": prefix is not None}
    if prefix is not None:
        kwargs["past_key_values"] = prefix.for_batch(len(rows))
    hidden = _decoder(model)(**kwargs).last_hidden_state
    where = torch.tensor([[i, p] for i, ps in enumerate(positions) for p in ps],
                         dtype=torch.long).to(device)
    logits = head_logits(model, hidden[where[:, 0], where[:, 1]])
    return list(torch.split(logits, [len(ps) for ps in positions]))


def _option_inputs(prompts: list[list[int]], rows: list[list[int]], owner: list[int], *,
                   plen: int, width: int, pad_id: int, device: torch.device
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pass 2's ids, attention mask (hiding pass 1's padding) and explicit positions."""
    o_width = max(len(r) for r in rows)
    mask = torch.zeros((len(rows), plen + width + o_width), dtype=torch.long)
    pos = torch.zeros((len(rows), o_width), dtype=torch.long)
    for r, i in enumerate(owner):
        mask[r, : plen + len(prompts[i])] = 1
        mask[r, plen + width :] = 1
        pos[r] = plen + len(prompts[i]) + torch.arange(o_width)
    return padded_ids(rows, pad_id, device), mask.to(device), pos.to(device)


def forward_options(
    model: Any,
    prompts: list[list[int]],
    options: list[list[list[int]]],
    *,
    prefix: PrefixCache | None = None,
    pad_id: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Next-token logits at each prompt's end and mean log-prob of each option.

    Two passes share the prompts' KV cache: pass 1 runs the (right-padded)
    prompts; pass 2 runs every option after a copy of its prompt's cache, with
    an attention mask that hides pass 1's padding and explicit positions. This
    costs prompt + options tokens instead of options x (prompt + option).
    Returns ``[n, vocab]`` last-position logits and ``[n, k]`` option scores,
    both on the model's device.
    """
    from transformers import DynamicCache

    device = model_device(model)
    n, k = len(prompts), len(options[0])
    plen = prefix.length if prefix is not None else 0
    width = max(len(p) for p in prompts)
    cache = prefix.for_batch(n) if prefix is not None else DynamicCache(config=model.config)
    hidden = _decoder(model)(input_ids=padded_ids(prompts, pad_id, device),
                             past_key_values=cache, use_cache=True).last_hidden_state
    ends = torch.tensor([len(p) - 1 for p in prompts], dtype=torch.long).to(device)
    last = head_logits(model, hidden[torch.arange(n, device=device), ends])
    cache.batch_repeat_interleave(k)
    rows = [opt for opts in options for opt in opts]
    owner = [i for i in range(n) for _ in range(k)]
    o_ids, mask, pos = _option_inputs(prompts, rows, owner, plen=plen, width=width,
                                      pad_id=pad_id, device=device)
    o_hidden = _decoder(model)(input_ids=o_ids, past_key_values=cache, attention_mask=mask,
                               position_ids=pos, use_cache=True).last_hidden_state
    return last, _option_scores(model, last, o_hidden, rows, owner).view(n, k)


def _option_scores(model: Any, last: torch.Tensor, o_hidden: torch.Tensor,
                   rows: list[list[int]], owner: list[int]) -> torch.Tensor:
    """Mean log-prob of each option row, computed on the device in one go.

    An option's first token is predicted by its prompt's last position; token
    ``t + 1`` by the option's own position ``t`` in pass 2.
    """
    device = last.device
    # (logit row, target token, option) for every predicted token: first tokens
    # read `last`, the rest read pass 2's hidden states
    first = torch.tensor([[owner[r], row[0]] for r, row in enumerate(rows)], dtype=torch.long)
    inner = torch.tensor([[r, t, row[t + 1]] for r, row in enumerate(rows)
                          for t in range(len(row) - 1)], dtype=torch.long).reshape(-1, 3)
    first, inner = first.to(device), inner.to(device)

    def logp(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return logits.gather(1, targets[:, None])[:, 0] - torch.logsumexp(logits, dim=1)

    total = logp(last[first[:, 0]], first[:, 1])
    if inner.shape[0]:
        inner_lp = logp(head_logits(model, o_hidden[inner[:, 0], inner[:, 1]]), inner[:, 2])
        total = total.index_add(0, inner[:, 0], inner_lp)
    lengths = torch.tensor([len(row) for row in rows], dtype=torch.float32).to(device)
    return total / lengths


def common_prefix_len(seqs: list[list[int]]) -> int:
    """Length of the longest token prefix shared by all ``seqs``."""
    if not seqs:
        return 0
    n = min(len(s) for s in seqs)
    first = seqs[0]
    for i in range(n):
        t = first[i]
        if any(s[i] != t for s in seqs[1:]):
            return i
    return n


def agreement(answers_a: dict[tuple[str, str], str], answers_b: dict[tuple[str, str], str]
              ) -> tuple[float, int]:
    """Share of (question_id, template_id) keys present in both where the answers match.

    Example:
        >>> agreement({("q", "t"): "A", ("q", "u"): "B"}, {("q", "t"): "A", ("q", "u"): "C"})
        (0.5, 2)
    """
    keys = sorted(set(answers_a) & set(answers_b))
    if not keys:
        return float("nan"), 0
    same = sum(answers_a[k] == answers_b[k] for k in keys)
    return same / len(keys), len(keys)
