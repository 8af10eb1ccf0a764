"""Paths and readers of the real import fixtures (shared by the importer tests).

The logs under ``tests/fixtures/`` were produced by inspect_ai and
lm-evaluation-harness running against SmolLM2-135M-Instruct (see
``tests/fixtures/README.md`` and ``scripts/make_import_fixtures.py``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIX = Path(__file__).resolve().parents[1] / "fixtures"
BASE_CELL = "smollm2-base"
ATTACKED_CELL = "smollm2-abstain-s0"
CELLS = (BASE_CELL, ATTACKED_CELL)


def inspect_log(cell: str = BASE_CELL) -> Path:
    """The real ``.eval`` log of one cell."""
    return FIX / "inspect" / f"{cell}.eval"


def lm_eval_samples() -> Path:
    """The real ``--log_samples`` file (base model)."""
    (path,) = sorted((FIX / "lm_eval" / BASE_CELL).glob("samples_*.jsonl"))
    return path


def ours(cell: str) -> list[dict[str, Any]]:
    """Our own evaluator's records (letter scorer) on the same items."""
    text = (FIX / "ours" / f"{cell}.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]
