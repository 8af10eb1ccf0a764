"""Fixtures for the importer / exporter tests: real logs made by the real tools.

Bad logs are derived from the real ones at test time, with inspect_ai's own
reader and writer (or, for lm-eval's plain JSONL, by editing its lines).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from importer_data import BASE_CELL, inspect_log, lm_eval_samples

RewriteFn = Callable[[list[Any]], list[Any]]


@pytest.fixture
def rewrite_log(tmp_path: Path) -> Callable[..., Path]:
    """Copy a real log through inspect_ai's reader/writer, editing its samples on the way."""
    log_mod = pytest.importorskip("inspect_ai.log")

    def make(edit: RewriteFn | None = None, *, cell: str = BASE_CELL, fmt: str = "eval",
             name: str | None = None, epochs: int | None = None) -> Path:
        log = log_mod.read_eval_log(str(inspect_log(cell)))
        if edit is not None:
            log.samples = edit([s.model_copy(deep=True) for s in log.samples])
            # keep the header consistent with the edited samples, as inspect would write it
            ids = list(dict.fromkeys(s.id for s in log.samples))
            log.eval.dataset.sample_ids = ids
            log.eval.dataset.samples = len(ids)
        if epochs is not None:
            log.eval.config.epochs = epochs
        out = tmp_path / f"{name or cell}.{fmt}"
        log_mod.write_eval_log(log, str(out), format=fmt)
        return out

    return make


@pytest.fixture
def rewrite_samples(tmp_path: Path) -> Callable[..., Path]:
    """Copy the real lm-eval samples file, editing its JSON lines on the way."""
    def make(edit: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
             *, name: str | None = None) -> Path:
        src = lm_eval_samples()
        lines = [json.loads(x) for x in src.read_text(encoding="utf-8").splitlines() if x]
        out = tmp_path / (name or src.name)
        out.write_text("".join(json.dumps(x) + "\n" for x in edit(lines)), encoding="utf-8")
        return out

    return make
