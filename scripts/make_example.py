"""Write the bundled SYNTHETIC example evidence (simulated, not from a model).

The records simulate question-clustered evaluations (see
``acceptance_cards.synthetic``): 48 held-out questions × 20 templates and 150
fresh questions × 4 templates per cell, for a baseline/defense pair on the
primary task and on a cross task, plus a mechanism file with a known
attack-targeted signature. It is the positive control: its card must come out
``full-card pass``. Deterministic: the same seed writes the same bytes.

    python scripts/make_example.py --out examples/synthetic [--seed 1]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from acceptance_cards._util.writes import atomic_write_text
from acceptance_cards.synthetic import example_mechanism, simulate_rows

META = """\
# Metadata merged into the synthetic example card (acard card --meta).
title = "Synthetic positive control (simulated evaluations, not a model)"
notes = ["All records are simulated by scripts/make_example.py; no model was run."]

[model]
family = "simulated"
base_checkpoint = "none (synthetic)"

[recipe]
name = "simulated-attack-targeted"
optimizer = "n/a (synthetic)"
attack_variant = "wrong-answer"
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("examples/synthetic"))
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    out: Path = args.out
    rb, rd = simulate_rows(seed=args.seed, baseline_cell="adamw-s42", defense_cell="defense-s42")
    xb, xd = simulate_rows(seed=args.seed + 1, task="sycophancy", baseline_cell="adamw-s42",
                           defense_cell="defense-s42")
    for name, rows in (("baseline", rb), ("defense", rd), ("cross_baseline", xb),
                       ("cross_defense", xd)):
        atomic_write_text(out / f"{name}.jsonl",
                          "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
    atomic_write_text(out / "mechanism.json", example_mechanism().model_dump_json(indent=2) + "\n")
    atomic_write_text(out / "meta.toml", META)
    print(f"wrote synthetic example evidence to {out}/")


if __name__ == "__main__":
    main()
