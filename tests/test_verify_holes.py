"""Edits that must not verify: a dropped disclosure, emptied digests, a forged override.

Cards of schema 1.0 (before every author field was hashed) still verify under their rules.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from acceptance_cards.card.build import build_card_from_files
from acceptance_cards.card.metadata import CardMetadata
from acceptance_cards.card.model import RECORDED, Card, CardOptions, card_to_json, load_card
from acceptance_cards.card.verify import verify_card
from acceptance_cards.synthetic import simulate_rows
from helpers import run_cli, write_jsonl

EVIDENCE = {"stand_ins": [{"what": "abstain attack", "why": "near chance", "affects": "all"}],
            "permissive_class": "shrinkage"}


def _built(tmp: Path, meta_file: Path | None = None, evidence: bool = True) -> dict[str, Any]:
    rb, rd = simulate_rows(seed=1, n_heldout=12, n_fresh=12)
    b, d = write_jsonl(tmp / "b.jsonl", rb), write_jsonl(tmp / "d.jsonl", rd)
    meta = CardMetadata(title="T", evidence=EVIDENCE if evidence else None)
    card = build_card_from_files(b, d, metadata=None if meta_file else meta,
                                 metadata_file=meta_file, options=CardOptions(n_resamples=300),
                                 relative_to=tmp)
    assert verify_card(card, card_dir=tmp).status == "verified"
    data: dict[str, Any] = json.loads(card_to_json(card))
    return data


def _status(data: dict[str, Any], tmp: Path) -> str:
    card = Card.model_validate(data, context={RECORDED: True})
    return verify_card(card, card_dir=tmp).status


def _drop_evidence(j: dict[str, Any]) -> None:
    j.update(evidence=None, relabel=None)
    del j["provenance"]["metadata_sha256"]["evidence"]


def _empty_digests(j: dict[str, Any]) -> None:
    j["title"] = "Accepted defense"
    j["provenance"]["metadata_sha256"] = {}


@pytest.mark.parametrize("edit", [_drop_evidence, _empty_digests])
def test_edits_with_digests_removed_do_not_verify(tmp_path: Path, edit: Any) -> None:
    data = _built(tmp_path)
    edit(data)
    assert _status(data, tmp_path) == "differs"


def test_a_card_without_evidence_hashes_its_absence(tmp_path: Path) -> None:
    data = _built(tmp_path, evidence=False)
    assert data["evidence"] is None and len(data["provenance"]["metadata_sha256"]["evidence"]) == 64


def test_forged_override_does_not_verify(tmp_path: Path) -> None:
    meta = tmp_path / "meta.toml"
    meta.write_text('title = "T"\n[evidence]\npermissive_class = "shrinkage"\n'
                    '[[evidence.stand_ins]]\nwhat = "abstain attack"\nwhy = "near chance"\n'
                    'affects = "all"\n', encoding="utf-8")
    data = _built(tmp_path, meta_file=meta)
    _drop_evidence(data)
    data["provenance"]["metadata_overrides"].append("evidence")
    assert _status(data, tmp_path) == "differs"


def test_a_legacy_card_still_verifies(tmp_path: Path) -> None:
    """A 1.0 card: evidence hashed only when stated, or no digests at all."""
    data = _built(tmp_path, evidence=False)
    data["schema_version"] = "1.0"
    del data["provenance"]["metadata_sha256"]["evidence"]
    assert _status(data, tmp_path) == "verified"
    data["provenance"]["metadata_sha256"] = {}
    assert _status(data, tmp_path) == "verified"


def test_a_card_set_back_to_the_legacy_schema_says_what_went_unchecked(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Dropping a stand-in disclosure and relabelling the card 1.0 recomputes to the same card
    (1.0 hashed evidence only when stated); the report must not read as a full check."""
    data = _built(tmp_path)
    data["schema_version"] = "1.0"
    _drop_evidence(data)
    card = Card.model_validate(data, context={RECORDED: True})
    rep = verify_card(card, card_dir=tmp_path)
    assert rep.status == "verified"
    assert len(rep.caveats) == 1 and "evidence carries no digest" in rep.caveats[0]
    path = tmp_path / "card.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    code, out, err = run_cli(["verify", str(path)], capsys)
    assert code == 0 and "caveat: schema 1.0 card: evidence carries no digest" in out, (out, err)
    new = tmp_path / "new"
    new.mkdir()
    current = Card.model_validate(_built(new), context={RECORDED: True})
    assert verify_card(current, card_dir=new).caveats == []


# --------------------------------------------------------------------------- several cards


def _card_file(folder: Path, seed: int) -> Path:
    folder.mkdir()
    rb, rd = simulate_rows(seed=seed, n_heldout=10, n_fresh=10)
    b, d = write_jsonl(folder / "b.jsonl", rb), write_jsonl(folder / "d.jsonl", rd)
    card = build_card_from_files(b, d, options=CardOptions(n_resamples=200), relative_to=folder)
    out = folder / "card.json"
    out.write_text(card_to_json(card), encoding="utf-8")
    return out


def test_an_unparseable_input_or_missing_card_fails_that_card_only(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad, good = _card_file(tmp_path / "a", 1), _card_file(tmp_path / "b", 2)
    (tmp_path / "a" / "d.jsonl").write_text("{not json\n", encoding="utf-8")
    rep = verify_card(load_card(bad), card_dir=bad.parent)
    assert rep.status == "differs" and rep.error and "defense" in rep.error
    code, out, err = run_cli(["verify", str(bad), str(tmp_path / "gone.json"), str(good)], capsys)
    assert code == 1, (out, err)
    assert "Traceback" not in out + err
    tail = out.split(f"{good}:")[1]
    assert "verified: the card matches its inputs" in tail
    assert out.count("NOT verified") == 2 and "d.jsonl" in out
