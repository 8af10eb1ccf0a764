"""The tiny audit the end-to-end tests run: its config and how to run and compare it.

Real code paths throughout (transformers, peft LoRA training, the evaluator,
base-model gradients); only the model is tiny.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CONFIG = """\
[audit]
name = "tiny-e2e"
seeds = [1]

[[models]]
name = "tiny"
spec = "{model}"
dtype = "float32"

[[recipes]]
name = "attack-aware"
claimed_class = "attack-targeted"
params = {{ alpha = 1.0 }}

[split]
n_heldout = 4
n_fresh = 4

[eval]
heldout_templates = 2
fresh_templates = 2

[train]
steps = 3
n_examples = 16
batch_size = 4
dtype = "float32"
checkpoint_every = 1

[mechanism]
n_calibration = 8
n_boot = 50

[thresholds]
n_resamples = 200
"""


def acard(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "acceptance_cards", *args], capture_output=True,
                          text=True, env=env, timeout=1200)


def card_without_timings(path: Path) -> str:
    """A card's JSON minus the measured wall-clock seconds (which no two runs share)."""
    card = json.loads(path.read_text())
    card["compute"].pop("training_time_s", None)
    card["compute"].pop("eval_time_s", None)
    card["provenance"]["metadata_sha256"].pop("compute", None)  # the hash of those seconds
    return json.dumps(card, sort_keys=True)


def outputs(out: Path) -> dict[str, str]:
    cards = {p.name: card_without_timings(p) for p in sorted((out / "cards").glob("*.json"))}
    return {"matrix.csv": (out / "matrix.csv").read_text(),
            "filter.csv": (out / "filter.csv").read_text(), **cards}
