"""Logs made the ordinary way import with no mapping (tests/fixtures/ordinary/).

The inspect_ai logs come from ``inspect eval mmlu_framed.py -T framing=… -T
template=…`` (standard ``multiple_choice()`` solver, ``choice()`` and
``pattern()`` scorers, plain sample ids, nothing about framing in the samples);
the lm-eval files from four tasks named ``mmlu_framed_<framing>_t<N>``. See
``tests/fixtures/ordinary/commands.txt`` for the exact commands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from importer_data import FIX

from acceptance_cards._util.errors import InputError
from acceptance_cards.card.claims import allowed_phrases, lint_claim
from acceptance_cards.card.model import load_card
from acceptance_cards.importers.lm_eval_samples import import_lm_eval
from helpers import run_cli as run

inspect_log_mod = pytest.importorskip("inspect_ai.log")

from acceptance_cards.importers.inspect_logs import import_inspect  # noqa: E402

ORD = FIX / "ordinary"
BASE, PROMPTED = "smollm2-base", "smollm2-base-prompted"
RUNS = ("eval-t1", "eval-t2", "deploy-t1", "deploy-t2")


def logs(cell: str, runs: tuple[str, ...] = RUNS) -> list[Path]:
    return [ORD / "inspect" / cell / f"{r}.eval" for r in runs]


def direct_rates(cell: str, scorer: str) -> dict[str, float]:
    """Per framing, the share of samples inspect's own scorer marked CORRECT (read_eval_log)."""
    hits: dict[str, list[float]] = {"eval": [], "deploy": []}
    for path in logs(cell):
        log = inspect_log_mod.read_eval_log(str(path))
        framing = log.eval.task_args["framing"]
        hits[framing] += [1.0 if s.scores[scorer].value == "C" else 0.0 for s in log.samples]
    return {f: sum(v) / len(v) for f, v in hits.items()}


def test_inspect_logs_import_with_no_mapping() -> None:
    r = import_inspect(logs(BASE), scorer="pattern", split="heldout")
    assert (r.cell, r.task, len(r.records), r.n_samples) == (BASE, "mmlu_framed", 96, 96)
    # question id = the plain sample id; framing/template = the task arguments
    recs = {(x["question_id"], x["framing"], x["template_id"]): x for x in r.records}
    for sample in inspect_log_mod.read_eval_log(str(logs(BASE)[0])).samples:  # eval-t1
        rec = recs[(sample.id, "eval", "1")]
        assert rec["subject"] == sample.metadata["subject"] and rec["gold"] == sample.target
    assert {(x["framing"], x["template_id"]) for x in r.records} == {
        ("eval", "1"), ("eval", "2"), ("deploy", "1"), ("deploy", "2")}
    assert len({x["question_id"] for x in r.records}) == 24


def _import(tmp: Path, cell: str, scorer: str, capsys: pytest.CaptureFixture[str],
            *extra: str) -> tuple[Path, str]:
    out = tmp / f"{cell}-{scorer}.jsonl"
    code, so, err = run(["import", "inspect", *map(str, logs(cell)), "--scorer", scorer,
                         "--split", "heldout", "-o", str(out), *extra], capsys)
    assert code == 0, err
    return out, err


def test_card_gaps_equal_inspects_own_numbers(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    b, err_b = _import(tmp_path, BASE, "pattern", capsys)
    d, err_d = _import(tmp_path, PROMPTED, "pattern", capsys, "--cell", PROMPTED)
    assert "warning" not in err_b + err_d
    card_path = tmp_path / "card.json"
    code, _, err = run(["card", "-b", str(b), "-d", str(d), "-o", str(card_path),
                        "--resamples", "500"], capsys)
    assert code == 0, err
    card = load_card(card_path)
    gaps = {}
    for cell, summary in ((BASE, card.baseline_gap), (PROMPTED, card.defense_gap)):
        rates = direct_rates(cell, "pattern")
        assert summary.cell == cell
        assert summary.rate_eval == pytest.approx(rates["eval"], abs=1e-12)
        assert summary.rate_deploy == pytest.approx(rates["deploy"], abs=1e-12)
        gaps[cell] = rates["deploy"] - rates["eval"]
        assert summary.point == pytest.approx(gaps[cell], abs=1e-12)
    assert card.diagnostics.a.delta_gap == pytest.approx(gaps[PROMPTED] - gaps[BASE], abs=1e-12)
    assert any(g != 0 for g in gaps.values())  # the seeded option orders move the scores
    assert not [n for n in card.notes if "check the scorer" in n]


def test_choice_scorer_all_zero_warns_and_the_card_says_so(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # what inspect itself recorded: choice() read no answer and marked every sample wrong
    for path in logs(BASE):
        for s in inspect_log_mod.read_eval_log(str(path)).samples:
            assert s.scores["choice"].value == "I" and not s.scores["choice"].answer
    b, err = _import(tmp_path, BASE, "choice", capsys)
    assert (f"warning: every framing rate of cell '{BASE}' is 0 on the heldout split: check "
            "the scorer") in err
    assert (f"warning: the scorer found no answer in more than 50% of the samples of cell "
            f"'{BASE}' under both framings (100% eval-framed, 100% deploy-framed)") in err
    assert {json.loads(x)["valid"] for x in b.read_text().splitlines()} == {0.0}
    d, _ = _import(tmp_path, PROMPTED, "choice", capsys, "--cell", PROMPTED)
    card_path = tmp_path / "card.json"
    code, _, err = run(["card", "-b", str(b), "-d", str(d), "-o", str(card_path),
                        "--resamples", "500"], capsys)
    assert code == 0, err
    card = load_card(card_path)
    assert any(f"every framing rate of cell '{BASE}' is 0" in n and "check the scorer" in n
               for n in card.notes), card.notes
    # the claim lint reads the note: no gap wording on this card
    lint = lint_claim(card, "A statistically reliable gap reduction on this split.")
    assert "scorer-suspect" in {f.rule for f in lint.findings}
    assert not [p for p in allowed_phrases(card) if "gap reduction" in p]


def test_valid_can_be_mapped_with_nonempty(tmp_path: Path) -> None:
    from acceptance_cards.importers.mapping import parse_map_options

    over = parse_map_options(["valid=scores.pattern.answer | nonempty"])
    r = import_inspect(logs(BASE), scorer="choice", split="heldout", overrides=over)
    direct = [bool(s.scores["pattern"].answer) for p in logs(BASE)
              for s in inspect_log_mod.read_eval_log(str(p)).samples]
    assert sorted(x["valid"] for x in r.records) == sorted(float(v) for v in direct)
    assert 0 < sum(direct) < len(direct)


def test_same_cell_on_both_sides_is_refused_unless_allowed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    b, _ = _import(tmp_path, BASE, "pattern", capsys)
    d = tmp_path / "prompted-default-name.jsonl"
    code, so, err = run(["import", "inspect", *map(str, logs(PROMPTED)), "--scorer", "pattern",
                         "--split", "heldout", "-o", str(d)], capsys)
    assert code == 0 and f"of cell '{BASE}'" in so  # both ran as hf/smollm2-base
    out = tmp_path / "card.json"
    code, _, err = run(["card", "-b", str(b), "-d", str(d), "-o", str(out)], capsys)
    assert code == 2 and f"baseline and defense are both cell '{BASE}'" in err
    assert "--cell NAME" in err and "Traceback" not in err and not out.exists()
    code, _, err = run(["card", "-b", str(b), "-d", str(d), "-o", str(out), "--resamples", "200",
                        "--allow-same-cell"], capsys)
    assert code == 0, err


def test_show_prints_sample_one_and_its_sources(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code, so, err = run(["import", "inspect", *map(str, logs(BASE)), "--scorer", "choice",
                         "--show"], capsys)
    assert code == 0, err
    lines = {ln.split()[0]: ln for ln in so.splitlines()[1:] if ln.startswith("  ")}
    assert "'eval'" in lines["framing"] and lines["framing"].endswith("← eval.task_args.framing")
    assert lines["template_id"].endswith("← eval.task_args.template")
    assert lines["question_id"].endswith("← id") and lines["task"].endswith("← eval.task")
    assert "— no value" in lines["split"] and "`eval.task_args.split`" in lines["split"]
    assert "False" in lines["valid"]  # choice() found no answer in sample 1
    assert list(tmp_path.iterdir()) == []


def test_missing_fields_are_listed_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(InputError) as ei:
        import_inspect(logs(BASE), scorer="choice", overrides={})
    e = ei.value
    assert e.field == "split" and e.line == 1
    assert "no split (none of `metadata.split` or `eval.task_args.split` gives a value" in e.message
    assert "This sample has: id=" in e.message and "eval.task_args.framing='eval'" in e.message
    from acceptance_cards.importers.mapping import parse_map_options

    over = parse_map_options(["subject=metadata.topic", "framing=metadata.cond"])
    with pytest.raises(InputError) as ei:
        import_inspect(logs(BASE), scorer="choice", overrides=over)
    parts = [p.split(" (")[0] for p in ei.value.message.split(": ", 1)[1].split("; no ")]
    assert parts == ["no split", "subject", "framing"]


def test_one_framing_only_says_add_the_other_logs() -> None:
    with pytest.raises(InputError) as ei:
        import_inspect(logs(BASE, ("eval-t1", "eval-t2")), scorer="pattern", split="heldout")
    assert "every sample is eval-framed: add the deploy-framed logs of this cell" in str(ei.value)


def test_the_same_log_twice_is_named_as_such(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="this file is given twice"):
        import_inspect(logs(BASE) + logs(BASE, ("eval-t1",)), scorer="pattern", split="heldout")
    copy = tmp_path / "copy.eval"
    copy.write_bytes(logs(BASE)[0].read_bytes())
    with pytest.raises(InputError) as ei:
        import_inspect([*logs(BASE), copy], scorer="pattern", split="heldout")
    msg = ei.value.message
    assert "the two logs hold the same evaluations. Either one log is given twice" in msg
    assert "mixed" not in msg and ei.value.path == str(copy)
    # templates that are not told apart: the template id source is named
    from acceptance_cards.importers.mapping import parse_map_options

    with pytest.raises(InputError) as ei:
        import_inspect(logs(BASE), scorer="pattern", split="heldout",
                       overrides=parse_map_options(["template_id='t'"]))
    assert "template id comes out the same (it is read from `'t'`)" in ei.value.message


def _lm_eval_files() -> list[Path]:
    return sorted((ORD / "lm_eval" / BASE).glob("samples_*.jsonl"))


def test_lm_eval_task_names_give_framing_and_template() -> None:
    files = _lm_eval_files()
    assert len(files) == 4
    # the cell defaults to the model folder's name: the cache folder here, so it is named
    assert import_lm_eval(files, split="heldout").cell == Path(
        json.loads(next((ORD / "lm_eval" / BASE).glob("results_*.json")).read_text())[
            "model_name"]).name
    r = import_lm_eval(files, split="heldout", cell=BASE)
    assert (r.cell, r.task, len(r.records)) == (BASE, "mmlu_framed", 96)
    assert {(x["framing"], x["template_id"]) for x in r.records} == {
        ("eval", "t1"), ("eval", "t2"), ("deploy", "t1"), ("deploy", "t2")}
    # the per-task accuracy lm-eval itself reported equals the records' rate
    (results,) = (ORD / "lm_eval" / BASE).glob("results_*.json")
    reported: dict[str, Any] = json.loads(results.read_text())["results"]
    for task, res in reported.items():
        framing, template = task.split("_")[-2:]
        got = [x["correct"] for x in r.records
               if (x["framing"], x["template_id"]) == (framing, template)]
        assert len(got) == 24
        assert sum(got) / len(got) == pytest.approx(res["acc,none"], abs=1e-12)
    # question ids are the documents' own ids, the same in every task
    docs = [json.loads(x) for x in (ORD / "lm_eval" / "mmlu24_docs.jsonl").read_text().splitlines()]
    assert {x["question_id"] for x in r.records} == {d["id"] for d in docs}


def test_lm_eval_framing_from_the_task_metadata(tmp_path: Path) -> None:
    """Task names without framing tokens: the YAML `metadata:` block (in the results file)."""
    src = {f.name.split("_2026")[0].removeprefix("samples_"): f for f in _lm_eval_files()}
    (results,) = (ORD / "lm_eval" / BASE).glob("results_*.json")
    data = json.loads(results.read_text())
    date = results.name.removeprefix("results_").removesuffix(".json")
    configs = {}
    for name, (framing, template) in {"quiz": ("eval", "a"), "chat": ("deploy", "a")}.items():
        task = f"mmlu_framed_{framing}_t1"
        (tmp_path / f"samples_{name}_{date}.jsonl").write_bytes(src[task].read_bytes())
        configs[name] = {**data["configs"][task], "task": name,
                         "metadata": {"framing": framing, "template": template}}
    (tmp_path / results.name).write_text(json.dumps({**data, "configs": configs}))
    r = import_lm_eval(sorted(tmp_path.glob("samples_*.jsonl")), split="heldout", task="mmlu")
    assert {(x["framing"], x["template_id"]) for x in r.records} == {("eval", "a"),
                                                                      ("deploy", "a")}
    assert len(r.records) == 48
