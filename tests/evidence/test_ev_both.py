"""`--scorer both`: one pass, each evaluation recorded under letter then option (tiny model).

The records must be exactly those of the two single-scorer runs, a kill between
an evaluation's two records must resume into the same file, and a card built
from two such files reports the scorers' agreement.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from acceptance_cards.evidence.data.split import make_split
from acceptance_cards.evidence.eval.evaluate import evaluate, plan_jobs
from helpers import Interrupt, exit_code, interrupt_on_call


@pytest.fixture
def jobs(mmlu: Any, templates: Any) -> list[Any]:
    # 6 questions x 4 fresh templates: every template group fits one batch of either scorer
    split = make_split(mmlu, seed=0)
    return plan_jobs(mmlu.items, split, templates, task="sandbagging", which="fresh",
                     n_questions=6)


def test_both_writes_the_two_single_scorer_records_letter_first(tiny_lm: Any, jobs: list[Any],
                                                                tmp_path: Path) -> None:
    letter = evaluate(tiny_lm, jobs, scorer="letter", cell="c", seed=1)
    option = evaluate(tiny_lm, jobs, scorer="option", cell="c", seed=1)
    out = tmp_path / "both.jsonl"
    both = evaluate(tiny_lm, jobs, scorer="both", cell="c", seed=1, out=out)
    assert len(both) == 2 * len(jobs)
    # same decisions, validity and margins, field for field, as the separate runs
    assert both[0::2] == letter
    assert both[1::2] == option
    assert [json.loads(x) for x in out.read_text().splitlines()] == both
    meta = json.loads(out.with_name(out.name + ".meta.json").read_text())
    assert meta["scorer"] == "both"
    # the scorers disagree somewhere on a random model, so the check above has teeth
    assert any(a["answer"] != b["answer"] for a, b in zip(letter, option, strict=True))


def same_records(got: list[str], want: list[str]) -> None:
    """The same records in the same order; margins equal up to batch-shape float noise.

    A resumed run batches the remaining prompts differently (and may share a
    different template prefix), which moves fp32 margins in the last digits.
    """
    assert len(got) == len(want)
    for g, w in zip(map(json.loads, got), map(json.loads, want), strict=True):
        assert g.pop("margin") == pytest.approx(w.pop("margin"), abs=1e-4)
        assert g == w


def test_both_resumes_after_a_kill_between_the_two_records(tiny_lm: Any, jobs: list[Any],
                                                           tmp_path: Path) -> None:
    full_path = tmp_path / "full.jsonl"
    evaluate(tiny_lm, jobs, scorer="both", out=full_path)
    full = full_path.read_text().splitlines()
    meta = full_path.with_name("full.jsonl.meta.json")
    # cut after a letter record (odd count: its option record is missing), with and
    # without a torn line after it, and after a whole evaluation
    for cut, torn in ((1, ""), (7, '{"cell": "base", "to'), (10, ""), (len(full) - 1, "")):
        out = tmp_path / f"cut{cut}.jsonl"
        out.write_text("\n".join(full[:cut]) + "\n" + torn)
        shutil.copy(meta, out.with_name(out.name + ".meta.json"))
        seen: list[int] = []
        recs = evaluate(tiny_lm, jobs, scorer="both", out=out,
                        progress=lambda d, t, seen=seen: seen.append(d))
        assert seen[0] == cut // 2  # evaluations whose both records were written
        lines = out.read_text().splitlines()
        assert lines[:cut] == full[:cut]  # what was written stays as written
        assert [json.dumps(r) for r in recs] == lines
        same_records(lines, full)


def test_both_resumes_after_an_interrupted_group(tiny_lm: Any, jobs: list[Any],
                                                 tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    stop_after_first_group = interrupt_on_call(2)
    with pytest.raises(Interrupt):
        evaluate(tiny_lm, jobs, scorer="both", out=out, progress=stop_after_first_group)
    partial = out.read_text().splitlines()
    assert 0 < len(partial) < 2 * len(jobs)
    evaluate(tiny_lm, jobs, scorer="both", out=out)
    lines = out.read_text().splitlines()
    assert lines[: len(partial)] == partial
    same_records(lines, [json.dumps(r) for r in evaluate(tiny_lm, jobs, scorer="both")])


def test_a_both_file_does_not_resume_as_one_scorer(tiny_lm: Any, jobs: list[Any],
                                                   tmp_path: Path) -> None:
    from acceptance_cards._util.errors import InputError

    out = tmp_path / "r.jsonl"
    evaluate(tiny_lm, jobs[:2], scorer="both", out=out)
    with pytest.raises(InputError, match="another run"):
        evaluate(tiny_lm, jobs[:2], scorer="letter", out=out)


def test_acard_eval_both_puts_scorer_agreement_on_the_card(
        tiny_dir: Path, tiny_builder: Any, smol_tokenizer: Any, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    other = tiny_builder(tmp_path / "tiny2", smol_tokenizer, seed=1)
    files = {}
    for role, model in (("baseline", tiny_dir), ("defense", other)):
        files[role] = tmp_path / f"{role}.jsonl"
        assert exit_code(["eval", "-o", str(files[role]), "--model", str(model), "--scorer", "both",
                          "--split", "heldout", "--n-questions", "3", "--cell", f"{role}-s1",
                          "--seed", "1", "--dtype", "float32", "--device", "cpu"]) == 0
    assert "answer agreement (letter vs option)" in capsys.readouterr().out
    card_path, md = tmp_path / "card.json", tmp_path / "card.md"
    assert exit_code(["card", "-b", str(files["baseline"]), "-d", str(files["defense"]),
                      "-o", str(card_path), "--markdown", str(md), "--resamples", "200",
                      "--min-questions", "1"]) == 0
    card = json.loads(card_path.read_text())
    for cap, role in zip(card["capability"], ("baseline", "defense"), strict=True):
        recs = [json.loads(x) for x in files[role].read_text().splitlines()]
        assert [r["scorer"] for r in recs[:2]] == ["letter", "option"]
        letter = {(r["question_id"], r["template_id"]): r["answer"] for r in recs[0::2]}
        option = {(r["question_id"], r["template_id"]): r["answer"] for r in recs[1::2]}
        [agree] = cap["scorer_agreement"]
        assert agree["scorers"] == ["letter", "option"] and agree["basis"] == "answer"
        assert agree["n"] == len(letter) == 3 * 20
        assert agree["agreement"] == pytest.approx(
            sum(letter[k] == option[k] for k in letter) / len(letter))
    assert "letter vs option" in md.read_text()


def test_audit_eval_step_passes_scorer_both(tiny_dir: Path, mmlu: Any, tmp_path: Path) -> None:
    from acceptance_cards.audit.run.config import AuditConfig
    from acceptance_cards.audit.run.steps import RECORDS_FILE, evaluate_cell
    from acceptance_cards.evidence.data.split import save_split

    save_split(make_split(mmlu, seed=0), tmp_path / "split.json")
    cfg = AuditConfig.model_validate({
        "models": [{"name": "tiny", "spec": str(tiny_dir), "dtype": "float32"}],
        "recipes": [{"name": "attack-aware"}],
        "eval": {"scorer": "both", "n_fresh": 2, "fresh_templates": 1}})
    work = tmp_path / "step"
    work.mkdir()
    res = evaluate_cell(cfg, work, model=cfg.models[0], adapter=None,
                        split_file=tmp_path / "split.json", task="sandbagging",
                        split_name="fresh", cell="base", seed=42)
    recs = [json.loads(x) for x in (work / RECORDS_FILE).read_text().splitlines()]
    assert res["n_records"] == len(recs) == 2 * 2 * 2  # questions x templates x scorers
    assert [r["scorer"] for r in recs] == ["letter", "option"] * 4
    assert recs[0::2] == [dict(r, scorer="letter", answer=a["answer"], correct=a["correct"],
                               valid=a["valid"], margin=a["margin"], top_token=a["top_token"])
                          for r, a in zip(recs[1::2], recs[0::2], strict=True)]
