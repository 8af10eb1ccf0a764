"""A prepared, bounded check of the evidence path on one GPU (or, with ``--cpu``, tiny on the CPU).

Needs only torch, transformers, peft and this package: no model download, no
MMLU, no tokenizer package. The big model is randomly initialised from a config
with Gemma-2-2B's geometry (vocabulary 256,000, 26 layers, hidden 2,304, final
logit soft-capping), so speed and memory are those of the paper's model; the
prompts are synthetic four-option questions under the shipped framing
templates, read by a byte-level tokenizer built here. It prints:

* eval prompts/s       — ``evaluate()`` (letter scorer) on the device;
* training tokens/s    — LoRA (q, k, v, o; AdamW) forward + backward + step;
* slice-gradient s     — per calibration item, gate (c)'s base-model gradients
                          on one layer's q/v projections (``iter_item_gradients``);
* peak memory          — of the device (CUDA) or the process (CPU);
* CPU/GPU agreement    — a tiny seeded model evaluated on the CPU in fp32 and on
                          the device (its default dtype and fp32): the share of
                          equal decisions, and how many differ with a margin above
                          ``constants.NEAR_TIE_MARGIN`` (must be 0).

Every phase has a time share of ``--budget`` seconds (default 480: 8 minutes)
and stops early when it runs out; a failing phase is reported and the others
still run. Exit status 0 when every phase ran and no decision differs beyond
the near-tie bound, 1 otherwise, 2 when the device is not there.

Usage:
    python scripts/gpu_check.py                   # CUDA, Gemma-2-2B geometry, <= 8 min
    python scripts/gpu_check.py --device cuda:1 --json gpu_check.json
    python scripts/gpu_check.py --cpu             # tiny sizes on the CPU (the test suite)
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from acceptance_cards._util.errors import InputError
from acceptance_cards.constants import NEAR_TIE_MARGIN
from acceptance_cards.evidence.data.mmlu import MCItem
from acceptance_cards.evidence.data.tasks import prompt_text
from acceptance_cards.evidence.data.templates import load_templates
from acceptance_cards.evidence.eval.evaluate import evaluate, make_jobs
from acceptance_cards.evidence.eval.margins import compare_margins
from acceptance_cards.evidence.models.device import default_dtype, describe_device, resolve_device
from acceptance_cards.evidence.models.loading import LoadedModel, load_model

#: Gemma-2-2B's geometry (its published config), used with random weights.
GEMMA2_2B: dict[str, Any] = {"vocab_size": 256000, "hidden_size": 2304, "intermediate_size": 9216,
             "num_hidden_layers": 26, "num_attention_heads": 8, "num_key_value_heads": 4,
             "head_dim": 256}
#: The same architecture at test-suite size.
TINY: dict[str, Any] = {"vocab_size": 512, "hidden_size": 64, "intermediate_size": 128,
                        "num_hidden_layers": 2, "num_attention_heads": 2,
                        "num_key_value_heads": 1, "head_dim": 32}
#: Share of the time budget each phase may use (model building and slack take the rest).
SHARES = {"eval": 0.25, "slice_gradients": 0.15, "train": 0.2, "agreement": 0.2}
#: Sizes per mode: prompts (items x templates), training batch, slice-gradient items.
SIZES = {"gpu": {"items": 64, "templates": 20, "batch": 8, "seq": 512, "steps": 12,
                 "cal": 16, "agree_items": 24},
         "cpu": {"items": 3, "templates": 4, "batch": 2, "seq": 32, "steps": 3,
                 "cal": 2, "agree_items": 4}}


def byte_tokenizer(vocab_size: int) -> Any:
    """A byte-level tokenizer (one token per byte; ids past 259 are unused fillers)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<bos>", "<eos>"]
    names = specials + sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {t: i for i, t in enumerate(names)}
    vocab.update({f"<x{i}>": i for i in range(len(vocab), vocab_size)})
    tk = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tk, pad_token="<pad>", bos_token="<bos>", eos_token="<eos>")


def synthetic_items(n: int, *, seed: int = 0) -> list[MCItem]:
    """Seeded four-option questions with MMLU's shape (no data set needed)."""
    gen = torch.Generator().manual_seed(seed)
    words = ["river", "proton", "ledger", "enzyme", "treaty", "lattice", "sonnet", "glacier"]
    out = []
    for i in range(n):
        pick = torch.randint(len(words), (6,), generator=gen).tolist()
        q = f"Which {words[pick[0]]} best explains the {words[pick[1]]} in case {i}?"
        choices = tuple(f"The {words[pick[2 + k]]} of part {k + 1}" for k in range(4))
        out.append(MCItem(f"mmlu-synthetic-{i}", "synthetic", q, choices,
                          int(torch.randint(4, (1,), generator=gen))))
    return out


def gemma2_model(geometry: dict[str, Any], tok: Any, *, seed: int, scale: float | None = None
                 ) -> Any:
    """A randomly initialised Gemma-2 (soft-capping, sliding window) on the host, fp32."""
    from transformers import Gemma2Config, Gemma2ForCausalLM

    torch.manual_seed(seed)
    cfg = Gemma2Config(**geometry, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                       eos_token_id=tok.eos_token_id)
    model = Gemma2ForCausalLM(cfg)
    if scale is not None:  # spread the logits so exact ties are rare (tiny model)
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * scale)
    return model


def big_model(mode: str, device: torch.device, tok: Any) -> LoadedModel:
    """The benchmark model: Gemma-2-2B geometry on a GPU, tiny on the CPU, random weights."""
    geometry = GEMMA2_2B if mode == "gpu" else TINY
    dtype = default_dtype(device)
    with torch.device(device):  # initialise on the device: 2.6e9 host-side inits are slow
        model = gemma2_model(geometry, tok, seed=0).to(dtype).eval()
    return LoadedModel(model=model, tokenizer=tok, name=f"gemma2-{mode}-random",
                       source="random init", family="gemma2", content_hash="random-seed-0",
                       add_bos=True, dtype=str(dtype).replace("torch.", ""), device=device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def phase_eval(lm: LoadedModel, size: dict[str, int], budget: float) -> dict[str, Any]:
    """Prompts per second of ``evaluate()`` (letter scorer), template by template."""
    ts = load_templates()
    tpls = (ts.select(use="heldout", framing="eval") + ts.select(use="heldout", framing="deploy"))
    tpls = tpls[:: max(1, len(tpls) // size["templates"])][: size["templates"]]
    items = synthetic_items(size["items"], seed=1)
    evaluate(lm, make_jobs(items[:2], tpls[:1], task="sandbagging", split="heldout"))  # warm-up
    done, tokens, seconds, deadline = 0, 0, 0.0, time.monotonic() + budget
    for tpl in tpls:
        if time.monotonic() > deadline:
            break
        jobs = make_jobs(items, [tpl], task="sandbagging", split="heldout")
        start = time.perf_counter()
        evaluate(lm, jobs)
        seconds += time.perf_counter() - start
        done += len(jobs)
        tokens += sum(len(lm.tokenizer.encode(prompt_text(j.item, j.template, task=j.task,
                                                          tokenizer=lm.tokenizer, add_bos=True),
                                              add_special_tokens=False)) for j in jobs)
    # byte-level prompts hold ~3x the tokens of Gemma's own tokenizer: prompts/s is a floor
    return {"prompts": done, "prompt_tokens": tokens, "seconds": round(seconds, 3),
            "prompts_per_s": round(done / seconds, 2) if seconds else None}


def phase_train(lm: LoadedModel, size: dict[str, int], budget: float) -> dict[str, Any]:
    """LoRA fine-tuning throughput: tokens through forward + backward + AdamW step per second."""
    from peft import LoraConfig, get_peft_model

    pm = get_peft_model(lm.model, LoraConfig(r=16, lora_alpha=32, target_modules=[
        "q_proj", "k_proj", "v_proj", "o_proj"]))
    pm.train()
    opt = torch.optim.AdamW([p for p in pm.parameters() if p.requires_grad], lr=1e-4)
    gen = torch.Generator().manual_seed(2)
    ids = torch.randint(3, 259, (size["batch"], size["seq"]), generator=gen).to(lm.device)
    steps, seconds, deadline = 0, 0.0, time.monotonic() + budget
    try:
        for step in range(size["steps"] + 1):
            if time.monotonic() > deadline:
                break
            _sync(lm.device)
            start = time.perf_counter()
            loss = pm(input_ids=ids, labels=ids).loss
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            _sync(lm.device)
            if step:  # step 0 is the warm-up (kernel selection, allocator)
                seconds += time.perf_counter() - start
                steps += 1
    finally:
        pm.unload().eval()  # the base model without LoRA layers, for the phases after
    tokens = steps * ids.numel()
    return {"steps": steps, "tokens": tokens, "seconds": round(seconds, 3),
            "tokens_per_s": round(tokens / seconds, 1) if seconds else None}


def phase_slice_gradients(lm: LoadedModel, size: dict[str, int], budget: float
                          ) -> dict[str, Any]:
    """Seconds per calibration item of gate (c)'s base-model gradients on one layer's q/v."""
    from acceptance_cards.evidence.gradients.slices import iter_item_gradients

    try:  # the script may meet an installed package from before the calibration builder moved
        from acceptance_cards.evidence.gradients.calibration import calibration_set
    except ImportError:
        from acceptance_cards.evidence.gradients.slices import calibration_set  # type: ignore[attr-defined,no-redef,unused-ignore]

    mid = lm.model.config.num_hidden_layers // 2
    names = [f"model.layers.{mid}.self_attn.{m}.weight" for m in ("q_proj", "v_proj")]
    cal = calibration_set(synthetic_items(size["cal"] + 4, seed=3),
                          load_templates().select(use="train"), task="sandbagging",
                          variant="abstain", n=size["cal"])
    done, seconds, deadline = 0, 0.0, time.monotonic() + budget
    start = time.perf_counter()
    for _ in iter_item_gradients(lm, cal, names):
        _sync(lm.device)
        done += 1
        seconds = time.perf_counter() - start
        if time.monotonic() > deadline:
            break
    return {"items": done, "slice": names, "seconds": round(seconds, 3),
            "seconds_per_item": round(seconds / done, 4) if done else None}


def phase_agreement(device: torch.device, size: dict[str, int], budget: float
                    ) -> dict[str, Any]:
    """A tiny seeded model: CPU fp32 vs each path on ``device``; flips beyond the bound."""
    tok = byte_tokenizer(TINY["vocab_size"])
    paths = [("cpu", "bfloat16")] if device.type == "cpu" else [(str(device), "auto"),
                                                                 (str(device), "float32")]
    items = synthetic_items(size["agree_items"], seed=4)
    ts = load_templates()
    tpls = ts.select(use="heldout", framing="eval")[:2] + ts.select(use="heldout",
                                                                    framing="deploy")[:2]
    jobs = make_jobs(items, tpls, task="sandbagging", split="heldout")
    out: dict[str, Any] = {}
    deadline = time.monotonic() + budget
    with tempfile.TemporaryDirectory() as tmp:
        gemma2_model(TINY, tok, seed=5, scale=0.5).save_pretrained(tmp)
        tok.save_pretrained(tmp)
        ref = load_model(tmp, device="cpu", dtype="float32")
        for dev, dtype in paths:
            other = load_model(tmp, device=dev, dtype=dtype)
            for scorer in ("letter", "option"):
                if time.monotonic() > deadline:
                    return out
                cmp = compare_margins(evaluate(ref, jobs, scorer=scorer),
                                      evaluate(other, jobs, scorer=scorer))
                bound = NEAR_TIE_MARGIN[scorer]
                out[f"{dev}/{other.dtype}/{scorer}"] = {
                    "n": cmp.n, "agree": round(1 - len(cmp.flips) / cmp.n, 4),
                    "near_tie_bound": bound,
                    "flips_beyond_bound": sum(max(f.margin_a, f.margin_b) > bound
                                              for f in cmp.flips)}
    return out


def peak_memory_gib(device: torch.device) -> float:
    """Peak allocated device memory (CUDA), or the process's peak resident size (CPU)."""
    if device.type == "cuda":
        return round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)  # KiB on Linux


def _run(name: str, fn: Callable[[], dict[str, Any]], report: dict[str, Any]) -> None:
    """Run one phase; a failure is reported (type and first line) and the check goes on."""
    start = time.perf_counter()
    try:
        report[name] = fn()
    except Exception as exc:  # a check reports every phase, even after one fails
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        report[name] = {"error": f"{type(exc).__name__}: {first}"}
    report[name]["wall_s"] = round(time.perf_counter() - start, 2)
    print(f"{name}: {json.dumps(report[name])}", flush=True)


def _model_phases(mode: str, device: torch.device, budget: float, report: dict[str, Any]
                  ) -> None:
    """Build the benchmark model and run eval, slice gradients and training on it."""
    size, tok = SIZES[mode], byte_tokenizer((GEMMA2_2B if mode == "gpu" else TINY)["vocab_size"])
    lm = big_model(mode, device, tok)
    n_params = sum(p.numel() for p in lm.model.parameters())
    report |= {"dtype": lm.dtype, "model": f"Gemma-2 geometry ({mode}), random init, "
                                           f"{n_params:.3g} parameters"}
    print(f"gpu_check: {report['device']['name']} ({device}), {lm.dtype}, {report['model']}",
          flush=True)
    _run("eval", lambda: phase_eval(lm, size, SHARES["eval"] * budget), report)
    _run("slice_gradients",
         lambda: phase_slice_gradients(lm, size, SHARES["slice_gradients"] * budget), report)
    _run("train", lambda: phase_train(lm, size, SHARES["train"] * budget), report)
    report["peak_memory_gib"] = peak_memory_gib(device)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cpu", action="store_true", help="tiny sizes on the CPU (test suite)")
    ap.add_argument("--device", default="cuda", help="cuda, cuda:N or mps (ignored with --cpu)")
    ap.add_argument("--budget", type=float, default=480.0, help="seconds for the whole check")
    ap.add_argument("--json", type=Path, help="also write the report here")
    args = ap.parse_args(argv)
    start = time.monotonic()
    try:
        device = resolve_device("cpu" if args.cpu else args.device)
    except InputError as exc:
        print(f"gpu_check: {exc}", file=sys.stderr)
        return 2
    mode = "cpu" if args.cpu else "gpu"
    report: dict[str, Any] = {"device": describe_device(device)}
    _model_phases(mode, device, args.budget, report)
    _run("agreement", lambda: phase_agreement(device, SIZES[mode],
                                              SHARES["agreement"] * args.budget), report)
    report["total_s"] = round(time.monotonic() - start, 1)
    print(f"peak memory: {report['peak_memory_gib']} GiB; total {report['total_s']} s "
          f"(budget {args.budget:.0f} s)", flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    failed = [k for k, v in report.items() if isinstance(v, dict) and "error" in v]
    paths = [v for v in report["agreement"].values() if isinstance(v, dict)]
    beyond = sum(v["flips_beyond_bound"] for v in paths)
    return 1 if failed or beyond or not paths else 0


if __name__ == "__main__":
    sys.exit(main())
