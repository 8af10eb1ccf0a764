"""Benchmark: per-cell and per-step time of an audit, and local vs Ray wall time.

    python benchmarks/audit.py [--config examples/quick.toml] [--out out/bench-audit] [--no-ray] [--threads N]
    python benchmarks/audit.py --report OUTDIR      # only summarise an existing run

Runs the audit once with the local executor and once with Ray (fresh output
folders, so neither reuses the other's artifacts; each run also gets its own
gradient cache, with the dequantized model cache shared), then prints each step's
seconds and share of the cell's total from the manifests, and the two wall
times with their ratio. A step's seconds are summed over all its attempts (a
step interrupted and resumed counts the time of both).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path


def _cache_without_gradients(folder: Path) -> Path:
    """An ACARD_CACHE that shares the model caches but starts with no cached gradients."""
    from acceptance_cards.evidence.models.gguf_cache import cache_root

    real = cache_root()
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for entry in real.iterdir() if real.is_dir() else ():
        if entry.name != "gradients":
            (folder / entry.name).symlink_to(entry.resolve(), target_is_directory=entry.is_dir())
    return folder


def run(config: Path, out: Path, executor: str, threads: int | None = None) -> float:
    if out.exists():
        shutil.rmtree(out)
    env = {**os.environ, "ACARD_CACHE": str(_cache_without_gradients(out.parent / f"{out.name}-cache"))}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "acceptance_cards", "audit", str(config), "-o", str(out),
                    "--executor", executor, *(["--threads", str(threads)] if threads else [])],
                   check=True, env=env)
    return time.perf_counter() - t0


def report_steps(out: Path) -> None:
    """A run that has not finished: the finished steps' recorded seconds, from their manifests."""
    found = sorted((out / "artifacts" / "steps").glob("*/*/manifest.json"))
    manifests = [json.loads(m.read_text()) for m in found]
    if not manifests:
        sys.exit(f"{out}: no finished steps (no artifacts/steps/*/*/manifest.json)")
    print(f"{out}: run not finished (no timings.json); {len(manifests)} finished steps")
    by_kind: dict[str, float] = defaultdict(float)
    for m in sorted(manifests, key=lambda m: (m["kind"], -m["seconds"])):
        by_kind[m["kind"]] += m["seconds"]
        model = (m["inputs"].get("model") or {}).get("spec", "")
        seed = f"s{m['inputs']['seed']}" if "seed" in m["inputs"] else ""
        # seconds: summed over every attempt (a resumed step's killed attempts included)
        n = len(m.get("attempts", ()))
        tries = f"  ({n} attempts)" if n > 1 else ""
        print(f"  {m['kind']:10s} {model:12s} {m.get('label') or '':45s} {seed:4s} "
              f"{m['seconds']:8.1f} s{tries}")
    total = sum(by_kind.values())
    print(f"  total {total:.1f} s of step time; by kind: "
          + ", ".join(f"{k} {v:.0f} s ({100 * v / total:.0f}%)" for k, v in by_kind.items()))


def report(out: Path) -> None:
    if not (out / "timings.json").is_file():
        report_steps(out)
        return
    timings = json.loads((out / "timings.json").read_text())
    for cell, t in timings.items():
        total = sum(t["steps"].values())
        print(f"\n{cell}: {total:.1f} s of step time")
        by_kind: dict[str, float] = defaultdict(float)
        for step, sec in sorted(t["steps"].items(), key=lambda kv: -kv[1]):
            by_kind[step.split(":")[0]] += sec
            cached = " (cached)" if t["cached"].get(step) else ""
            print(f"  {step:55s} {sec:8.1f} s  {100 * sec / total:5.1f}%{cached}")
        print("  by kind: " + ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in by_kind.items()))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", type=Path, default=Path("examples/quick.toml"))
    ap.add_argument("--out", type=Path, default=Path("out/bench-audit"))
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads (local) / CPUs per Ray cell task (default: the CLI's choice)")
    ap.add_argument("--report", type=Path, help="summarise an existing audit folder and stop")
    args = ap.parse_args()
    if args.report:
        report(args.report)
        return
    local = run(args.config, args.out / "local", "local", args.threads)
    report(args.out / "local")
    print(f"\nwall time, local executor: {local:.1f} s")
    if not args.no_ray:
        ray = run(args.config, args.out / "ray", "ray", args.threads)
        print(f"wall time, Ray executor:   {ray:.1f} s   (ray/local = {ray / local:.2f})")


if __name__ == "__main__":
    main()
