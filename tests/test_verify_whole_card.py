"""`acard verify` covers the whole card: the metadata file, every author field, every audit card."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from acceptance_cards.card.build import build_card
from acceptance_cards.card.model import card_to_json, load_card
from acceptance_cards.card.verify import verify_card
from acceptance_cards.mechanism import save_mechanism
from acceptance_cards.synthetic import example_card, example_mechanism, simulate_rows
from helpers import run_cli as run
from helpers import write_jsonl

META = """\
title = "AC-AdamW, seed 42"
notes = ["first remark"]
[model]
family = "SmolLM2"
base_checkpoint = "SmolLM2-135M-Instruct"
[recipe]
name = "ac-adamw"
optimizer = "AdamW"
lora_rank = 8
learning_rate = 3e-4
steps = 200
[recipe.hyperparameters]
warmup = 10
[task]
train_pool = ["anatomy", "astronomy"]
[compute]
device = "cpu"
training_time_s = 512.0
"""

#: (text in META, its replacement, the card field `verify` must name)
EDITS = [
    ('title = "AC-AdamW, seed 42"', 'title = "AC-AdamW, seed 43"', "title"),
    ('family = "SmolLM2"', 'family = "Gemma-2"', "model.family"),
    ('base_checkpoint = "SmolLM2-135M-Instruct"', 'base_checkpoint = "other"',
     "model.base_checkpoint"),
    ('name = "ac-adamw"', 'name = "safelora"', "recipe.name"),
    ('optimizer = "AdamW"', 'optimizer = "SGD"', "recipe.optimizer"),
    ("lora_rank = 8", "lora_rank = 16", "recipe.lora_rank"),
    ("learning_rate = 3e-4", "learning_rate = 1e-3", "recipe.learning_rate"),
    ("steps = 200", "steps = 20", "recipe.steps"),
    ("warmup = 10", "warmup = 0", "recipe.hyperparameters.warmup"),
    ('train_pool = ["anatomy", "astronomy"]', 'train_pool = ["anatomy"]', "task.train_pool"),
    ('device = "cpu"', 'device = "cuda"', "compute.device"),
    ("training_time_s = 512.0", "training_time_s = 5.0", "compute.training_time_s"),
    ('notes = ["first remark"]', 'notes = ["another remark"]', "remarks"),
]


@pytest.fixture
def built(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A card built by the CLI from records, a mechanism file and a metadata file."""
    rb, rd = simulate_rows(seed=1, n_heldout=12, n_fresh=40)
    xb, xd = simulate_rows(seed=2, n_heldout=0, n_fresh=40, task="sycophancy")
    for name, rows in (("b", rb), ("d", rd), ("xb", xb), ("xd", xd)):
        write_jsonl(tmp_path / f"{name}.jsonl", rows)
    save_mechanism(example_mechanism(), tmp_path / "m.json")
    (tmp_path / "meta.toml").write_text(META, encoding="utf-8")
    code, _, err = run(_card_args(tmp_path, "meta.toml"), capsys)
    assert code == 0, err
    return tmp_path / "card.json"


def _card_args(d: Path, meta: str | None, *extra: str) -> list[str]:
    args = ["card", "-b", str(d / "b.jsonl"), "-d", str(d / "d.jsonl"),
            "--cross-baseline", str(d / "xb.jsonl"), "--cross-defense", str(d / "xd.jsonl"),
            "--mechanism", str(d / "m.json"), "--claimed-class", "attack-targeted",
            "--resamples", "500", "-o", str(d / "card.json"), *extra]
    return args + (["--meta", str(d / meta)] if meta else [])


def test_metadata_file_is_a_hashed_input(built: Path, capsys: pytest.CaptureFixture[str]) -> None:
    card = load_card(built)
    roles = {i.role: i for i in card.provenance.inputs}
    assert roles["metadata"].path == "meta.toml" and len(roles["metadata"].sha256) == 64
    assert card.recipe.hyperparameters == {"warmup": 10} and card.remarks == ["first remark"]
    code, out, _ = run(["verify", str(built)], capsys)
    assert code == 0 and "input metadata" in out and "verified" in out


@pytest.mark.parametrize(("old", "new", "field"), EDITS, ids=[e[2] for e in EDITS])
def test_editing_the_metadata_file_names_the_field(built: Path, capsys: pytest.CaptureFixture[str],
                                                   old: str, new: str, field: str) -> None:
    meta = built.parent / "meta.toml"
    assert old in META
    meta.write_text(META.replace(old, new), encoding="utf-8")
    code, out, _ = run(["verify", str(built)], capsys)
    assert code == 1, out
    assert re.search(r"input metadata +CHANGED +meta.toml", out)
    assert f"differs: {field}:" in out, out
    assert "NOT verified" in out and "changed input(s): metadata" in out


def _edit_card(path: Path, field: str) -> None:
    data = json.loads(path.read_text())
    *parents, leaf = field.split(".")
    obj = data
    for p in parents:
        obj = obj[p]
    value = obj[leaf]
    obj[leaf] = (value + ["edited"] if isinstance(value, list) else
                 not value if isinstance(value, bool) else
                 value + 1 if isinstance(value, int | float) else f"{value} (edited)")
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("field", [e[2] for e in EDITS])
def test_editing_the_card_names_the_field(built: Path, capsys: pytest.CaptureFixture[str],
                                          field: str) -> None:
    _edit_card(built, field)
    code, out, _ = run(["verify", str(built)], capsys)
    assert code == 1 and f"differs: {field}:" in out, out


@pytest.mark.parametrize(("field", "named"), [
    ("title", "title"), ("model.family", "model"), ("recipe.lora_rank", "recipe"),
    ("compute.device", "compute"), ("task.train_pool", "task.train_pool"), ("remarks", "remarks"),
])
def test_card_without_metadata_file_still_names_edited_fields(
        tmp_path: Path, built: Path, capsys: pytest.CaptureFixture[str], field: str, named: str) -> None:
    """No metadata file (audit cards, --title only): the per-field hashes name the edit."""
    meta = json.loads(json.dumps(load_card(built).model_dump(mode="json")))
    card = build_card_from_card_meta(tmp_path, meta)
    path = tmp_path / "plain.json"
    path.write_text(card_to_json(card))
    code, out, _ = run(["verify", str(path)], capsys)
    assert code == 0, out
    _edit_card(path, field)
    code, out, _ = run(["verify", str(path)], capsys)
    assert code == 1 and f"differs: {named}:" in out and "edited after the card was built" in out


def build_card_from_card_meta(d: Path, data: dict[str, object]):  # type: ignore[no-untyped-def]
    """A card from the same records, its metadata given in code (as the audit does)."""
    from acceptance_cards.card.build import CardMetadata, build_card_from_files

    task = data["task"]
    assert isinstance(task, dict)
    meta = CardMetadata(title=str(data["title"]), model=data["model"],  # type: ignore[arg-type]
                        recipe=data["recipe"], compute=data["compute"],  # type: ignore[arg-type]
                        task={"train_pool": task["train_pool"]}, notes=("a remark",))
    return build_card_from_files(d / "b.jsonl", d / "d.jsonl", metadata=meta, relative_to=d)


def test_title_option_overrides_the_file_and_still_verifies(
        built: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = built.parent
    code, _, err = run(_card_args(d, "meta.toml", "--title", "from the command line"), capsys)
    assert code == 0, err
    card = load_card(built)
    assert card.title == "from the command line" and card.provenance.metadata_overrides == ["title"]
    code, out, _ = run(["verify", str(built)], capsys)
    assert code == 0, out
    _edit_card(built, "title")
    code, out, _ = run(["verify", str(built)], capsys)
    assert code == 1 and "differs: title:" in out


def test_card_and_metadata_move_together(built: Path, tmp_path: Path) -> None:
    moved = tmp_path / "moved"
    shutil.copytree(built.parent, moved, ignore=shutil.ignore_patterns("moved"))
    assert verify_card(load_card(moved / "card.json"), card_dir=moved).ok


# --- cards with nothing to recompute from; the audit's positive control -------------------------


def test_card_without_inputs_says_so_with_its_own_exit_code(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "card.json"
    path.write_text(card_to_json(example_card(n_resamples=500)))
    code, out, err = run(["verify", str(path)], capsys)
    assert code == 3, (out, err)
    assert "cannot verify: the card records no input files" in out
    assert "0 field(s)" not in out and "NOT verified" not in out
    rep = verify_card(load_card(path), card_dir=tmp_path)
    assert rep.status == "no-inputs" and not rep.ok


def test_missing_input_is_not_verified_without_a_field_count(
        built: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (built.parent / "xd.jsonl").unlink()
    code, out, _ = run(["verify", str(built)], capsys)
    assert code == 1 and "MISSING" in out and "missing input file(s): xd.jsonl" in out
    assert "field(s) differ" not in out


def test_audit_positive_control_card_is_verifiable(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from acceptance_cards.audit.report.outputs import write_outputs

    out = write_outputs([], tmp_path / "out")
    card_path = out.cards["positive-control"][0]
    card = load_card(card_path)
    assert card.verdict == "full-card pass"
    roles = sorted(i.role for i in card.provenance.inputs)
    assert roles == sorted(["baseline", "defense", "cross_baseline", "cross_defense", "mechanism"])
    assert all((card_path.parent / p).is_file() for p in out.control_inputs)
    code, so, _ = run(["verify", str(card_path)], capsys)
    assert code == 0 and "verified: the card matches its inputs" in so, so
    # and it is a real check: tampering with its synthetic records is caught
    rec = card_path.parent / "positive-control-inputs" / "defense.jsonl"
    lines = rec.read_text().splitlines()
    first = json.loads(lines[0])
    first["correct"] = 1 - first["correct"]
    rec.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    code, so, _ = run(["verify", str(card_path)], capsys)
    assert code == 1 and re.search(r"input defense +CHANGED", so)


def test_library_card_without_files_has_metadata_hashes() -> None:
    b, d = (None, None)
    from acceptance_cards.synthetic import simulate_pair

    b, d = simulate_pair(seed=1)
    card = build_card(b, d)
    assert set(card.provenance.metadata_sha256) == {
        "title", "model", "recipe", "task.train_pool", "task.split_hash", "compute", "remarks",
        "evidence"}  # hashed even when absent (schema 1.1): dropping it changes a digest
