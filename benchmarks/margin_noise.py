"""bf16 vs fp32 decision-margin noise of our evaluator on a real model.

Evaluates the same prompts (the first ``--n-questions`` held-out MMLU questions
of the seeded split, under ``--templates`` eval + deploy held-out framing
templates, sandbagging task) with both scorers, once in bf16 and once in fp32,
and reports for each scorer: every decision that differs with its two margins,
the largest flip margin, the largest per-record margin noise (see
:mod:`acceptance_cards.evidence.eval.margins`), and the share of near-ties under
the documented bound :data:`acceptance_cards.constants.NEAR_TIE_MARGIN`.

The suggested bound per scorer is ``max(safety x largest flip margin,
largest margin noise)``: it covers every flip seen with a safety factor (a
flip on another bf16 CPU is one more draw of the same noise), and every
margin shift seen, flip or not.

Usage:
    python benchmarks/margin_noise.py [--model smollm2] [--n-questions 48]
        [--templates 3] [--scorers letter option] [--out margins.json]
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any


def _jobs(n_questions: int, n_templates: int) -> list[Any]:
    from acceptance_cards.evidence.data.mmlu import load_mmlu_source
    from acceptance_cards.evidence.data.split import make_split, select
    from acceptance_cards.evidence.data.templates import load_templates
    from acceptance_cards.evidence.eval.evaluate import make_jobs

    src = load_mmlu_source()
    split = make_split(src, seed=0)
    ts = load_templates()
    tpls = (ts.select(use="heldout", framing="eval")[:n_templates]
            + ts.select(use="heldout", framing="deploy")[:n_templates])
    items = select(src.items, split.heldout_ids[:n_questions])
    return make_jobs(items, tpls, task="sandbagging", split="heldout")


def measure(model: str, jobs: list[Any], scorers: list[str]) -> dict[str, Any]:
    """Both dtypes x the given scorers on ``jobs``; the per-scorer comparison."""
    from acceptance_cards.constants import NEAR_TIE_MARGIN
    from acceptance_cards.evidence.eval.evaluate import evaluate
    from acceptance_cards.evidence.eval.margins import compare_margins
    from acceptance_cards.evidence.models.loading import load_model

    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for dtype in ("bfloat16", "float32"):
        lm = load_model(model, dtype=dtype)
        for scorer in scorers:
            t0 = time.perf_counter()
            runs[(dtype, scorer)] = evaluate(lm, jobs, scorer=scorer, cell=dtype)
            print(f"{dtype:9s} {scorer:6s} {len(jobs)} prompts: "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
    out: dict[str, Any] = {"model": model, "n_prompts": len(jobs),
                           "n_questions": len({j.item.question_id for j in jobs}),
                           "bound": dict(NEAR_TIE_MARGIN), "scorers": {}}
    for scorer in scorers:
        cmp = compare_margins(runs[("bfloat16", scorer)], runs[("float32", scorer)])
        bound = NEAR_TIE_MARGIN[scorer]
        out["scorers"][scorer] = {
            "n": cmp.n, "flips": [vars(f) for f in cmp.flips],
            "max_flip_margin": cmp.max_flip_margin, "max_noise": cmp.max_noise,
            "near_tie_share_bf16": cmp.near_tie_share(bound, side="a"),
            "near_tie_share_fp32": cmp.near_tie_share(bound, side="b"),
            "flips_outside_bound": sum(max(f.margin_a, f.margin_b) >= bound for f in cmp.flips),
            "margins_bf16": list(cmp.margins_a), "margins_fp32": list(cmp.margins_b),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--n-questions", type=int, default=48)
    ap.add_argument("--templates", type=int, default=3,
                    help="held-out templates per framing (eval and deploy each)")
    ap.add_argument("--scorers", nargs="+", default=["letter", "option"])
    ap.add_argument("--safety", type=float, default=2.0,
                    help="factor on the largest flip margin for the suggested bound")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: pick_threads)")
    ap.add_argument("--out", help="write the full result as JSON here")
    args = ap.parse_args()

    import torch

    from acceptance_cards.evidence.models.loading import pick_threads

    torch.set_num_threads(args.threads or pick_threads())
    res = measure(args.model, _jobs(args.n_questions, args.templates), args.scorers)
    res["suggested_bound"] = {
        scorer: max(args.safety * s["max_flip_margin"], s["max_noise"])
        for scorer, s in res["scorers"].items()}
    for scorer, s in res["scorers"].items():
        print(f"\n{scorer}: {len(s['flips'])} of {s['n']} decisions differ bf16 vs fp32; "
              f"largest flip margin {s['max_flip_margin']:.4f}; largest margin noise "
              f"{s['max_noise']:.4f}; near-ties (< {res['bound'][scorer]}) bf16 "
              f"{s['near_tie_share_bf16']:.3f}, fp32 {s['near_tie_share_fp32']:.3f}; "
              f"flips outside the bound: {s['flips_outside_bound']}")
        for f in s["flips"]:
            print(f"  {f['question_id']} / {f['template_id']}: bf16 {f['decision_a']} "
                  f"(margin {f['margin_a']:.4f}) vs fp32 {f['decision_b']} "
                  f"(margin {f['margin_b']:.4f})")
    for scorer, b in res["suggested_bound"].items():
        print(f"suggested {scorer} bound: max({args.safety} x largest flip margin, largest "
              f"noise) = {b:.4f} (NEAR_TIE_MARGIN: {res['bound'][scorer]})")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump(res, fh, indent=1)


if __name__ == "__main__":
    main()
