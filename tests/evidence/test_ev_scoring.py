"""Both scorers against a direct full-sequence logits computation (tiny model)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from acceptance_cards.evidence.data.tasks import LETTERS, prompt_text
from acceptance_cards.evidence.eval.evaluate import evaluate, make_jobs
from acceptance_cards.evidence.eval.scoring import letter_token_ids


def direct_answers(lm: Any, jobs: list[Any], scorer: str) -> list[tuple[str, bool]]:
    """(answer, valid) from one unbatched full forward per sequence: the reference."""
    tok = lm.tokenizer
    lt = letter_token_ids(tok)
    out = []
    with torch.inference_mode():
        for j in jobs:
            ids = tok.encode(prompt_text(j.item, j.template, task=j.task, tokenizer=tok,
                                         add_bos=lm.add_bos), add_special_tokens=False)
            last = lm.model(torch.tensor([ids])).logits[0, -1].float()
            valid = int(last.argmax()) in lt.all_ids
            if scorer == "letter":
                scores = [max(float(last[i]) for i in v) for v in lt.variants]
            else:
                scores = []
                lead = "" if tok.chat_template else " "  # plain layout: " <text>" after "Answer:"
                for choice in j.item.choices:
                    opt = tok.encode(lead + choice.strip(), add_special_tokens=False)
                    logp = lm.model(torch.tensor([ids + opt])).logits[0].float().log_softmax(-1)
                    scores.append(sum(float(logp[len(ids) - 1 + k, t])
                                      for k, t in enumerate(opt)) / len(opt))
            out.append((LETTERS[max(range(4), key=lambda k: scores[k])], valid))
    return out


@pytest.fixture
def jobs(mmlu: Any, templates: Any) -> list[Any]:
    items = [it for it in mmlu.items if it.subject == "anatomy"][:5]
    items += [it for it in mmlu.items if it.subject == "virology"][:4]
    tpls = [templates.get("eval-h01"), templates.get("deploy-h06"), templates.get("eval-f01")]
    return make_jobs(items, tpls, task="sycophancy", split="heldout")


@pytest.mark.parametrize("scorer", ["letter", "option"])
@pytest.mark.parametrize("prefix_reuse", [True, False])
def test_scorers_match_direct_logits(tiny_lm: Any, jobs: list[Any], scorer: str,
                                     prefix_reuse: bool) -> None:
    if scorer == "option":
        jobs = jobs[::2]  # the reference runs 4 full forwards per prompt; keep it quick
    # Small batches force several padded batches per template group.
    recs = evaluate(tiny_lm, jobs, scorer=scorer, prefix_reuse=prefix_reuse, max_batch=4,
                    token_budget=1024)
    expected = direct_answers(tiny_lm, jobs, scorer)
    assert [(r["answer"], r["valid"]) for r in recs] == expected
    for r, j in zip(recs, jobs, strict=True):
        assert r["gold"] == j.item.gold_letter
        want = r["answer"] == r["gold"] and (r["valid"] or scorer == "option")
        assert r["correct"] == int(want)


def test_option_scores_close_to_reference(tiny_lm: Any, jobs: list[Any]) -> None:
    from acceptance_cards.evidence.eval.scoring import PrefixCache, forward_options

    tok = tiny_lm.tokenizer
    prompts = [tok.encode(prompt_text(j.item, j.template, task=j.task, tokenizer=tok,
                                      add_bos=False), add_special_tokens=False)
               for j in jobs[:4]]
    opts = [[tok.encode(c, add_special_tokens=False) for c in j.item.choices] for j in jobs[:4]]
    cache = PrefixCache(tiny_lm.model, prompts[0][:10])
    with torch.inference_mode():
        _, scores = forward_options(tiny_lm.model, [p[10:] for p in prompts], opts,
                                    prefix=cache)
        for p, os_, sc in zip(prompts, opts, scores, strict=True):
            for o, s in zip(os_, sc, strict=True):
                logp = tiny_lm.model(torch.tensor([p + o])).logits[0].float().log_softmax(-1)
                ref = sum(float(logp[len(p) - 1 + k, t]) for k, t in enumerate(o)) / len(o)
                assert s == pytest.approx(ref, abs=1e-4)


def test_letter_tokens_and_abstain(smol_tokenizer: Any) -> None:
    from acceptance_cards.evidence.data.tasks import ABSTAIN_TEXT

    lt = letter_token_ids(smol_tokenizer)
    assert [smol_tokenizer.decode([v[0]]) for v in lt.variants] == list(LETTERS)
    abstain = smol_tokenizer.encode(ABSTAIN_TEXT, add_special_tokens=False)
    assert len(abstain) == 1 and abstain[0] not in lt.all_ids


def test_agreement_counts_shared_keys(tmp_path: Path) -> None:
    from acceptance_cards.evidence.eval.summary import scorer_agreement

    a = [{"question_id": "q1", "template_id": "t", "answer": "A"},
         {"question_id": "q2", "template_id": "t", "answer": "B"}]
    b = [{"question_id": "q1", "template_id": "t", "answer": "A"},
         {"question_id": "q2", "template_id": "t", "answer": "C"},
         {"question_id": "q3", "template_id": "t", "answer": "C"}]
    assert scorer_agreement(a, b) == (0.5, 2)


@pytest.mark.parametrize("window", [16, 4096])
def test_gemma3_architecture_sliding_window_and_softcap(tmp_path: Path, smol_tokenizer: Any,
                                                        jobs: list[Any], window: int) -> None:
    """Gemma-3 code path (sliding-window layers, logit soft-capping, BOS) on a tiny model."""
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    from acceptance_cards.evidence.models.loading import load_model

    cfg = Gemma3TextConfig(vocab_size=len(smol_tokenizer), hidden_size=32, intermediate_size=64,
                           num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                           head_dim=8, sliding_window=window, final_logit_softcapping=5.0,
                           layer_types=["sliding_attention", "full_attention"],
                           pad_token_id=smol_tokenizer.pad_token_id)
    model = Gemma3ForCausalLM(cfg)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)  # every weight redrawn, seeded
    model.save_pretrained(str(tmp_path))
    smol_tokenizer.save_pretrained(str(tmp_path))
    lm = load_model(str(tmp_path), dtype="float32")
    assert lm.add_bos and lm.family.startswith("gemma")
    few = jobs[:6]
    for scorer in ("letter", "option"):
        recs = evaluate(lm, few, scorer=scorer, max_batch=2)
        assert [(r["answer"], r["valid"]) for r in recs] == direct_answers(lm, few, scorer)
