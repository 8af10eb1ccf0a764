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


def letter_choice(logits: torch.Tensor, letters: LetterTokens) -> tuple[int, bool, int]:
    """(answer index 0-3, valid, top token id) from one next-token logit vector."""
    scores = torch.stack([logits[list(v)].max() for v in letters.variants])
    top = int(logits.argmax())
    return int(scores.argmax()), top in letters.all_ids, top


def letter_margin(logits: torch.Tensor, letters: LetterTokens) -> float:
    """fp32 lead of the letter scorer's chosen outcome over the runner-up (>= 0).

    The outcomes are A-D (each its best token variant) and "no letter" (the
    best token that is not a letter): the record's ``answer`` and ``valid``
    both follow from which of these five scores highest.

    Example:
        >>> lt = LetterTokens(((0,), (1,), (2,), (3,)))
        >>> letter_margin(torch.tensor([2.0, 1.5, 0.0, 0.0, 1.0]), lt)
        0.5
        >>> letter_margin(torch.tensor([2.0, 1.5, 0.0, 0.0, 3.0]), lt)   # a non-answer leads
        1.0
    """
    x = logits.float()
    scores = [x[list(v)].max() for v in letters.variants]
    others = torch.ones(x.shape[-1], dtype=torch.bool)
    others[list(letters.all_ids)] = False
    if bool(others.any()):
        scores.append(x[others].max())
    return top2_margin(torch.stack(scores))


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
    idx = torch.tensor(targets, dtype=torch.long)
    return float(logp[torch.arange(len(targets)), idx].mean())


def _decoder(model: Any) -> Any:
    return model.get_decoder()


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
            _decoder(model)(input_ids=torch.tensor([prefix]), past_key_values=cache,
                            use_cache=True)
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
    Returns one ``[len(positions[i]), vocab]`` float32 tensor per row.
    """
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    kwargs: dict[str, Any] = {"input_ids": ids, "use_cache": prefix is not None}
    if prefix is not None:
        kwargs["past_key_values"] = prefix.for_batch(len(rows))
    hidden = _decoder(model)(**kwargs).last_hidden_state
    flat_rows = [i for i, ps in enumerate(positions) for _ in ps]
    flat_pos = [p for ps in positions for p in ps]
    picked = hidden[torch.tensor(flat_rows), torch.tensor(flat_pos)]
    logits = head_logits(model, picked)
    out: list[torch.Tensor] = []
    start = 0
    for ps in positions:
        out.append(logits[start : start + len(ps)])
        start += len(ps)
    return out


def forward_options(
    model: Any,
    prompts: list[list[int]],
    options: list[list[list[int]]],
    *,
    prefix: PrefixCache | None = None,
    pad_id: int = 0,
) -> tuple[list[torch.Tensor], list[list[float]]]:
    """Next-token logits at each prompt's end and mean log-prob of each option.

    Two passes share the prompts' KV cache: pass 1 runs the (right-padded)
    prompts; pass 2 runs every option after a copy of its prompt's cache, with
    an attention mask that hides pass 1's padding and explicit positions. This
    costs prompt + options tokens instead of options x (prompt + option).
    """
    from transformers import DynamicCache

    n = len(prompts)
    plen = prefix.length if prefix is not None else 0
    width = max(len(p) for p in prompts)
    ids = torch.full((n, width), pad_id, dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, : len(p)] = torch.tensor(p, dtype=torch.long)
    cache = prefix.for_batch(n) if prefix is not None else DynamicCache(config=model.config)
    hidden = _decoder(model)(input_ids=ids, past_key_values=cache, use_cache=True
                             ).last_hidden_state
    last = head_logits(model, hidden[torch.arange(n), torch.tensor([len(p) - 1 for p in prompts])])
    k = len(options[0])
    cache.batch_repeat_interleave(k)
    rows = [opt for opts in options for opt in opts]
    owner = [i for i in range(n) for _ in range(k)]
    o_width = max(len(r) for r in rows)
    o_ids = torch.full((len(rows), o_width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), plen + width + o_width), dtype=torch.long)
    pos = torch.zeros((len(rows), o_width), dtype=torch.long)
    for r, (row, i) in enumerate(zip(rows, owner, strict=True)):
        o_ids[r, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[r, : plen + len(prompts[i])] = 1
        mask[r, plen + width :] = 1
        pos[r] = plen + len(prompts[i]) + torch.arange(o_width)
    o_hidden = _decoder(model)(input_ids=o_ids, past_key_values=cache, attention_mask=mask,
                               position_ids=pos, use_cache=True).last_hidden_state
    flat_r = [r for r, row in enumerate(rows) for _ in range(len(row) - 1)]
    flat_p = [j for row in rows for j in range(len(row) - 1)]
    inner = (head_logits(model, o_hidden[torch.tensor(flat_r), torch.tensor(flat_p)])
             if flat_r else torch.zeros((0, last.shape[-1])))
    scores: list[list[float]] = [[] for _ in range(n)]
    start = 0
    for row, i in zip(rows, owner, strict=True):
        m = len(row) - 1
        logits = torch.cat([last[i : i + 1], inner[start : start + m]])
        start += m
        scores[i].append(mean_logprob(logits, row))
    return [last[i] for i in range(n)], scores


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
