"""Evaluation throughput: ours vs a raw batched forward vs lm-evaluation-harness.

Same model (SmolLM2-135M-Instruct by default), same prompts (real MMLU
held-out/fresh questions under the shipped framing templates), one process,
one run. Prints prompts/s for each and the ratios the issue targets:

* ours / raw forward  >= 0.90  (raw = plain ``model(input_ids)`` over the same
  full prompt tokens, length-sorted batches with an attention mask; the
  hardware limit for a forward that does not reuse a prefix);
* ours / lm-eval      >= 2.0   (lm-eval's HFLM scoring the same prompts the way
  its MMLU task does: log-likelihood of each answer-letter continuation).

lm-eval is a benchmark-only dependency (``pip install lm-eval``); without it
that row is skipped and said so. The machine is shared, so each method is run
``--repeats`` times interleaved and the best time is kept.

Usage:
    python benchmarks/eval_throughput.py [--model smollm2] [--n-questions 24]
        [--templates 4] [--repeats 2] [--batch 16] [--device cpu] [--no-lm-eval]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch


def _prompts(args: argparse.Namespace) -> tuple[Any, list[Any], list[list[int]]]:
    from acceptance_cards.evidence.data.mmlu import load_mmlu_source
    from acceptance_cards.evidence.data.split import make_split, select
    from acceptance_cards.evidence.data.tasks import prompt_text
    from acceptance_cards.evidence.data.templates import load_templates
    from acceptance_cards.evidence.eval.evaluate import make_jobs
    from acceptance_cards.evidence.models.loading import load_model

    src = load_mmlu_source()
    split = make_split(src, seed=0)
    ts = load_templates()
    tpls = ts.select(use="heldout", framing="eval")[: args.templates // 2] + ts.select(
        use="heldout", framing="deploy")[: args.templates - args.templates // 2]
    items = select(src.items, split.fresh_ids[: args.n_questions])
    jobs = make_jobs(items, tpls, task="sandbagging", split="heldout")
    lm = load_model(args.model, dtype=args.dtype, device=args.device)
    tok = lm.tokenizer
    ids = [tok.encode(prompt_text(j.item, j.template, task=j.task, tokenizer=tok,
                                  add_bos=lm.add_bos), add_special_tokens=False) for j in jobs]
    return lm, jobs, ids


def run_ours(lm: Any, jobs: list[Any], batch: int) -> float:
    from acceptance_cards.evidence.eval.evaluate import evaluate

    start = time.perf_counter()
    evaluate(lm, jobs, scorer="letter", max_batch=batch)
    return time.perf_counter() - start


def run_raw(lm: Any, ids: list[list[int]], batch: int) -> float:
    """Plain batched forward over the same full prompts (length-sorted, masked)."""
    pad = lm.tokenizer.pad_token_id or 0
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    start = time.perf_counter()
    with torch.inference_mode():
        for b in range(0, len(order), batch):
            rows = [ids[i] for i in order[b : b + batch]]
            width = max(len(r) for r in rows)
            x = torch.full((len(rows), width), pad, dtype=torch.long)
            mask = torch.zeros_like(x)
            for k, r in enumerate(rows):
                x[k, : len(r)] = torch.tensor(r)
                mask[k, : len(r)] = 1
            lm.model(input_ids=x.to(lm.device), attention_mask=mask.to(lm.device))
    if lm.device.type == "cuda":
        torch.cuda.synchronize(lm.device)  # kernels run asynchronously: wait before timing
    return time.perf_counter() - start


def make_lm_eval(lm: Any, batch: int) -> Any:
    from lm_eval.models.huggingface import HFLM

    return HFLM(pretrained=lm.model, tokenizer=lm.tokenizer, batch_size=batch,
                add_bos_token=lm.add_bos, max_length=2048)


def run_lm_eval(harness: Any, lm: Any, jobs: list[Any]) -> float:
    from lm_eval.api.instance import Instance

    from acceptance_cards.evidence.data.tasks import LETTERS, prompt_text

    reqs = []
    for n, j in enumerate(jobs):
        ctx = prompt_text(j.item, j.template, task=j.task, tokenizer=lm.tokenizer,
                          add_bos=False)
        for letter in LETTERS:
            reqs.append(Instance(request_type="loglikelihood", doc={}, arguments=(ctx, letter),
                                 idx=n, metadata=("mmlu", n, 1)))
    start = time.perf_counter()
    harness.loglikelihood(reqs, disable_tqdm=True)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--dtype", default="auto", help="auto: the device's default")
    ap.add_argument("--device", default="cpu", help="auto, cpu, cuda, cuda:N or mps")
    ap.add_argument("--n-questions", type=int, default=24)
    ap.add_argument("--templates", type=int, default=4)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0,
                    help="torch threads (0: 1 per idle core; see pick_threads)")
    ap.add_argument("--no-lm-eval", action="store_true")
    args = ap.parse_args()
    from acceptance_cards.evidence.models.loading import pick_threads

    args.threads = args.threads or pick_threads()
    torch.set_num_threads(args.threads)
    lm, jobs, ids = _prompts(args)
    n = len(jobs)
    tokens = sum(len(r) for r in ids)
    harness = None
    if not args.no_lm_eval:
        try:
            harness = make_lm_eval(lm, args.batch)
        except ImportError:
            print("lm-eval not installed (pip install lm-eval): skipping that comparison")
    run_raw(lm, ids[: args.batch], args.batch)  # warm-up (oneDNN kernels, allocator)
    best: dict[str, float] = {}
    for _ in range(args.repeats):
        for name, fn in (("ours", lambda: run_ours(lm, jobs, args.batch)),
                         ("raw forward", lambda: run_raw(lm, ids, args.batch)),
                         ("lm-eval", lambda: run_lm_eval(harness, lm, jobs))):
            if name == "lm-eval" and harness is None:
                continue
            t = fn()
            best[name] = min(best.get(name, float("inf")), t)
    print(f"model {lm.name} ({lm.dtype} on {lm.compute['device_name']}), {n} prompts, {tokens} prompt tokens "
          f"(mean {tokens / n:.0f}), batch {args.batch}, threads {args.threads}, "
          f"best of {args.repeats}")
    for name, t in best.items():
        print(f"  {name:12s} {n / t:8.2f} prompts/s   {tokens / t:9.0f} tokens/s   ({t:.1f} s)")
    ours = n / best["ours"]
    raw = n / best["raw forward"]
    print(f"ratio ours / raw forward = {ours / raw:.2f}   (target >= 0.90)")
    if "lm-eval" in best:
        print(f"ratio ours / lm-eval     = {ours / (n / best['lm-eval']):.2f}   (target >= 2.0)")


if __name__ == "__main__":
    main()
