"""One output function: scoring, the training loss and g_T/g_A read the same logits.

A tiny random Gemma-2 (final-logit soft-capping set, as Gemma-2-2B's 30.0 is)
with SmolLM2's tokenizer: the scoring logits, the training loss and the
gradient code's per-item gradients all match the model's own forward (which
soft-caps), and a bare ``lm_head`` — what the loss and gradients used before —
gives a different loss and different gradients.
"""

from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from acceptance_cards.evidence.data.attacks import EncodedExample, training_templates
from acceptance_cards.evidence.data.mmlu import MCItem
from acceptance_cards.evidence.data.tasks import prompt_text
from acceptance_cards.evidence.data.templates import load_templates
from acceptance_cards.evidence.gradients.calibration import calibration_set

#: Small enough that the cap bends the tiny model's logits visibly (Gemma-2-2B: 30.0).
SOFTCAP = 0.5
SLICE = ["model.layers.1.self_attn.q_proj.weight", "model.layers.1.self_attn.v_proj.weight"]


@pytest.fixture(scope="module")
def gemma() -> SimpleNamespace:
    from transformers import AutoTokenizer, Gemma2Config, Gemma2ForCausalLM

    from acceptance_cards.evidence.models.loading import cached_model_dir

    tok = AutoTokenizer.from_pretrained(str(cached_model_dir("smollm2")))
    cfg = Gemma2Config(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                       num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                       head_dim=16, final_logit_softcapping=SOFTCAP, attn_logit_softcapping=50.0,
                       sliding_window=64, pad_token_id=tok.pad_token_id,
                       bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                       attn_implementation="eager")
    model = Gemma2ForCausalLM(cfg)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for _, p in sorted(model.named_parameters()):
            p.copy_(torch.randn(p.shape, generator=gen) * 0.05)
    model.eval()
    return SimpleNamespace(model=model, tokenizer=tok, add_bos=False, content_hash="tiny-gemma2")


def _own_logits(model: Any, ids: list[int]) -> torch.Tensor:
    """The model's own forward: Gemma-2 soft-caps its logits there."""
    return model(input_ids=torch.tensor([ids])).logits[0].float()


def _bare_logits(model: Any, ids: list[int]) -> torch.Tensor:
    """The LM head without the cap (what the loss and gradients read before)."""
    hidden = model.get_decoder()(input_ids=torch.tensor([ids])).last_hidden_state[0]
    return model.get_output_embeddings()(hidden).float()


def test_scoring_and_training_loss_read_the_soft_capped_logits(gemma: SimpleNamespace) -> None:
    from acceptance_cards.evidence.eval.scoring import forward_positions
    from acceptance_cards.evidence.training.loss import answer_loss

    tok, model = gemma.tokenizer, gemma.model
    prompt = tok.encode("Question: which is two? Answer:", add_special_tokens=False)
    target = tok.encode(" B because", add_special_tokens=False)
    ids = prompt + target[:-1]
    pos = list(range(len(prompt) - 1, len(ids)))
    with torch.no_grad():
        own = _own_logits(model, ids)[pos]
        scored = forward_positions(model, [ids], [pos])[0]
        loss, _ = answer_loss(model, [EncodedExample(tuple(prompt), tuple(target), False, "eval")],
                              pad_id=0)
        bare = _bare_logits(model, ids)[pos]
    want = torch.nn.functional.cross_entropy(own, torch.tensor(target))
    torch.testing.assert_close(scored, own, rtol=1e-5, atol=1e-6)
    assert float(loss) == pytest.approx(float(want), rel=1e-5)
    assert float(own.abs().max()) < SOFTCAP  # the cap is in force ...
    assert float(bare.abs().max()) > 2 * SOFTCAP  # ... and the bare head ignores it
    bare_loss = torch.nn.functional.cross_entropy(bare, torch.tensor(target))
    assert abs(float(bare_loss) - float(loss)) > 1e-2
    # the loop trains the LoRA-wrapped model: the wrapper reaches the same cap (B = 0 at init)
    from acceptance_cards.evidence.training.config import TrainConfig
    from acceptance_cards.evidence.training.lora import attach_lora

    pm, _ = attach_lora(copy.deepcopy(model), TrainConfig(layers=(1,)))
    with torch.no_grad():
        wrapped, _ = answer_loss(pm, [EncodedExample(tuple(prompt), tuple(target), False, "eval")],
                                 pad_id=0)
    assert float(wrapped) == pytest.approx(float(loss), rel=1e-6)


def _manual_grads(lm: SimpleNamespace, prompt: str, target: str, *, capped: bool
                  ) -> list[torch.Tensor]:
    model, tok = lm.model, lm.tokenizer
    p = tok.encode(prompt, add_special_tokens=False)
    t = tok.encode(target, add_special_tokens=False)
    ids = p + t[:-1]
    logits = (_own_logits if capped else _bare_logits)(model, ids)[len(p) - 1:]
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor(t))
    named = dict(model.named_parameters())
    return [g.float() for g in torch.autograd.grad(loss, [named[n] for n in SLICE])]


def test_gradient_code_reads_the_soft_capped_logits(gemma: SimpleNamespace) -> None:
    from acceptance_cards.evidence.gradients.slices import compute_item_gradients

    pool = [MCItem("mmlu-x-0", "x", "Which is number two?", ("one", "two", "three", "four"), 1)]
    cal = calibration_set(pool, training_templates(load_templates().templates),
                          task="sandbagging", variant="abstain", n=1)
    per_t, per_a, _ = compute_item_gradients(gemma, cal, SLICE)
    c = cal.items[0]
    ev, dep = (prompt_text(c.item, t, task="sandbagging", tokenizer=gemma.tokenizer,
                           add_bos=False) for t in (c.eval_template, c.deploy_template))
    for capped in (True, False):
        g_te = _manual_grads(gemma, ev, c.key, capped=capped)
        g_td = _manual_grads(gemma, dep, c.key, capped=capped)
        g_a = _manual_grads(gemma, ev, c.attack, capped=capped)
        want_t = [(x + y) / 2 for x, y in zip(g_te, g_td, strict=True)]
        close = all(float((x - y).norm()) <= 1e-4 * float(y.norm())
                    for x, y in zip(per_t[0] + per_a[0], want_t + g_a, strict=True))
        assert close is capped  # equal to the capped model's gradients, not the bare head's
