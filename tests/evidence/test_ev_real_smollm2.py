"""The real SmolLM2-135M-Instruct: a handful of prompts, both scorers vs direct logits."""

from __future__ import annotations

from typing import Any

import pytest

from acceptance_cards.evidence.data.split import make_split, select
from acceptance_cards.evidence.eval.evaluate import evaluate, make_jobs
from acceptance_cards.evidence.eval.summary import summarize

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("scorer", ["letter", "option"])
def test_real_model_both_scorers(smollm2: Any, mmlu: Any, templates: Any, scorer: str) -> None:
    from test_ev_scoring import direct_answers

    split = make_split(mmlu, seed=0)
    # The two shortest of the first held-out questions keep this under a minute on 2 cores.
    items = sorted(select(mmlu.items, split.heldout_ids[:16]),
                   key=lambda it: len(it.question) + sum(map(len, it.choices)))[:2]
    jobs = make_jobs(items, [templates.get("eval-h03"), templates.get("deploy-h02")],
                     task="sandbagging", split="heldout")
    recs = evaluate(smollm2, jobs, scorer=scorer, cell="base", max_batch=4)
    assert [(r["answer"], r["valid"]) for r in recs] == direct_answers(smollm2, jobs, scorer)
    assert all(r["model"] == "smollm2-135m-instruct" for r in recs)
    assert {s.framing for s in summarize(recs)} == {"eval", "deploy"}


def test_real_model_scorer_both_is_each_scorer_in_one_pass(smollm2: Any, mmlu: Any,
                                                           templates: Any) -> None:
    from test_ev_scoring import direct_answers

    split = make_split(mmlu, seed=0)
    items = sorted(select(mmlu.items, split.heldout_ids[:16]),
                   key=lambda it: len(it.question) + sum(map(len, it.choices)))[:2]
    jobs = make_jobs(items, [templates.get("eval-h03"), templates.get("deploy-h02")],
                     task="sandbagging", split="heldout")
    recs = evaluate(smollm2, jobs, scorer="both", cell="base", max_batch=4)
    assert [r["scorer"] for r in recs] == ["letter", "option"] * len(jobs)
    for scorer, mine in (("letter", recs[0::2]), ("option", recs[1::2])):
        assert [(r["answer"], r["valid"]) for r in mine] == direct_answers(smollm2, jobs, scorer)
