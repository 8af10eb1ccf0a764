"""A gate for pipelines (issue 16 item 5): ``acard card … --require LEVEL`` and
``acard check CARD --require LEVEL`` exit 1 below the level and say why; 0 and 2 keep
their meaning. The order of levels lives in verdict.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

import pytest

from acceptance_cards.card.build import build_card
from acceptance_cards.card.model import Card, CardOptions, card_to_json
from acceptance_cards.card.verdict import (
    CARD_VERDICTS,
    LEVEL_NAMES,
    VERDICT_ORDER,
    CardVerdict,
    meets,
)
from acceptance_cards.synthetic import (
    SCENARIOS,
    example_card,
    example_mechanism,
    simulate_pair,
    simulate_rows,
)
from acceptance_cards.vocab import REQUIRE_LEVELS
from helpers import run_cli as run
from helpers import write_jsonl


def test_verdict_order_is_total_and_documented() -> None:
    assert sorted(VERDICT_ORDER) == sorted(CARD_VERDICTS)
    assert VERDICT_ORDER[0] == "full-card pass" and VERDICT_ORDER[-1] == "fail"
    assert list(REQUIRE_LEVELS) == list(LEVEL_NAMES)
    assert [LEVEL_NAMES[m] for m in REQUIRE_LEVELS] == list(VERDICT_ORDER)


@pytest.mark.parametrize("verdict, required, ok", [
    ("full-card pass", "full-card pass", True),
    ("near miss", "full-card pass", False),
    ("near miss", "near miss", True),
    ("missing evidence", "near miss", False),
    ("missing evidence", "missing evidence", True),
    ("undefined", "missing evidence", False),
    ("fail", "undefined", False),
    ("fail", "fail", True),
    ("full-card pass", "fail", True),
])
def test_meets(verdict: str, required: str, ok: bool) -> None:
    assert meets(cast(CardVerdict, verdict), cast(CardVerdict, required)) is ok


def _write(tmp_path: Path, name: str, card: Card) -> str:
    p = tmp_path / f"{name}.json"
    p.write_text(card_to_json(card), encoding="utf-8")
    return str(p)


@pytest.fixture(scope="module")
def cards(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("cards")
    opts = CardOptions(seed=0, n_resamples=400, claimed_class="attack-targeted")
    b, df = simulate_pair(seed=1, scenario="reduction")
    xb, xd = simulate_pair(seed=2, scenario="no-gap", task="sycophancy")
    near = build_card(b, df, cross_baseline=xb, cross_defense=xd,
                      mechanism=example_mechanism("attack-targeted"), options=opts)
    hb, hd = simulate_pair(seed=5, scenario="heldout-only")
    missing = build_card(hb, hd, options=CardOptions(seed=0, n_resamples=400))
    out = {"full": example_card(seed=0, n_resamples=400), "near": near, "missing": missing}
    assert [c.verdict for c in out.values()] == ["full-card pass", "near miss", "missing evidence"]
    return {k: _write(d, k, c) for k, c in out.items()}


@pytest.mark.parametrize("name, level, code", [
    ("full", "full-card", 0), ("full", "fail", 0),
    ("near", "full-card", 1), ("near", "near-miss", 0), ("near", "missing-evidence", 0),
    ("missing", "near-miss", 1), ("missing", "missing-evidence", 0), ("missing", "undefined", 0),
])
def test_check_exit_codes(cards: dict[str, str], capsys: pytest.CaptureFixture[str], name: str,
                          level: str, code: int) -> None:
    got, out, err = run(["check", cards[name], "--require", level], capsys)
    assert got == code, (out, err)
    if code == 0:
        assert "requirement met" in out and not err
    else:
        assert "requirement not met" in err and "below the required" in err


def test_check_says_which_gates_are_unmet_and_why(cards: dict[str, str],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["check", cards["missing"]], capsys)  # default: full-card
    assert code == 1
    lines = err.strip().splitlines()
    assert lines[0].startswith("requirement not met: verdict 'missing evidence' (1 of 2 run")
    assert "required 'full-card pass'" in lines[0]
    unmet = [ln.strip() for ln in lines[1:]]
    assert [u.split(":")[0] for u in unmet] == ["unmet (b) fail", "unmet (c) not run",
                                                "unmet (d) not run"]
    assert all(len(u.split(": ", 1)[1]) > 5 for u in unmet)  # each with its gate's reason


def test_check_bad_input_exits_2(cards: dict[str, str], tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["check", cards["full"], "--require", "excellent"], capsys)
    assert code == 2 and "excellent" in err
    code, _, err = run(["check", str(tmp_path / "nope.json")], capsys)
    assert code == 2 and "nope.json" in err


def test_card_require_writes_the_card_and_exits_1_below_the_level(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rb, rd = simulate_rows(seed=5, scenario=SCENARIOS["heldout-only"])
    b, d = write_jsonl(tmp_path / "b.jsonl", rb), write_jsonl(tmp_path / "d.jsonl", rd)
    out = tmp_path / "card.json"
    base = ["card", "-b", str(b), "-d", str(d), "--resamples", "400", "-o", str(out)]
    code, so, err = run([*base, "--require", "near-miss"], capsys)
    assert code == 1 and out.is_file()
    assert json.loads(out.read_text())["verdict"] == "missing evidence"
    assert "run diagnostics pass" in so and "unmet (c) not run" in err
    code, so, err = run([*base, "--require", "missing-evidence"], capsys)
    assert code == 0 and "requirement met" in so and not err
    code, so, _ = run(base, capsys)  # no --require: exit 0 whatever the verdict
    assert code == 0 and "requirement" not in so
