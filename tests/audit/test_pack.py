"""`acard results pack`: an audit's evidence packed small, and every packed card verifies.

The simulated audit here has the layout `acard audit` writes: record files and
mechanism files in a store beside ``cards/`` (the cards record them by relative
path and sha256; the baseline is shared by two cells, as in a real audit), then
the usual outputs from :func:`write_outputs`. A last, slow test packs a real
audit on a tiny model.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from acceptance_cards.audit.cells import CellResult
from acceptance_cards.audit.report.outputs import write_outputs
from acceptance_cards.audit.report.pack import MANIFEST, deterministic_gzip, pack_audit
from acceptance_cards.card.build import build_card_from_files
from acceptance_cards.card.metadata import CardMetadata
from acceptance_cards.card.model import CardOptions, load_card
from acceptance_cards.mechanism import save_mechanism
from acceptance_cards.records import load_records
from acceptance_cards.synthetic import SCENARIOS, example_mechanism, simulate_rows
from helpers import run_cli, write_jsonl

CELLS = (("ac-adamw-s42", "reduction", "shrinkage"), ("safelora-s42", "null", "attack-targeted"),
         ("gated-s42", "heldout-only", "undefined"))


def _cell(out: Path, name: str, scenario: str, mech_kind: str) -> CellResult:
    store = out / "artifacts"
    rb, rd = simulate_rows(seed=42, scenario=SCENARIOS[scenario], n_heldout=24, n_fresh=60,
                           baseline_cell="adamw-s42", defense_cell=name)
    rb, _ = simulate_rows(seed=42, scenario=SCENARIOS["null"], n_heldout=24, n_fresh=60,
                          baseline_cell="adamw-s42")  # one baseline, shared as in an audit
    xb, xd = simulate_rows(seed=7, scenario=SCENARIOS["floor"], task="sycophancy", n_heldout=0,
                           n_fresh=60, baseline_cell="adamw-s42", defense_cell=name)
    (store / "merged").mkdir(parents=True, exist_ok=True)
    files = {role: write_jsonl(store / "merged" / f"{role}-{name}.jsonl", rows)
             for role, rows in (("defense", rd), ("cross_defense", xd))}
    files["baseline"] = write_jsonl(store / "merged" / "baseline.jsonl", rb)
    files["cross_baseline"] = write_jsonl(store / "merged" / "cross-baseline.jsonl", xb)
    (store / name).mkdir()
    save_mechanism(example_mechanism(mech_kind), store / name / "mechanism.json")
    card = build_card_from_files(
        files["baseline"], files["defense"], cross_baseline=files["cross_baseline"],
        cross_defense=files["cross_defense"], mechanism=store / name / "mechanism.json",
        options=CardOptions(seed=42, n_resamples=300, claimed_class="attack-targeted"),
        metadata=CardMetadata(title=f"{name} vs adamw", recipe={"name": name.rsplit("-", 1)[0]},
                              compute={"device": "cpu", "training_time_s": 1.5}),
        relative_to=out / "cards")
    return CellResult(name=f"synthetic/{name}", model="synthetic", recipe=name.rsplit("-", 1)[0],
                      seed=42, task="sandbagging", card=card,
                      baseline=load_records(files["baseline"]),
                      defense=load_records(files["defense"]),
                      cross_baseline=load_records(files["cross_baseline"]),
                      cross_defense=load_records(files["cross_defense"]),
                      mechanism=example_mechanism(mech_kind))


def simulated_audit(out: Path) -> Path:
    """A three-cell simulated audit output folder (plus the positive control)."""
    write_outputs([_cell(out, *c) for c in CELLS], out)
    (out / "timings.json").write_text('{"synthetic/ac-adamw-s42": {"steps": {}}}\n')
    return out


@pytest.fixture(scope="module")
def audit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simulated_audit(tmp_path_factory.mktemp("audit") / "out")


@pytest.fixture(scope="module")
def packed(audit: Path) -> Path:
    results = audit.parent / "results"
    pack_audit(audit, results)
    return results


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _verify_all(results: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    cards = sorted(str(p) for p in (results / "cards").glob("*.json"))
    code, out, _ = run_cli(["verify", *cards], capsys)
    return code, out


def test_pack_writes_a_verifiable_folder(audit: Path, packed: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    tree = _tree(packed)
    cards = sorted(n for n in tree if n.startswith("cards/") and n.endswith(".json"))
    assert [Path(c).stem for c in cards] == sorted(p.stem for p in (audit / "cards").glob("*.json"))
    assert all(c.replace(".json", ".md") in tree for c in cards)
    for name in ("matrix.csv", "matrix.md", "filter.csv", "filter.md", "timings.json", MANIFEST):
        assert name in tree, name
    assert any(n.startswith("figures/") for n in tree) and any(n.startswith("sensitivity/") for n in tree)
    assert not any(n.startswith("artifacts/") or n.endswith(".html") for n in tree)
    # the cards read the packed files only: each input path stays inside the results folder
    for c in cards:
        for inp in load_card(packed / c).provenance.inputs:
            target = (packed / "cards" / inp.path).resolve()
            assert target.is_relative_to(packed.resolve()) and target.is_file(), inp.path
            if inp.role != "mechanism":
                assert inp.path.endswith(".jsonl.gz")
    # the shared baseline (and cross baseline) is stored once: 3 cells + control → 2 + 3·2 + 4
    assert sum(n.startswith("evidence/records/") for n in tree) == 2 + 3 * 2 + 4
    code, out = _verify_all(packed, capsys)
    assert code == 0, out
    assert out.count("verified: the card matches its inputs") == len(cards)


def test_packed_cards_equal_the_audit_cards_but_for_input_paths(audit: Path, packed: Path) -> None:
    for src in sorted((audit / "cards").glob("*.json")):
        a = json.loads(src.read_text())
        b = json.loads((packed / "cards" / src.name).read_text())
        assert [i["role"] for i in a["provenance"].pop("inputs")] == \
            [i["role"] for i in b["provenance"].pop("inputs")]
        assert a == b, src.name
    for name in ("matrix.csv", "filter.md", "timings.json"):
        assert (packed / name).read_bytes() == (audit / name).read_bytes()


def test_manifest_lists_every_file_with_size_and_hash(packed: Path) -> None:
    import hashlib

    man = json.loads((packed / MANIFEST).read_text())
    tree = _tree(packed)
    listed = {f["path"]: f for f in man["files"]}
    assert set(listed) == set(tree) - {MANIFEST}
    for path, f in listed.items():
        assert f["bytes"] == len(tree[path])
        assert f["sha256"] == hashlib.sha256(tree[path]).hexdigest()
    assert man["total_bytes"] == sum(f["bytes"] for f in man["files"])
    assert man["tool_version"] and man["audit_config"] is None


def test_repacking_gives_identical_bytes(audit: Path, packed: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    pack_audit(audit, again)
    assert _tree(again) == _tree(packed)
    pack_audit(audit, again)  # into an earlier pack: replaced, still identical
    assert _tree(again) == _tree(packed)
    assert deterministic_gzip(b"abc")[4:8] == b"\0\0\0\0"  # mtime 0 in the gzip header
    assert gzip.decompress(deterministic_gzip(b"abc" * 1000)) == b"abc" * 1000


def test_packing_a_packed_folder_gives_it_back(packed: Path, tmp_path: Path) -> None:
    pack_audit(packed, tmp_path / "twice")  # the cards read the packed files; nothing changes
    assert _tree(tmp_path / "twice") == _tree(packed)


def test_edited_packed_record_fails_verify(packed: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(packed, copy)
    card = copy / "cards" / "synthetic-ac-adamw-s42.json"
    defense = next(i for i in load_card(card).provenance.inputs if i.role == "defense")
    target = copy / "cards" / defense.path
    rows = [json.loads(line) for line in gzip.decompress(target.read_bytes()).splitlines()]
    rows[0]["correct"] = 1 - rows[0]["correct"]
    target.write_bytes(deterministic_gzip("".join(json.dumps(r) + "\n" for r in rows).encode()))
    code, out, _ = run_cli(["verify", str(card)], capsys)
    assert code == 1
    assert "CHANGED" in out and "NOT verified" in out
    code, out = _verify_all(copy, capsys)  # the other cards still verify; the run fails
    assert code == 1 and out.count("verified: the card matches") == len(list(
        (copy / "cards").glob("*.json"))) - 1


def test_packed_folder_is_smaller_than_the_raw_output(audit: Path, packed: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    def size(root: Path) -> int:
        return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())

    assert size(packed) < size(audit)
    records = sum(p.stat().st_size for p in (packed / "evidence" / "records").iterdir())
    raw = sum(p.stat().st_size for p in (audit / "artifacts" / "merged").iterdir())
    assert records < raw / 3  # gzip + one copy of the shared baseline
    code, out, _ = run_cli(["results", "sizes", str(packed)], capsys)
    assert code == 0
    assert {line.split()[0] for line in out.splitlines()} >= {
        "card", "records", "mechanism", "figure", "sensitivity", "table", "manifest", "total"}
    code, out, _ = run_cli(["results", "sizes", str(packed), "--budget-mb", "0.001"], capsys)
    assert code == 1 and "over budget" in out


def test_cli_pack_then_verify(audit: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = tmp_path / "r"
    code, out, err = run_cli(["results", "pack", str(audit), str(results)], capsys)
    assert code == 0, err
    assert "into" in out and "records" in out
    code, out = _verify_all(results, capsys)
    assert code == 0, out


@pytest.mark.parametrize("case", ["not-audit", "missing-input", "changed-input", "no-inputs",
                                  "not-a-pack"])
def test_bad_inputs_name_the_file_and_write_nothing(audit: Path, tmp_path: Path, case: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    src = tmp_path / "audit"
    shutil.copytree(audit, src)
    results = tmp_path / "results"
    card = src / "cards" / "synthetic-safelora-s42.json"
    expect = "provenance.inputs"
    if case == "not-audit":
        (src / "matrix.csv").unlink()
        expect = "matrix.csv"
    elif case in ("missing-input", "changed-input"):
        path = card.parent / load_card(card).provenance.inputs[1].path
        if case == "missing-input":
            path.unlink()
            expect = "provenance.inputs[1].path"
        else:
            path.write_text(path.read_text() + "\n")
            expect = "provenance.inputs[1].sha256"
    elif case == "no-inputs":
        raw = json.loads(card.read_text())
        raw["provenance"]["inputs"] = []
        card.write_text(json.dumps(raw))
    else:
        results.mkdir()
        (results / "keep.txt").write_text("mine")
        expect = "not a packed results folder"
    code, _, err = run_cli(["results", "pack", str(src), str(results)], capsys)
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err and expect in err, err
    if case != "not-audit":
        assert (str(card) in err) == (case not in ("not-a-pack",)), err
    kept = {"keep.txt"} if case == "not-a-pack" else set()
    assert set(_tree(results)) == kept if results.exists() else not kept


def test_a_card_that_does_not_rebuild_identically_fails_naming_the_field(
        audit: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    src = tmp_path / "audit"
    shutil.copytree(audit, src)
    card = src / "cards" / "synthetic-gated-s42.json"
    raw = json.loads(card.read_text())
    raw["defense_gap"]["rate_eval"] += 0.01  # a number the records do not give
    card.write_text(json.dumps(raw))
    code, _, err = run_cli(["results", "pack", str(src), str(tmp_path / "r")], capsys)
    assert code == 2 and "defense_gap.rate_eval" in err and str(card) in err, err
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_tiny_model_audit_packs_and_verifies(tmp_path: Path) -> None:
    """A real audit (tiny random model; training, evaluation, gradients) packed and verified."""
    pytest.importorskip("torch")
    pytest.importorskip("peft")
    from tiny_audit import CONFIG

    from acceptance_cards.evidence.models.loading import load_tokenizer
    from tiny_models import build_tiny

    cfg = tmp_path / "audit.toml"
    cfg.write_text(CONFIG.format(model=build_tiny(tmp_path / "tiny", load_tokenizer("smollm2"))))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def acard(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "acceptance_cards", *args], env=env,
                              capture_output=True, text=True, timeout=1200)

    r = acard("audit", str(cfg), "-o", str(tmp_path / "out"), "--progress", "plain")
    assert r.returncode == 0, r.stderr[-3000:]
    r = acard("results", "pack", str(tmp_path / "out"), str(tmp_path / "res"), "--config", str(cfg))
    assert r.returncode == 0, r.stderr[-3000:]
    man = json.loads((tmp_path / "res" / MANIFEST).read_text())
    assert man["audit_config"]["canonical_sha256"] and (tmp_path / "res" / "audit-config.toml").is_file()
    cards = sorted(str(p) for p in (tmp_path / "res" / "cards").glob("*.json"))
    r = acard("verify", *cards)
    assert r.returncode == 0, r.stdout[-3000:]
    assert r.stdout.count("verified: the card matches its inputs") == len(cards) == 2
    print(acard("results", "sizes", str(tmp_path / "res")).stdout)
    # a results folder is committed and shared: no file in it names where the audit ran
    for f in (tmp_path / "res").rglob("*"):
        if f.is_file():
            data = gzip.decompress(f.read_bytes()) if f.suffix == ".gz" else f.read_bytes()
            assert str(tmp_path / "out").encode() not in data, f


def test_config_whose_cells_have_no_card_is_refused(audit: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "audit.toml"
    cfg.write_text('[audit]\nname = "other"\nseeds = [1]\n\n[[models]]\nname = "tiny"\n'
                   'spec = "no-such-model"\n\n[[recipes]]\nname = "attack-aware"\n'
                   'claimed_class = "attack-targeted"\n')
    code, _, err = run_cli(["results", "pack", str(audit), str(tmp_path / "r"), "--config",
                            str(cfg)], capsys)
    assert code == 2 and str(cfg) in err and "tiny/attack-aware/s1" in err and "`cells`" in err, err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("name", ["matrix.csv", "filter.md"])
def test_an_edited_matrix_or_filter_is_refused_naming_the_file(
        audit: Path, tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The tables are regenerated from the rebuilt cards and compared, not byte-copied unchecked."""
    import shutil

    src = tmp_path / "out"
    shutil.copytree(audit, src)
    lines = (src / name).read_text().splitlines(keepends=True)
    lines[-1] = lines[-1].rstrip("\n") + " edited\n"
    (src / name).write_text("".join(lines))
    code, _, err = run_cli(["results", "pack", str(src), str(tmp_path / "r")], capsys)
    assert code == 2 and str(src / name) in err and "Traceback" not in err, err
    assert not (tmp_path / "r").exists()
