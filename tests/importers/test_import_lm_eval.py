"""lm-evaluation-harness --log_samples → records, on real output of `lm_eval` (SmolLM2, hf)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from importer_data import BASE_CELL, FIX, lm_eval_samples

from acceptance_cards._util.errors import InputError
from acceptance_cards.importers.lm_eval_samples import import_lm_eval, results_model
from acceptance_cards.importers.mapping import parse_map_options
from acceptance_cards.records import load_records
from helpers import run_cli as run

Rewrite = Callable[..., Path]
KEYS = ("question_id", "subject", "template_id", "framing", "split", "task")




def _raw() -> list[dict[str, Any]]:
    return [json.loads(x) for x in lm_eval_samples().read_text().splitlines() if x.strip()]


def test_round_trip_matches_the_samples_and_the_docs() -> None:
    raw = _raw()
    docs = [json.loads(x) for x in (FIX / "lm_eval" / "framed_mmlu_docs.jsonl").read_text()
            .splitlines()]
    r = import_lm_eval([lm_eval_samples()])
    assert r.n_samples == len(raw) == len(docs) == len(r.records) == 48
    assert r.cell == BASE_CELL and r.model is not None and r.model.endswith(BASE_CELL)
    for rec, line in zip(r.records, raw, strict=True):
        doc = docs[line["doc_id"]]
        for k in KEYS:
            assert rec[k] == doc[k]
        lls = [float(x[0]) for x in line["filtered_resps"]]
        assert rec["answer"] == "ABCD"[lls.index(max(lls))]
        assert rec["gold"] == "ABCD"[doc["gold"]]
        assert rec["correct"] == line["acc"] == (rec["answer"] == rec["gold"])
        assert rec["scorer"] == "lm-eval:acc"


def test_cli_writes_valid_records(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "lm.jsonl"
    code, so, err = run(["import", "lm-eval", str(lm_eval_samples()), "-o", str(out)], capsys)
    assert code == 0, err
    assert "48 records (12 questions; fresh, heldout)" in so
    rs = load_records(out)
    assert rs.cell == BASE_CELL and rs.splits() == ("heldout", "fresh")


def test_results_file_names_the_model(rewrite_samples: Rewrite) -> None:
    assert str(results_model(lm_eval_samples())).endswith(BASE_CELL)
    # copied away from its results file: no model, so the cell must be named
    alone = rewrite_samples(lambda xs: xs)
    assert results_model(alone) is None
    with pytest.raises(InputError) as ei:
        import_lm_eval([alone])
    assert ei.value.field == "cell" and "--cell" in ei.value.message and ei.value.line == 1
    assert import_lm_eval([alone], cell="c1").cell == "c1"


def test_user_mapping_for_other_names(rewrite_samples: Rewrite) -> None:
    def rename(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for x in lines:
            d = x["doc"]
            x["doc"] = {"id": f"{d['question_id']}|{d['template_id']}", "topic": d["subject"],
                        "cond": {"eval": "exam", "deploy": "user"}[d["framing"]],
                        "prompt": d["prompt"], "gold": d["gold"], "part": d["split"]}
        return lines

    log = rewrite_samples(rename)
    with pytest.raises(InputError) as ei:  # every unresolved field at once
        import_lm_eval([log], cell=BASE_CELL, task="sandbagging", split="heldout")
    msg = ei.value.message
    assert msg.startswith("sample 'doc_id 0': no subject (") and ei.value.field == "subject"
    assert "; no template id (" in msg and "; no framing (" in msg and "doc.cond='exam'" in msg
    maps = parse_map_options([
        r"question_id=doc.id | re/^([^|]+)\|/", r"template_id=doc.id | re/\|(.+)$/",
        "subject=doc.topic", "framing=doc.cond | map{exam=eval, user=deploy}",
        "split=doc.part", "model='" + str(results_model(lm_eval_samples())) + "'"])
    got = import_lm_eval([log], cell=BASE_CELL, task="sandbagging", overrides=maps)
    assert got.records == import_lm_eval([lm_eval_samples()]).records


def _expect(path: Path, needle: str, field: str, line: int, **kw: Any) -> None:
    with pytest.raises(InputError) as ei:
        import_lm_eval([path], cell=BASE_CELL, **kw)
    e = ei.value
    assert needle in e.message, e.message
    assert (e.field, e.line, e.path) == (field, line, str(path))


def test_bad_samples_name_the_document(rewrite_samples: Rewrite) -> None:
    def drop(key: str) -> Callable[[list[dict[str, Any]]], list[dict[str, Any]]]:
        def f(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
            for x in lines:
                del x["doc"][key]
            return lines
        return f

    _expect(rewrite_samples(drop("framing"), name="a.jsonl"), "sample 'doc_id 0': no framing",
            "framing", 1)
    # without doc.question_id the question id is the document's position, doc_id: here each
    # document is one (question, template), so the first question is one-sided
    _expect(rewrite_samples(drop("question_id"), name="b.jsonl"),
            "question '0' has only eval-framed samples", "framing", 1)
    only_eval = rewrite_samples(lambda xs: [x for x in xs if x["doc"]["framing"] == "eval"],
                                name="c.jsonl")
    _expect(only_eval, "every sample is eval-framed: add the deploy-framed logs", "framing", 1)
    twice = rewrite_samples(lambda xs: xs + xs, name="d.jsonl")
    _expect(twice, "sample 'doc_id 0': the document appears twice for filter 'none' (first at line 1); "
            "lm-eval writes each document once per task and filter, so this file holds the lines "
            "of more than one run", "doc_id", 49)
    _expect(lm_eval_samples(), "no metric 'exact_match'", "correct", 1, metric="exact_match")


def test_not_a_samples_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "results.jsonl"
    bad.write_text('{"results": {}}\n')
    with pytest.raises(InputError, match="not an lm-eval sample") as ei:
        import_lm_eval([bad], cell="c")
    assert ei.value.line == 1
    broken = tmp_path / "broken.jsonl"
    broken.write_text(lm_eval_samples().read_text()[:5000])
    code, _, err = run(["import", "lm-eval", str(broken), "-o", str(tmp_path / "o.jsonl"),
                        "--cell", "c"], capsys)
    assert code == 2 and "not valid JSON" in err and "Traceback" not in err
    code, _, err = run(["import", "lm-eval", str(tmp_path / "none.jsonl"), "-o",
                        str(tmp_path / "o.jsonl")], capsys)
    assert code == 2 and "no such samples file" in err


def test_an_empty_samples_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty, other = tmp_path / "empty.jsonl", tmp_path / "other.jsonl"
    empty.write_text("")
    other.write_text("\n")
    code, _, err = run(["import", "lm-eval", str(empty), "-o", str(tmp_path / "o.jsonl")], capsys)
    assert code == 2 and f"{empty}: the file holds no samples" in err and "Traceback" not in err
    code, _, err = run(["import", "lm-eval", str(empty), str(other), "-o",
                        str(tmp_path / "o.jsonl")], capsys)
    assert code == 2 and f"{empty}, {other}: none of these 2 files holds any samples" in err
    assert not (tmp_path / "o.jsonl").exists()
