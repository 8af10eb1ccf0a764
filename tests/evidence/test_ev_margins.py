"""Decision margins: what the evaluator records, and bf16 vs fp32 disagreements.

Fast tests run a tiny seeded random Llama (mechanics); the ``slow`` test runs
the real SmolLM2-135M-Instruct in bf16 and fp32 on the same prompts and checks
every disagreement is a near-tie under the documented bound.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

from acceptance_cards.card.capability import near_tie_bound
from acceptance_cards.constants import NEAR_TIE_MARGIN
from acceptance_cards.evidence.data.split import make_split, select
from acceptance_cards.evidence.data.tasks import prompt_text
from acceptance_cards.evidence.eval.evaluate import evaluate, make_jobs
from acceptance_cards.evidence.eval.margins import NO_LETTER, compare_margins, decision
from acceptance_cards.evidence.eval.scoring import LetterTokens, letter_margin, letter_token_ids
from acceptance_cards.evidence.models.loading import load_model

#: The real model's letter decisions must be mostly clear of numeric noise (about a
#: fifth are near-ties: 10 of the 48 stored base-model fixture records). Its option
#: scores lie much closer together (mean log-probs of similar texts), so no share
#: is asserted for them; benchmarks/margin_noise.py reports it.
MAX_NEAR_TIE_SHARE = 0.3


def direct_margins(lm: Any, jobs: list[Any], scorer: str) -> list[float]:
    """Margins from one unbatched full forward per sequence, by the textbook definition."""
    tok = lm.tokenizer
    lt = letter_token_ids(tok)
    letter_ids = sorted(lt.all_ids)
    out = []
    with torch.inference_mode():
        for j in jobs:
            ids = tok.encode(prompt_text(j.item, j.template, task=j.task, tokenizer=tok,
                                         add_bos=lm.add_bos), add_special_tokens=False)
            last = lm.model(torch.tensor([ids])).logits[0, -1].float()
            if scorer == "letter":
                rest = last.clone()
                rest[letter_ids] = -math.inf
                scores = [max(float(last[i]) for i in v) for v in lt.variants]
                scores.append(float(rest.max()))  # the "no letter" outcome
            else:
                scores = []
                for choice in j.item.choices:
                    opt = tok.encode(choice.strip(), add_special_tokens=False)
                    logp = lm.model(torch.tensor([ids + opt])).logits[0].float().log_softmax(-1)
                    scores.append(sum(float(logp[len(ids) - 1 + k, t])
                                      for k, t in enumerate(opt)) / len(opt))
            top = sorted(scores, reverse=True)
            out.append(top[0] - top[1])
    return out


@pytest.fixture
def jobs(mmlu: Any, templates: Any) -> list[Any]:
    items = [it for it in mmlu.items if it.subject == "anatomy"][:4]
    tpls = [templates.get("eval-h01"), templates.get("deploy-h06")]
    return make_jobs(items, tpls, task="sandbagging", split="heldout")


def test_letter_margin_counts_no_letter_as_an_outcome() -> None:
    lt = LetterTokens(((0,), (1, 5), (2,), (3,)))
    # valid: B (best variant 2.5) leads the best non-letter token (2.0) by 0.5, A by 1.5
    assert letter_margin(torch.tensor([1.0, -1.0, 0.0, 0.0, 2.0, 2.5]), lt) == 0.5
    # invalid: the non-letter 4.0 leads the best letter (A, 1.0) by 3.0
    assert letter_margin(torch.tensor([1.0, 0.5, 0.0, 0.0, 4.0, 0.0]), lt) == 3.0
    # an exact tie between two letters is a zero margin
    assert letter_margin(torch.tensor([1.0, 1.0, 0.0, 0.0, -9.0, 0.0]), lt) == 0.0


@pytest.mark.parametrize("scorer", ["letter", "option"])
def test_records_carry_the_textbook_margin(tiny_lm: Any, jobs: list[Any], scorer: str) -> None:
    recs = evaluate(tiny_lm, jobs, scorer=scorer, max_batch=3, token_budget=1024)
    want = direct_margins(tiny_lm, jobs, scorer)
    for r, m in zip(recs, want, strict=True):
        assert isinstance(r["margin"], float) and r["margin"] >= 0
        assert r["margin"] == pytest.approx(m, abs=1e-4)


def test_compare_margins_pairs_and_flags_flips() -> None:
    def rec(q: str, answer: str, valid: bool, margin: float, scorer: str = "letter"
            ) -> dict[str, Any]:
        return {"question_id": q, "template_id": "t", "scorer": scorer, "answer": answer,
                "valid": valid, "margin": margin}

    a = [rec("q1", "A", True, 2.0), rec("q2", "B", True, 0.05), rec("q3", "C", False, 0.5),
         rec("q4", "D", True, 1.0, "option"), rec("only-a", "A", True, 9.0)]
    b = [rec("q1", "A", True, 1.5), rec("q2", "B", False, 0.1), rec("q3", "A", False, 0.25),
         rec("q4", "D", False, 1.25, "option")]
    cmp = compare_margins(a, b)
    assert cmp.n == 4
    # q2 flips valid -> "no letter"; q3 stays a non-answer (its letter is not the decision);
    # the option scorer's `valid` is not part of its decision
    assert [(f.question_id, f.decision_a, f.decision_b) for f in cmp.flips] == [
        ("q2", "B", NO_LETTER)]
    assert cmp.max_flip_margin == 0.1
    assert cmp.max_noise == pytest.approx(0.5)  # q1: |2.0 - 1.5|
    assert cmp.near_tie_share(0.2) == 0.25 and cmp.near_tie_share(0.2, side="b") == 0.25
    assert decision(b[1]) == NO_LETTER
    with pytest.raises(ValueError, match="no margin"):
        compare_margins([{k: v for k, v in a[0].items() if k != "margin"}], b)


def _disagreements_are_near_ties(lm_a: Any, lm_b: Any, jobs: list[Any], scorer: str,
                                 bound: float) -> Any:
    """Both precisions on the same prompts; every disagreement within ``bound`` on both sides."""
    cmp = compare_margins(evaluate(lm_a, jobs, scorer=scorer), evaluate(lm_b, jobs, scorer=scorer))
    assert cmp.n == len(jobs)
    outside = [f for f in cmp.flips if max(f.margin_a, f.margin_b) >= bound]
    assert not outside, f"{scorer}: disagreements beyond the near-tie bound {bound}: {outside}"
    return cmp


@pytest.mark.parametrize("scorer", ["letter", "option"])
def test_tiny_model_bf16_vs_fp32_disagree_only_on_near_ties(tiny_dir: Path, tiny_lm: Any,
                                                            jobs: list[Any], scorer: str) -> None:
    bf16 = load_model(str(tiny_dir), dtype="bfloat16")
    cmp = _disagreements_are_near_ties(bf16, tiny_lm, jobs, scorer, near_tie_bound(scorer))
    assert cmp.max_noise > 0  # bf16 really ran: the scores moved
    assert cmp.max_flip_margin <= cmp.max_noise  # a flip's margins are part of the noise


@pytest.mark.slow
def test_real_model_bf16_vs_fp32_disagree_only_on_near_ties(smollm2: Any, mmlu: Any,
                                                            templates: Any) -> None:
    """SmolLM2-135M in bf16 and fp32 on 16 held-out prompts: flips sit within the bound.

    The full measurement behind the bound (288 prompts, both scorers) is
    ``benchmarks/margin_noise.py``; this keeps a couple of minutes on 2 busy cores.
    """
    split = make_split(mmlu, seed=0)
    items = select(mmlu.items, split.heldout_ids[:8])
    jobs = make_jobs(items, [templates.get("eval-h01"), templates.get("deploy-h01")],
                     task="sandbagging", split="heldout")
    bf16 = load_model("smollm2", dtype="bfloat16")
    for scorer in ("letter", "option"):
        sub = jobs if scorer == "letter" else jobs[::2]
        cmp = _disagreements_are_near_ties(bf16, smollm2, sub, scorer, NEAR_TIE_MARGIN[scorer])
        if scorer == "letter":
            assert cmp.near_tie_share(NEAR_TIE_MARGIN[scorer]) <= MAX_NEAR_TIE_SHARE
