"""Shared fixtures for the card-engine tests (torch-free)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from helpers import write_jsonl


@pytest.fixture
def jsonl(tmp_path: Path) -> Callable[[str, list[dict[str, Any]]], Path]:
    """Write rows to tmp_path/name as JSONL and return the path."""
    return lambda name, rows: write_jsonl(tmp_path / name, rows)
