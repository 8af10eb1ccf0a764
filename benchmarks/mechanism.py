"""Benchmark: cost of gate (c)'s gradients and of ρ per cell (ratios, same work, one run).

    python benchmarks/mechanism.py [--model smollm2] [--n 16] [--layer 15] [--threads 1]

1. g_T and g_A for the same calibration items with gradients restricted to the
   declared slice (only the slice requires grad) vs a full-model backward
   (every parameter requires grad) — prints both times and the speed-up.
2. ρ for a further cell once the gradients are cached (one adapter read + dot
   products + the bootstrap) vs recomputing the gradients for that cell.

The adapter is a real peft adapter on the slice with seeded random factors
(the cost does not depend on how it was trained). Timings on a shared machine
are noisy; the ratios are what to read.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--n", type=int, default=16, help="calibration items")
    ap.add_argument("--layer", type=int, default=15)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from peft import LoraConfig, get_peft_model

    from acceptance_cards.evidence.gradients.calibration import calibration_for
    from acceptance_cards.evidence.gradients.slices import compute_item_gradients, slice_gradients
    from acceptance_cards.evidence.mechanism.signature import signature
    from acceptance_cards.evidence.models.delta_w import delta_from_adapter
    from acceptance_cards.evidence.models.loading import load_model
    from acceptance_cards.evidence.training.config import TrainConfig

    cfg = TrainConfig(model=args.model, layers=(args.layer,))
    lm = load_model(args.model, dtype="float32")
    names = [f"model.layers.{args.layer}.self_attn.{m}.weight" for m in cfg.target_modules]
    cal = calibration_for(cfg, n=args.n)
    compute_item_gradients(lm, calibration_for(cfg, n=1), names)  # warm-up

    t0 = time.perf_counter()
    compute_item_gradients(lm, cal, names, restrict=True)
    t_slice = time.perf_counter() - t0
    t0 = time.perf_counter()
    compute_item_gradients(lm, cal, names, restrict=False)
    t_full = time.perf_counter() - t0
    print(f"gradients, {args.n} items x (eval, deploy), slice = q/v of layer {args.layer}:")
    print(f"  slice-restricted backward  {t_slice:8.2f} s")
    print(f"  full-model backward        {t_full:8.2f} s")
    print(f"  ratio full / restricted    {t_full / t_slice:8.2f}x")

    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        t0 = time.perf_counter()
        grads = slice_gradients(lm, cal, names, cache_dir=cache)
        t_first = time.perf_counter() - t0
        base = load_model(args.model, dtype="float32").model
        pm = get_peft_model(base, LoraConfig(r=cfg.lora_rank, lora_alpha=cfg.lora_alpha,
                                             target_modules=list(cfg.target_modules),
                                             layers_to_transform=[args.layer]))
        gen = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for n, p in pm.named_parameters():
                if "lora_" in n:
                    p.copy_(torch.randn(p.shape, generator=gen) * 0.01)
        pm.save_pretrained(str(Path(tmp) / "adapter"), safe_serialization=True)
        t0 = time.perf_counter()
        again = slice_gradients(lm, cal, names, cache_dir=cache)  # cache hit
        mech = signature(again, delta_from_adapter(Path(tmp) / "adapter"), n_boot=2000)
        t_cell = time.perf_counter() - t0
    print(f"per further cell (rho + 2000-resample CI), {grads.n_calibration} items:")
    print(f"  cached gradients           {t_cell:8.3f} s   (rho = {mech.model_extra['rho']:+.3f})")
    print(f"  recomputing gradients      {t_first:8.3f} s")
    print(f"  ratio recompute / cached   {t_first / t_cell:8.1f}x")


if __name__ == "__main__":
    main()
