"""Benchmark: core utilisation and wall time of an audit under each executor, on the same work.

    python benchmarks/audit.py --tiny                  # 4-cell tiny-model audit, all three executors
    python benchmarks/audit.py --config examples/quick.toml --executors local,ray
    python benchmarks/audit.py --report OUTDIR         # only summarise an existing run

Runs the audit once per executor (``local``: cells in sequence; ``ray-cells``:
one Ray task per cell; ``ray``: one Ray task per step), each into a fresh
output folder with its own gradient cache (the dequantized model cache is
shared), so none reuses another's work. For each it prints

- Σ step seconds: the recorded seconds of every distinct store step (split,
  train, eval, mechanism; summed over its attempts), the same work under every
  executor (the cards, built after the steps, and step-level Ray's one
  weights-hash task per model are not store steps and are not in it);
- the step window: first step start to last step end, from the attempt logs
  (what the scheduler controls), and the whole command's wall time (adds
  interpreter and Ray start-up, the cards' rendering and the report);
- utilisation = Σ step seconds / (window × cores), as if each step held one
  core (how many steps ran side by side), and the measured CPU utilisation =
  Σ step CPU seconds / (window × cores) (counts a 2-thread local step's
  second core too);
- the load average while it ran (other work on the machine takes cores too);

then each executor's window and utilisation as ratios against its peers.
``--tiny`` builds a random tiny Llama (the test suite's) and a 4-cell config
(two defenses × two seeds, primary and cross task): cheap steps, many of them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

#: The tiny benchmark's config: 2 defenses x 2 seeds = 4 cells sharing 2 x 2 baseline fine-tunes.
TINY_CONFIG = """\
[audit]
name = "bench-tiny"
seeds = [1, 2]

[[models]]
name = "tiny"
spec = "{model}"
dtype = "float32"

[[recipes]]
name = "aa-1"
recipe = "attack-aware"
claimed_class = "attack-targeted"
params = {{ alpha = 1.0 }}

[[recipes]]
name = "aa-05"
recipe = "attack-aware"
claimed_class = "attack-targeted"
params = {{ alpha = 0.5 }}

[split]
n_heldout = 8
n_fresh = 8

[eval]
heldout_templates = 2
fresh_templates = 2

[train]
steps = {steps}
n_examples = 32
batch_size = 4
dtype = "float32"
checkpoint_every = 10

[mechanism]
n_calibration = 8
n_boot = 50

[thresholds]
n_resamples = 200
"""


def tiny_config(folder: Path, steps: int) -> Path:
    """Build the tiny model (the tests' builder) and write the 4-cell config next to it."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from acceptance_cards.evidence.models.loading import load_tokenizer
    from tiny_models import build_tiny

    folder.mkdir(parents=True, exist_ok=True)
    model = build_tiny(folder / "tiny-model", load_tokenizer("smollm2"))
    cfg = folder / "bench-tiny.toml"
    cfg.write_text(TINY_CONFIG.format(model=model, steps=steps))
    return cfg


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


class LoadSampler:
    """The 1-minute load average every few seconds while a run goes (mean and max)."""

    def __init__(self, every: float = 5.0) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, args=(every,), daemon=True)

    def _loop(self, every: float) -> None:
        while True:
            self.samples.append(os.getloadavg()[0])
            if self._stop.wait(every):
                return

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run(config: Path, out: Path, executor: str, threads: int | None) -> dict[str, Any]:
    """One audit run into a fresh ``out``; its wall time and the load average meanwhile."""
    if out.exists():
        shutil.rmtree(out)
    env = {**os.environ, "ACARD_CACHE": str(_cache_without_gradients(out.parent / f"{out.name}-cache"))}
    cmd = [sys.executable, "-m", "acceptance_cards", "audit", str(config), "-o", str(out),
           "--executor", executor, "--progress", "none", *(["--threads", str(threads)] if threads else [])]
    print("$ " + " ".join(cmd[1:]), flush=True)
    with LoadSampler() as load:
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
    return {"executor": executor, "wall": wall, "load_mean": sum(load.samples) / len(load.samples),
            "load_max": max(load.samples)}


def step_figures(out: Path, cores: int) -> dict[str, float]:
    """Σ step seconds, Σ step CPU seconds and the step window of a finished run, from its manifests."""
    manifests = [json.loads(m.read_text()) for m in (out / "artifacts" / "steps").glob("*/*/manifest.json")]
    starts, ends, cpu = [], [], 0.0
    for m in manifests:
        for a in m["attempts"]:
            start = datetime.fromisoformat(a["started"]).timestamp()
            starts.append(start)
            ends.append(start + a["seconds"])
            cpu += a.get("cpu_seconds", 0.0)
    step_s = sum(m["seconds"] for m in manifests)
    window = max(ends) - min(starts)
    return {"steps": len(manifests), "step_seconds": step_s, "cpu_seconds": cpu, "window": window,
            "utilisation": step_s / (window * cores), "cpu_utilisation": cpu / (window * cores)}


def report_steps(out: Path) -> None:
    """Every finished step's recorded seconds (summed over attempts), by kind."""
    found = sorted((out / "artifacts" / "steps").glob("*/*/manifest.json"))
    manifests = [json.loads(m.read_text()) for m in found]
    if not manifests:
        sys.exit(f"{out}: no finished steps (no artifacts/steps/*/*/manifest.json)")
    print(f"{out}: {len(manifests)} finished steps")
    by_kind: dict[str, float] = defaultdict(float)
    for m in sorted(manifests, key=lambda m: (m["kind"], -m["seconds"])):
        by_kind[m["kind"]] += m["seconds"]
        model = (m["inputs"].get("model") or {}).get("spec", "")
        seed = f"s{m['inputs']['seed']}" if "seed" in m["inputs"] else ""
        n = len(m.get("attempts", ()))
        tries = f"  ({n} attempts)" if n > 1 else ""
        print(f"  {m['kind']:10s} {Path(model).name[:12]:12s} {m.get('label') or '':45s} {seed:4s} "
              f"{m['seconds']:8.1f} s{tries}")
    total = sum(by_kind.values())
    print(f"  total {total:.1f} s of step time; by kind: "
          + ", ".join(f"{k} {v:.0f} s ({100 * v / total:.0f}%)" for k, v in by_kind.items()))


def summarise(rows: list[dict[str, Any]], cores: int) -> None:
    """The per-executor table and the ratios against each peer."""
    print(f"\n{cores} cores; utilisation = Σ step s / (step window × {cores})")
    print(f"{'executor':10s} {'steps':>5s} {'Σ step s':>9s} {'window s':>9s} {'wall s':>8s} "
          f"{'util':>5s} {'cpu util':>8s} {'load mean/max':>14s}")
    for r in rows:
        print(f"{r['executor']:10s} {r['steps']:5d} {r['step_seconds']:9.1f} {r['window']:9.1f} "
              f"{r['wall']:8.1f} {r['utilisation']:5.2f} {r['cpu_utilisation']:8.2f} "
              f"{r['load_mean']:6.2f}/{r['load_max']:.2f}")
    for i, a in enumerate(rows):
        for b in rows[i + 1:]:
            util = b["utilisation"] / a["utilisation"]
            print(f"{b['executor']} vs {a['executor']}: window {b['window'] / a['window']:.2f}x, "
                  f"wall {b['wall'] / a['wall']:.2f}x, utilisation {util:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", type=Path, default=Path("examples/quick.toml"))
    ap.add_argument("--tiny", action="store_true", help="a 4-cell tiny-model config instead of --config")
    ap.add_argument("--tiny-steps", type=int, default=40, help="training steps of each tiny fine-tune")
    ap.add_argument("--executors", default="local,ray-cells,ray")
    ap.add_argument("--out", type=Path, default=Path("out/bench-audit"))
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads (local) / CPUs per Ray task (default: the CLI's choice)")
    ap.add_argument("--report", type=Path, help="summarise an existing audit folder and stop")
    args = ap.parse_args()
    if args.report:
        report_steps(args.report)
        return
    config = tiny_config(args.out / "tiny", args.tiny_steps) if args.tiny else args.config
    cores = os.cpu_count() or 1
    rows = []
    for executor in args.executors.split(","):
        r = run(config, args.out / executor, executor, args.threads)
        rows.append({**r, **step_figures(args.out / executor, cores)})
    report_steps(args.out / rows[0]["executor"])
    summarise(rows, cores)


if __name__ == "__main__":
    main()
