"""The gates read one scorer chosen by name, the same for every file (records module docstring).

A file's line order must not pick the scorer, and a baseline and a defense read
under different scorers must be refused: the gap between two scorers is not a
gap the defense made.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from acceptance_cards._util.errors import InputError
from acceptance_cards.card.build import build_card_from_files, gate_scorer
from acceptance_cards.card.model import CardOptions
from acceptance_cards.records import load_records, records_from_rows
from acceptance_cards.synthetic import simulate_rows
from helpers import write_jsonl

OPTS = CardOptions(n_resamples=200)


def _pair() -> tuple[list[dict[str, Any]], ...]:
    return simulate_rows(seed=3, n_heldout=10, n_fresh=10)


def _scored(rows: list[dict[str, Any]], order: list[str]) -> list[dict[str, Any]]:
    """``rows`` once per scorer, in ``order``; the ``generate`` scorer says every answer is right."""
    return [dict(r, scorer=s, correct=1 if s == "generate" else r["correct"])
            for s in order for r in rows]


@pytest.mark.parametrize(("names", "want"), [
    (["logit", "generate"], "generate"), (["generate", "logit"], "generate"),
    (["option", "letter"], "letter"), (["letter", "option"], "letter"),
    (["zz", "option"], "option"),
])
def test_gate_scorer_does_not_depend_on_line_order(names: list[str], want: str) -> None:
    rows_b, _ = _pair()
    rs = records_from_rows(_scored(rows_b, names))
    assert gate_scorer(rs) == want
    assert sorted(rs.rescored) == sorted(set(names) - {want})


def test_reversed_line_orders_give_the_same_card(tmp_path: Path) -> None:
    rows_b, rows_d = _pair()
    b = write_jsonl(tmp_path / "b.jsonl", _scored(rows_b, ["logit", "generate"]))
    d = write_jsonl(tmp_path / "d.jsonl", _scored(rows_d, ["generate", "logit"]))
    card = build_card_from_files(b, d, options=OPTS)
    # both files read under `generate`: every eval answer right in both, no gap moved
    assert card.diagnostics.a.delta_gap == pytest.approx(0.0)


@pytest.mark.parametrize(("order_b", "order_d"), [
    (["letter"], ["option"]), (["option"], ["letter", "option"]),
])
def test_baseline_and_defense_under_different_scorers_are_refused(
        tmp_path: Path, order_b: list[str], order_d: list[str]) -> None:
    rows_b, rows_d = _pair()
    b = write_jsonl(tmp_path / "b.jsonl", _scored(rows_b, order_b))
    d = write_jsonl(tmp_path / "d.jsonl", _scored(rows_d, order_d))
    with pytest.raises(InputError) as e:
        build_card_from_files(b, d, options=OPTS)
    assert e.value.field == "scorer" and str(b) in str(e.value) and str(d) in str(e.value)


def test_cross_pair_under_different_scorers_is_refused(tmp_path: Path) -> None:
    rows_b, rows_d = _pair()
    xb, xd = simulate_rows(seed=5, task="sycophancy", n_heldout=10, n_fresh=10)
    paths = [write_jsonl(tmp_path / f"{n}.jsonl", _scored(r, [s])) for n, r, s in (
        ("b", rows_b, "letter"), ("d", rows_d, "letter"),
        ("xb", xb, "letter"), ("xd", xd, "option"))]
    with pytest.raises(InputError, match="xd.jsonl") as e:
        build_card_from_files(paths[0], paths[1], cross_baseline=paths[2],
                              cross_defense=paths[3], options=OPTS)
    assert e.value.field == "scorer"


def test_same_single_scorer_and_no_scorer_still_build(tmp_path: Path) -> None:
    rows_b, rows_d = _pair()
    b = write_jsonl(tmp_path / "b.jsonl", _scored(rows_b, ["option"]))
    d = write_jsonl(tmp_path / "d.jsonl", _scored(rows_d, ["option"]))
    plain = write_jsonl(tmp_path / "p.jsonl", [{k: v for k, v in r.items() if k != "scorer"}
                                                for r in rows_d])
    assert build_card_from_files(b, d, options=OPTS).verdict
    assert build_card_from_files(b, plain, options=OPTS).verdict  # unstated scorer: not compared


def test_null_scorer_is_no_scorer(tmp_path: Path) -> None:
    rows_b, _ = _pair()
    rs = load_records(write_jsonl(tmp_path / "b.jsonl", [dict(r, scorer=None) for r in rows_b]))
    assert set(rs.scorer.tolist()) == {""} and gate_scorer(rs) == ""


# --------------------------------------------------------------------------- task names


@pytest.mark.parametrize(("task", "field"), [
    ({"primary": "sycophancy"}, "task.primary"),
    ({"cross": "sycophancy"}, "task.cross"),  # no cross records at all
])
def test_task_metadata_contradicting_the_records_is_refused(
        tmp_path: Path, task: dict[str, str], field: str) -> None:
    from acceptance_cards.card.metadata import CardMetadata

    rows_b, rows_d = _pair()
    b, d = write_jsonl(tmp_path / "b.jsonl", rows_b), write_jsonl(tmp_path / "d.jsonl", rows_d)
    with pytest.raises(InputError) as e:
        build_card_from_files(b, d, options=OPTS, metadata=CardMetadata(task=task))
    assert e.value.field == field


def test_task_metadata_agreeing_with_the_records_builds_and_verifies(tmp_path: Path) -> None:
    from acceptance_cards.card.metadata import CardMetadata
    from acceptance_cards.card.verify import verify_card

    rows_b, rows_d = _pair()
    xb, xd = simulate_rows(seed=5, task="sycophancy", n_heldout=10, n_fresh=10)
    paths = [write_jsonl(tmp_path / f"{n}.jsonl", r)
             for n, r in (("b", rows_b), ("d", rows_d), ("xb", xb), ("xd", xd))]
    card = build_card_from_files(*paths[:2], cross_baseline=paths[2], cross_defense=paths[3],
                                 options=OPTS, relative_to=tmp_path, metadata=CardMetadata(
                                     task={"primary": "sandbagging", "cross": "sycophancy"}))
    assert (card.task.primary, card.task.cross) == ("sandbagging", "sycophancy")
    assert verify_card(card, card_dir=tmp_path).status == "verified"
