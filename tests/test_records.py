"""Record loading and validation: every bad input names file, line and field."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from acceptance_cards._util.errors import InputError
from acceptance_cards.clusters import paired_table
from acceptance_cards.records import load_records
from acceptance_cards.synthetic import simulate_rows
from helpers import row, write_jsonl


def _pair_rows(q: str = "q1", **kw: object) -> list[dict[str, object]]:
    return [row(question_id=q, framing="eval", template_id="e1", **kw),
            row(question_id=q, framing="deploy", template_id="d1", **kw)]


def test_jsonl_csv_parquet_load_identically(tmp_path: Path) -> None:
    rows, _ = simulate_rows(seed=3, n_heldout=5, n_fresh=4)
    j = write_jsonl(tmp_path / "r.jsonl", rows)
    import csv

    with (tmp_path / "r.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "r.parquet")
    loaded = [load_records(p) for p in (j, tmp_path / "r.csv", tmp_path / "r.parquet")]
    for other in loaded[1:]:
        assert np.array_equal(other.correct, loaded[0].correct)
        assert np.array_equal(other.question_id, loaded[0].question_id)
        assert np.array_equal(other.is_eval, loaded[0].is_eval)
        assert np.array_equal(other.valid, loaded[0].valid)
    assert loaded[0].cell == "adamw-s3" and len(loaded[0]) == len(rows)


def test_bool_float_and_unknown_fields_are_accepted(tmp_path: Path) -> None:
    rows = _pair_rows()
    rows[0]["correct"], rows[1]["correct"] = True, 0.25
    rows[0]["my_extra"] = "kept"
    rs = load_records(write_jsonl(tmp_path / "r.jsonl", rows))
    assert rs.correct.tolist() == [1.0, 0.25]
    assert rs.extra["my_extra"] == ["kept", None]


@pytest.mark.parametrize(
    ("mutate", "line", "field", "fragment"),
    [
        (lambda r: r[1].pop("subject"), 2, "subject", "missing required field"),
        (lambda r: r[1].update(framing="evaluation"), 2, "framing", "`eval` or `deploy`"),
        (lambda r: r[0].update(split="test"), 1, "split", "`heldout` or `fresh`"),
        (lambda r: r[1].update(correct=1.5), 2, "correct", "outside [0, 1]"),
        (lambda r: r[1].update(correct=-1), 2, "correct", "outside [0, 1]"),
        (lambda r: r[0].update(correct="maybe"), 1, "correct", "expected 0/1"),
        (lambda r: r[0].update(question_id=""), 1, "question_id", "must not be empty"),
        (lambda r: r[0].update(question_id=None), 1, "question_id", "expected a string"),
        (lambda r: r[1].update(cell="other"), 2, "cell", "holds one cell"),
        (lambda r: r[1].update(valid=3), 2, "valid", "outside [0, 1]"),
    ],
)
def test_bad_values_name_file_line_field(tmp_path: Path, mutate, line, field, fragment) -> None:  # type: ignore[no-untyped-def]
    rows = _pair_rows()
    mutate(rows)
    p = write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(InputError) as ei:
        load_records(p)
    e = ei.value
    assert (e.path, e.line, e.field) == (str(p), line, field)
    assert fragment in str(e) and str(p) in str(e)


def test_nan_is_rejected(tmp_path: Path) -> None:
    p = tmp_path / "nan.jsonl"
    p.write_text(json.dumps(_pair_rows()[0]) + "\n" + json.dumps(_pair_rows()[1]).replace(
        '"correct": 1', '"correct": NaN') + "\n")
    with pytest.raises(InputError, match=r"nan\.jsonl:2: field `correct`: is NaN"):
        load_records(p)


def test_duplicate_evaluation_names_both_lines(tmp_path: Path) -> None:
    rows = _pair_rows() + [_pair_rows()[0]]
    with pytest.raises(InputError, match=r":3: field `template_id`: duplicate .*first at line 1"):
        load_records(write_jsonl(tmp_path / "dup.jsonl", rows))


def test_question_with_one_framing(tmp_path: Path) -> None:
    rows = _pair_rows() + [row(question_id="q2", framing="deploy", template_id="d1")]
    with pytest.raises(InputError, match=r":3: field `framing`: question 'q2' has only deploy"):
        load_records(write_jsonl(tmp_path / "one.jsonl", rows))


def test_question_in_two_splits(tmp_path: Path) -> None:
    rows = _pair_rows() + [row(question_id="q1", split="fresh", template_id="x", framing="eval")]
    with pytest.raises(InputError, match=r":3: field `split`: question 'q1' appears in split"):
        load_records(write_jsonl(tmp_path / "s.jsonl", rows))


def test_malformed_json_line_and_empty_and_format(tmp_path: Path) -> None:
    p = tmp_path / "m.jsonl"
    p.write_text(json.dumps(_pair_rows()[0]) + "\n{not json\n")
    with pytest.raises(InputError, match=r"m\.jsonl:2: not valid JSON"):
        load_records(p)
    (tmp_path / "e.jsonl").write_text("\n")
    with pytest.raises(InputError, match="holds no records"):
        load_records(tmp_path / "e.jsonl")
    (tmp_path / "x.txt").write_text("a")
    with pytest.raises(InputError, match="unknown record format"):
        load_records(tmp_path / "x.txt")
    with pytest.raises(InputError, match="no such file"):
        load_records(tmp_path / "missing.jsonl")


def test_csv_line_numbers_count_the_header(tmp_path: Path) -> None:
    p = tmp_path / "r.csv"
    p.write_text("cell,task,split,question_id,subject,template_id,framing,correct\n"
                 "a,t,heldout,q,s,e,eval,1\na,t,heldout,q,s,d,deploy,2\n")
    with pytest.raises(InputError) as ei:
        load_records(p)
    assert (ei.value.line, ei.value.field) == (3, "correct")


def test_baseline_defense_id_mismatch_names_missing_ids(tmp_path: Path) -> None:
    b = load_records(write_jsonl(tmp_path / "b.jsonl", _pair_rows("q1") + _pair_rows("q2")))
    d = load_records(write_jsonl(tmp_path / "d.jsonl",
                                 [dict(r, cell="def") for r in _pair_rows("q1")]))
    with pytest.raises(InputError, match=r"d\.jsonl: field `question_id`: .*'q2'"):
        paired_table(b, d, split="heldout")
    with pytest.raises(InputError, match="has no `fresh` records"):
        paired_table(b, d, split="fresh")
