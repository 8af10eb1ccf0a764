"""Shared fixtures of the audit's end-to-end tests: the tiny audit's config, run once locally.

Session-scoped, so the local run that every executor is compared with happens once.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_audit import CONFIG, acard


@pytest.fixture(scope="session")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    pytest.importorskip("peft")
    from acceptance_cards.evidence.models.loading import load_tokenizer
    from tiny_models import build_tiny

    root = tmp_path_factory.mktemp("e2e")
    model = build_tiny(root / "tiny", load_tokenizer("smollm2"))
    cfg = root / "audit.toml"
    cfg.write_text(CONFIG.format(model=model))
    return cfg


@pytest.fixture(scope="session")
def first_run(config: Path) -> Path:
    out = config.parent / "out-local"
    r = acard("audit", str(config), "-o", str(out))
    assert r.returncode == 0, r.stderr[-3000:]
    return out
