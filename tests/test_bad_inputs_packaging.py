"""``requires-python`` matches the code: the stdlib features the package uses set the floor,
and mypy and ruff check against that same floor."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Standard-library features (as they appear in source) and the Python that added them.
NEEDS: dict[str, tuple[int, int]] = {
    r"^\s*import tomllib|^\s*from tomllib ": (3, 11),
    r"\bStrEnum\b": (3, 11),
    r"\bExceptionGroup\b|\bexcept\*": (3, 11),
    r"^\s*from typing import .*\b(Self|LiteralString|Never)\b": (3, 11),
}


def _floor() -> tuple[int, int]:
    need = (3, 8)
    for f in (ROOT / "src").rglob("*.py"):
        text = f.read_text(encoding="utf-8")
        for pattern, version in NEEDS.items():
            if re.search(pattern, text, flags=re.M):
                need = max(need, version)
    return need


def test_requires_python_mypy_and_ruff_agree_with_the_code() -> None:
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    need = _floor()
    m = re.fullmatch(r">=\s*(\d+)\.(\d+)", cfg["project"]["requires-python"].strip())
    assert m, cfg["project"]["requires-python"]
    assert (int(m[1]), int(m[2])) == need, "requires-python must be the floor the code needs"
    assert cfg["tool"]["mypy"]["python_version"] == f"{need[0]}.{need[1]}"
    assert cfg["tool"]["ruff"]["target-version"] == f"py{need[0]}{need[1]}"
