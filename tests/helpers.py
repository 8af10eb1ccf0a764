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


def run_cli(argv: list[str], capsys: Any) -> tuple[int, str, str]:
    """Run ``acard argv`` in-process: (exit code, stdout, stderr)."""
    import pytest

    from acceptance_cards.cli import main

    with pytest.raises(SystemExit) as ei:
        main(argv)
    out, err = capsys.readouterr()
    code = ei.value.code
    return (code if isinstance(code, int) else 1), out, err
