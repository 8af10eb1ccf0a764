"""Card model, JSON Schema drift, determinism and verification."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest

from acceptance_cards._util.errors import InputError
from acceptance_cards.card.build import build_card_from_files
from acceptance_cards.card.model import CardOptions, card_json_schema, card_to_json, load_card, schema_text
from acceptance_cards.card.verify import verify_card
from acceptance_cards.mechanism import save_mechanism
from acceptance_cards.synthetic import example_card, example_mechanism, simulate_rows
from helpers import write_jsonl

SCHEMA_FILE = Path(__file__).parents[1] / "src/acceptance_cards/schema/card.schema.json"


def test_committed_schema_matches_model() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text(), (
        "card.schema.json drifted from the Card model: run `make schema` and commit it"
    )


def test_card_validates_against_schema_and_has_contract_keys() -> None:
    data = json.loads(card_to_json(example_card()))
    jsonschema.validate(data, card_json_schema())
    for key in ("verdict", "claim_support", "passed", "run", "unmet"):
        assert key in data
    contract = {
        "a": "verdict delta_gap ci_low ci_high deploy_cost deploy_cost_ci_low deploy_cost_ci_high "
             "n_questions n_resamples ci_level",
        "b": "verdict delta se_paired se_independent se_quadrature n_questions n_per_framing",
        "c": "verdict rho alpha_t alpha_a signed_class claimed_class tau",
        "d": "verdict delta_cross se_cross delta_primary se_primary se_combined baseline_gap "
             "baseline_gap_se installable degenerate",
    }
    for gate, keys in contract.items():
        assert set(keys.split()) <= set(data["diagnostics"][gate]), gate


def test_absent_gates_are_explicit_not_run() -> None:
    rb, rd = simulate_rows(seed=1, n_heldout=6, n_fresh=6)
    from acceptance_cards.card.build import build_card
    from acceptance_cards.records import records_from_rows

    c = json.loads(card_to_json(build_card(records_from_rows(rb), records_from_rows(rd))))
    assert c["diagnostics"]["c"]["verdict"] == "not run"
    assert c["diagnostics"]["d"]["verdict"] == "not run"
    assert c["diagnostics"]["d"]["delta_cross"] is None  # key present, value null
    assert c["provenance"]["artifact_status"].startswith("partial")


@pytest.fixture
def evidence(tmp_path: Path) -> dict[str, Path]:
    rb, rd = simulate_rows(seed=1, n_heldout=12, n_fresh=30)
    xb, xd = simulate_rows(seed=2, n_heldout=0, n_fresh=30, task="sycophancy")
    paths = {n: write_jsonl(tmp_path / f"{n}.jsonl", r)
             for n, r in (("b", rb), ("d", rd), ("xb", xb), ("xd", xd))}
    save_mechanism(example_mechanism(), tmp_path / "m.json")
    paths["m"] = tmp_path / "m.json"
    return paths


def _build(p: dict[str, Path], out: Path, seed: int = 0):  # type: ignore[no-untyped-def]
    return build_card_from_files(
        p["b"], p["d"], cross_baseline=p["xb"], cross_defense=p["xd"], mechanism=p["m"],
        options=CardOptions(seed=seed, n_resamples=500, claimed_class="attack-targeted"),
        relative_to=out.parent,
    )


def test_same_inputs_and_seed_give_identical_cards(evidence: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "c.json"
    assert card_to_json(_build(evidence, out)) == card_to_json(_build(evidence, out))
    assert card_to_json(_build(evidence, out)) != card_to_json(_build(evidence, out, seed=1))


def test_verify_roundtrip_tamper_and_changed_input(evidence: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "cards" / "c.json"
    out.parent.mkdir()
    card = _build(evidence, out)
    out.write_text(card_to_json(card))
    assert verify_card(load_card(out), card_dir=out.parent).ok
    # tampered number
    data = json.loads(out.read_text())
    data["diagnostics"]["b"]["se_paired"] *= 0.5
    out.write_text(json.dumps(data))
    rep = verify_card(load_card(out), card_dir=out.parent)
    assert not rep.ok and [d.field for d in rep.differences] == ["diagnostics.b.se_paired"]
    # changed input file (one record flipped) is caught by hash and by recomputation
    out.write_text(card_to_json(card))
    lines = evidence["d"].read_text().splitlines()
    rec = json.loads(lines[0])
    rec["correct"] = 1 - rec["correct"]
    lines[0] = json.dumps(rec)
    evidence["d"].write_text("\n".join(lines) + "\n")
    rep = verify_card(load_card(out), card_dir=out.parent)
    assert not rep.ok
    assert [c.role for c in rep.inputs if not c.ok] == ["defense"]
    assert rep.differences
    # missing input
    evidence["xb"].unlink()
    rep = verify_card(load_card(out), card_dir=out.parent)
    assert not rep.ok and rep.error and "missing" in rep.error


def test_card_and_inputs_move_together(evidence: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "c.json"
    out.write_text(card_to_json(_build(evidence, out)))
    moved = tmp_path.parent / (tmp_path.name + "-moved")
    shutil.copytree(tmp_path, moved)
    try:
        assert verify_card(load_card(moved / "c.json"), card_dir=moved).ok
    finally:
        shutil.rmtree(moved)


def test_load_card_errors(tmp_path: Path) -> None:
    p = tmp_path / "bad.json"
    p.write_text('{"verdict": "maybe"}')
    with pytest.raises(InputError, match="bad.json.*not a valid card"):
        load_card(p)
    p.write_text("{")
    with pytest.raises(InputError, match="not valid JSON"):
        load_card(p)
