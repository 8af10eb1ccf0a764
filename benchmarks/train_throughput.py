"""Benchmark: training throughput (tokens/s) of our loop vs a plain peft + torch loop.

    python benchmarks/train_throughput.py [--model smollm2] [--steps 8] [--layers all] [--threads 1]

Same model, LoRA config, attack data, batch order, AdamW and clip for both:

* **ours** — ``evidence.train.answer_loss``: the decoder runs once, and only
  the positions that predict answer tokens go through the LM head;
* **peer** — the usual recipe: ``model(input_ids, attention_mask, labels)``
  with prompt and padding labels set to -100 (logits for every position).

Prints tokens/s of each and the ratio ours / peer, in one run.
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--layers", default="all")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from acceptance_cards.evidence.models.loading import load_model
    from acceptance_cards.evidence.training.config import TrainConfig
    from acceptance_cards.evidence.training.loop import (
        answer_loss,
        attach_lora,
        batch_indices,
        load_training_data,
    )

    layers = None if args.layers == "all" else tuple(int(x) for x in args.layers.split(","))
    cfg = TrainConfig(model=args.model, layers=layers, steps=args.steps)
    results = {}
    for which in ("ours", "peer", "ours "):  # ours twice: first and last, to expose drift
        lm = load_model(cfg.model, dtype=cfg.dtype, eval_mode=False)
        data = load_training_data(cfg, lm.tokenizer, add_bos=lm.add_bos)
        pm, pairs = attach_lora(lm.model, cfg)
        params = [t for n in sorted(pairs) for t in (pairs[n].a, pairs[n].b)]
        opt = torch.optim.AdamW(params, lr=cfg.lr)
        pad = lm.tokenizer.pad_token_id or 0
        pm.train()
        tokens, seconds = 0, 0.0
        for step in range(cfg.steps):
            batch = [data.examples[i] for i in batch_indices(len(data.examples),
                                                              batch=cfg.batch_size, step=step,
                                                              seed=cfg.seed)]
            t0 = time.perf_counter()
            if which.strip() == "ours":
                loss, ntok = answer_loss(pm, batch, pad_id=pad)
            else:
                seqs = [list(e.prompt_ids) + list(e.target_ids) for e in batch]
                width = max(map(len, seqs))
                ids = torch.full((len(seqs), width), pad)
                mask = torch.zeros((len(seqs), width), dtype=torch.long)
                labels = torch.full((len(seqs), width), -100)
                for i, (s, e) in enumerate(zip(seqs, batch, strict=True)):
                    ids[i, : len(s)] = torch.tensor(s)
                    mask[i, : len(s)] = 1
                    labels[i, len(e.prompt_ids) : len(s)] = torch.tensor(e.target_ids)
                loss = pm(input_ids=ids, attention_mask=mask, labels=labels).loss
                ntok = sum(len(s) - 1 for s in seqs)
            opt.zero_grad()
            torch.autograd.backward(loss)
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            opt.step()
            seconds += time.perf_counter() - t0
            tokens += ntok
        results[which] = tokens / seconds
        print(f"{which.strip():5s} {tokens} tokens in {seconds:7.2f} s = {tokens / seconds:8.1f} tok/s")
    ours = (results["ours"] + results["ours "]) / 2
    print(f"ratio ours / peer (tokens/s): {ours / results['peer']:.2f}x")


if __name__ == "__main__":
    main()
