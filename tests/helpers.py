"""Helpers shared by the card-engine tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def row(**kw: Any) -> dict[str, Any]:
    """One valid record with defaults overridden by ``kw``."""
    base: dict[str, Any] = dict(cell="adamw", task="sandbagging", split="heldout",
                                question_id="q1", subject="anatomy", template_id="t1",
                                framing="eval", correct=1)
    base.update(kw)
    return base
