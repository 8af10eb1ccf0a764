"""Records, resume after interruption, provenance checks (tiny model)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from acceptance_cards._util.errors import InputError
from acceptance_cards.evidence.data.split import make_split
from acceptance_cards.evidence.eval.evaluate import evaluate, plan_jobs
from acceptance_cards.evidence.eval.summary import summarize
from helpers import Interrupt, interrupt_on_call

SPEC_FIELDS = {"cell", "task", "split", "question_id", "subject", "template_id", "framing",
               "correct", "answer", "gold", "valid", "scorer", "seed", "model"}


@pytest.fixture
def jobs(mmlu: Any, templates: Any) -> list[Any]:
    split = make_split(mmlu, seed=0)
    return plan_jobs(mmlu.items, split, templates, task="sandbagging", which="fresh",
                     n_questions=6)


def test_records_are_well_formed(tiny_lm: Any, jobs: list[Any], tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    recs = evaluate(tiny_lm, jobs, cell="adamw-s42", seed=42, out=out)
    assert len(recs) == 6 * 4
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert sorted(map(json.dumps, lines)) == sorted(map(json.dumps, recs))
    for r in recs:
        assert set(r) >= SPEC_FIELDS
        assert r["correct"] in (0, 1) and r["split"] == "fresh" and r["seed"] == 42
        assert r["framing"] in ("eval", "deploy") and r["answer"] in "ABCD"
        assert r["question_id"].startswith(f"mmlu-{r['subject']}-")
    rows = summarize(recs)
    assert {(s.framing, s.n) for s in rows} == {("eval", 12), ("deploy", 12)}
    meta = json.loads((tmp_path / "r.jsonl.meta.json").read_text())
    assert meta["model_hash"] == tiny_lm.content_hash


def test_interrupted_run_resumes(tiny_lm: Any, jobs: list[Any], tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    stop_after_first_group = interrupt_on_call(2)
    with pytest.raises(Interrupt):
        evaluate(tiny_lm, jobs, out=out, progress=stop_after_first_group)
    partial = out.read_text().splitlines()
    assert 0 < len(partial) < len(jobs)
    with open(out, "a") as fh:
        fh.write('{"cell": "base", "torn')  # a crash mid-line
    seen: list[int] = []
    recs = evaluate(tiny_lm, jobs, out=out, progress=lambda d, t: seen.append(d))
    assert seen[0] == len(partial)  # started where it stopped
    lines = out.read_text().splitlines()
    assert len(lines) == len(jobs) == len(recs)
    assert lines[: len(partial)] == partial
    fresh = evaluate(tiny_lm, jobs)
    assert [(r["question_id"], r["template_id"], r["answer"]) for r in recs] == [
        (r["question_id"], r["template_id"], r["answer"]) for r in fresh]


def test_resume_refuses_another_run(tiny_lm: Any, jobs: list[Any], tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    evaluate(tiny_lm, jobs[:2], out=out, scorer="letter")
    with pytest.raises(InputError, match="another run"):
        evaluate(tiny_lm, jobs[:2], out=out, scorer="option")


@pytest.mark.parametrize("key, other", [("dtype", "bfloat16"), ("device", "cuda:0")])
def test_resume_refuses_another_dtype_or_device_type(tiny_lm: Any, jobs: list[Any], tmp_path: Path,
                                                     key: str, other: str) -> None:
    out = tmp_path / "r.jsonl"
    evaluate(tiny_lm, jobs[:2], out=out)
    meta_file = tmp_path / "r.jsonl.meta.json"
    meta = json.loads(meta_file.read_text())
    assert meta["dtype"] == tiny_lm.dtype and meta["device"] == "cpu"
    meta_file.write_text(json.dumps(meta | {key: other}))  # as written on another host
    before = out.read_bytes()
    with pytest.raises(InputError, match="another run") as info:
        evaluate(tiny_lm, jobs, out=out)
    assert info.value.field == key and info.value.path == str(out)
    assert out.read_bytes() == before  # nothing appended, nothing lost


def test_resume_accepts_another_card_of_the_same_type(tiny_lm: Any, jobs: list[Any],
                                                      tmp_path: Path) -> None:
    from acceptance_cards.evidence.eval.evaluate import _check_meta

    out = tmp_path / "r.jsonl"
    out.write_text('{"x": 1}\n')
    _check_meta(out, {"dtype": "bfloat16", "device": "cuda:0"})
    _check_meta(out, {"dtype": "bfloat16", "device": "cuda:1"})  # same type: fine
    with pytest.raises(InputError) as info:
        _check_meta(out, {"dtype": "bfloat16", "device": "cpu"})
    assert info.value.field == "device"


def test_bad_scorer(tiny_lm: Any, jobs: list[Any]) -> None:
    with pytest.raises(InputError, match="unknown scorer"):
        evaluate(tiny_lm, jobs, scorer="judge")


def test_batches_cover_every_row_once_within_limits() -> None:
    from acceptance_cards.evidence.eval.evaluate import _batches

    lengths = [30, 31, 32, 100, 101, 250, 40, 41, 33, 400]
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches = _batches(order, lengths, budget=420, max_batch=3)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        assert len(b) <= 3 and (len(b) == 1 or len(b) * max(lengths[i] for i in b) <= 420)
    # short rows are not padded to the long ones
    assert all(max(lengths[i] for i in b) < 100 for b in batches if min(lengths[i] for i in b) < 50)
