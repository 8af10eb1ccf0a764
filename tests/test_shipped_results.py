"""The audits shipped under ``results/`` still verify with today's code, byte for byte.

Each folder was written by ``acard results pack``: its cards must be what the card
engine recomputes from the packed records and mechanism files, with no model (the
paper's cached verification path), and every file its ``MANIFEST.json`` lists must be
there with the recorded sha256. A change to the statistics that moves a shipped
figure fails here, naming the card and field, instead of leaving the README's
results silently out of date.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from acceptance_cards._util.files import sha256_file
from helpers import run_cli

RESULTS = Path(__file__).resolve().parents[1] / "results"
FOLDERS = sorted(p for p in RESULTS.glob("*") if (p / "MANIFEST.json").is_file())


def test_the_reference_audit_is_shipped() -> None:
    assert "cpu-full" in {p.name for p in FOLDERS}


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_every_shipped_card_verifies_without_a_model(folder: Path, capsys: Any) -> None:
    cards = sorted(str(p) for p in (folder / "cards").glob("*.json"))
    manifest = json.loads((folder / "MANIFEST.json").read_text(encoding="utf-8"))
    assert len(cards) == len(manifest["cards"]) > 1
    code, out, err = run_cli(["verify", *cards], capsys)
    assert code == 0, out + err
    assert out.count("verified: the card matches its inputs") == len(cards)


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_every_manifest_file_is_there_unchanged(folder: Path) -> None:
    manifest = json.loads((folder / "MANIFEST.json").read_text(encoding="utf-8"))
    listed = {f["path"]: f for f in manifest["files"]}
    on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert on_disk - {"MANIFEST.json"} == set(listed)
    for rel, f in listed.items():
        assert sha256_file(folder / rel) == f["sha256"], rel
        assert (folder / rel).stat().st_size == f["bytes"], rel
