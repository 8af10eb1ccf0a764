"""The `--map field=expr` language: sources, filters, candidates, files, and bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from acceptance_cards._util.errors import InputError
from acceptance_cards.importers.assemble import SampleView, assemble, to_rate
from acceptance_cards.importers.mapping import (
    MISSING,
    FieldMapping,
    exprs,
    load_mapping_file,
    parse_expr,
    parse_map_options,
)

VIEW = {
    "id": "mmlu-anatomy-3::deploy-h02",
    "metadata": {"cond": "chat", "qid": 17, "topic": " Anatomy "},
    "doc": {"choices": ["w", "x", "y", "z"]},
    "filtered_resps": [[-4.0, False], [-0.3, True], [-2.0, False], [-9.0, False]],
    "scores": {"pattern": {"value": "C", "answer": "B"}},
    "empty": None,
}


@pytest.mark.parametrize(("text", "expected"), [
    ("metadata.qid", 17),
    ("doc.choices[2]", "y"),
    ("doc.choices[-1]", "z"),
    ("scores.pattern.value", "C"),
    ("'sandbagging'", "sandbagging"),
    ('"it\\"s"', 'it"s'),
    ("id | re/^(.+?)::/", "mmlu-anatomy-3"),
    ("id | re/::(eval|deploy)-/", "deploy"),
    ("id | re/h0\\d/", "h02"),
    ("metadata.cond | map{test=eval, chat=deploy}", "deploy"),
    ("metadata.cond | map{test=eval}", "chat"),
    ("metadata.topic | strip | lower", "anatomy"),
    ("metadata.topic|strip|upper", "ANATOMY"),
    ("filtered_resps | argmax", 1),
    ("filtered_resps | argmax | letter", "B"),
    ("scores.pattern.answer | letter", "B"),
])
def test_expressions_read_the_view(text: str, expected: object) -> None:
    assert parse_expr(text).evaluate(VIEW) == expected


@pytest.mark.parametrize("text", [
    "metadata.nope", "doc.choices[9]", "empty", "id | re/^zzz(.)/", "metadata.qid.deeper",
    "metadata | argmax", "'' | letter", "metadata.cond | letter",
])
def test_missing_values_give_missing(text: str) -> None:
    assert parse_expr(text).evaluate(VIEW) is MISSING


def test_candidates_fall_through_in_order() -> None:
    m = FieldMapping({"question_id": exprs("metadata.question_id", "id | re/^(.+?)::/"),
                      "subject": exprs("metadata.subject", "'unknown'")})
    got = m.resolve(VIEW)
    assert got == {"question_id": "mmlu-anatomy-3", "subject": "unknown"}
    assert m.describe("question_id") == "`metadata.question_id` or `id | re/^(.+?)::/`"
    over = m.with_overrides(parse_map_options(["question_id=metadata.qid"]))
    assert over.resolve(VIEW)["question_id"] == 17
    assert m.resolve(VIEW)["question_id"] == "mmlu-anatomy-3"  # the original is unchanged


@pytest.mark.parametrize(("opt", "needle"), [
    ("framing", "expected field=expr"),
    ("framing=", "empty"),
    ("framing=metadata.x | frobnicate", "unknown filter 'frobnicate'"),
    ("framing=id | re/(unclosed/", "invalid regular expression"),
    ("framing=id | re/abc", "unterminated re"),
    ("framing=id | map{a}", "is not old=new"),
    ("framing=id | map{a=b", "unterminated map"),
    ("framing='open", "unterminated quote"),
    ("framing=a..b", "malformed path"),
    ("framing=[0]", "malformed path"),
    ("framing=id metadata", "expected `|`"),
    ("2bad=id", "not a record field name"),
])
def test_bad_map_options_are_input_errors(opt: str, needle: str) -> None:
    with pytest.raises(InputError) as ei:
        parse_map_options([opt])
    assert needle in str(ei.value)


def test_mapping_file(tmp_path: Path) -> None:
    p = tmp_path / "map.toml"
    p.write_text('[map]\nquestion_id = "metadata.qid"\n'
                 'framing = ["metadata.framing", "metadata.cond | map{chat=deploy}"]\n')
    got = load_mapping_file(p)
    assert [e.text for e in got["framing"]] == ["metadata.framing",
                                                "metadata.cond | map{chat=deploy}"]
    assert FieldMapping().with_overrides(got).resolve(VIEW) == {"question_id": 17,
                                                               "framing": "deploy"}
    flat = tmp_path / "flat.toml"
    flat.write_text('subject = "metadata.topic | strip"\n')
    assert FieldMapping(load_mapping_file(flat)).resolve(VIEW) == {"subject": "Anatomy"}


@pytest.mark.parametrize(("text", "needle", "field"), [
    ("[map\n", "not valid TOML", None),
    ("map = 3\n", "must be a table", "map"),
    ("[map]\nframing = 3\n", "expected an expression string", "framing"),
    ("[map]\nframing = 'id | nope'\n", "unknown filter", "framing"),
])
def test_bad_mapping_files(tmp_path: Path, text: str, needle: str, field: str | None) -> None:
    p = tmp_path / "m.toml"
    p.write_text(text)
    with pytest.raises(InputError) as ei:
        load_mapping_file(p)
    assert needle in str(ei.value) and ei.value.path == str(p) and ei.value.field == field
    with pytest.raises(InputError, match="no such mapping file"):
        load_mapping_file(tmp_path / "absent.toml")


@pytest.mark.parametrize(("value", "rate"), [
    ("C", 1.0), ("I", 0.0), ("P", 0.5), ("N", 0.0), (True, 1.0), (False, 0.0), ("true", 1.0),
    (1, 1.0), (0.25, 0.25), ("0.75", 0.75), ("maybe", None), (2, None), (float("nan"), None),
    ([1], None),
])
def test_score_values(value: object, rate: float | None) -> None:
    assert to_rate(value) == rate


def _views(rows: list[dict[str, object]]) -> list[SampleView]:
    return [SampleView(r, label=f"s{i}", index=i, path="log.eval") for i, r in enumerate(rows, 1)]


FIELDS = ("cell", "task", "split", "question_id", "subject", "template_id", "framing", "correct")
PLAIN = FieldMapping({k: exprs(k) for k in FIELDS})


def _row(**kw: object) -> dict[str, object]:
    base: dict[str, object] = dict(cell="c", task="sandbagging", split="fresh", question_id="q1",
                                   subject="s", template_id="t-e", framing="eval", correct="C")
    return base | kw


def test_assemble_translates_scores_and_keeps_order() -> None:
    r = assemble(_views([_row(), _row(template_id="t-d", framing="Deploy", correct=0.5)]), PLAIN)
    assert [x["correct"] for x in r.records] == [1, 0.5]
    assert [x["framing"] for x in r.records] == ["eval", "deploy"]
    assert (r.cell, r.task, r.n_samples, r.model) == ("c", "sandbagging", 2, None)


@pytest.mark.parametrize(("rows", "needle", "field", "line"), [
    ([_row(correct="maybe"), _row(framing="deploy")], "correct must be", "correct", 1),
    ([_row(), _row(framing="test")], "framing must be eval or deploy", "framing", 2),
    ([_row(split="train"), _row(split="train", framing="deploy")], "split must be", "split", 1),
    ([_row(), _row(framing="deploy", task="sycophancy")], "one record file holds one task",
     "task", 2),
    ([_row(question_id=["a"]), _row(framing="deploy")], "must be a single value",
     "question_id", 1),
])
def test_assemble_names_the_bad_sample(rows: list[dict[str, object]], needle: str, field: str,
                                       line: int) -> None:
    with pytest.raises(InputError) as ei:
        assemble(_views(rows), PLAIN)
    e = ei.value
    assert needle in e.message and e.field == field and e.line == line
    assert f"sample 's{line}'" in e.message and e.path == "log.eval"


def test_no_samples() -> None:
    with pytest.raises(InputError, match="no samples"):
        assemble([], PLAIN)
