"""Decision margins in records (SPEC §10) and the card's per-cell near-tie share."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from acceptance_cards._util.errors import InputError
from acceptance_cards.card.build import build_card
from acceptance_cards.card.capability import cell_capability, near_tie_bound, near_tie_share
from acceptance_cards.card.model import CardOptions
from acceptance_cards.constants import NEAR_TIE_MARGIN
from acceptance_cards.records import load_records, records_from_rows
from acceptance_cards.render import render
from acceptance_cards.synthetic import simulate_rows
from helpers import row, run_cli, write_jsonl


def _pair(**kw: Any) -> list[dict[str, Any]]:
    return [row(framing="eval", template_id="e1", **kw),
            row(framing="deploy", template_id="d1", **kw)]


def test_margin_loads_from_jsonl_and_csv(tmp_path: Path) -> None:
    rows = [row(framing="eval", template_id="e1", margin=0.25),
            row(framing="deploy", template_id="d1", margin=3)]
    j = load_records(write_jsonl(tmp_path / "r.jsonl", rows))
    with (tmp_path / "r.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    c = load_records(tmp_path / "r.csv")  # CSV cells are strings: parsed to floats
    assert j.margins().tolist() == c.margins().tolist() == [0.25, 3.0]
    assert load_records(write_jsonl(tmp_path / "n.jsonl", _pair())).margins().tolist() == [
        pytest.approx(np.nan, nan_ok=True)] * 2


@pytest.mark.parametrize("bad", [-0.5, "abc", True, [1.0], "nan", "inf", 1e400, 10**400,
                                 {"x": 1}, "-1"])
def test_bad_margin_names_file_line_field(tmp_path: Path, bad: Any) -> None:
    rows = [row(framing="eval", template_id="e1", margin=1.0),
            row(framing="deploy", template_id="d1", margin=bad)]
    p = tmp_path / "r.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(InputError) as e:
        load_records(p)
    assert (e.value.path, e.value.line, e.value.field) == (str(p), 2, "margin")


def test_cli_bad_margin_exit_2_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    base, other = simulate_rows(seed=1, n_heldout=6, n_fresh=6)
    b = write_jsonl(tmp_path / "b.jsonl", [dict(r, margin=-1) for r in base])
    d = write_jsonl(tmp_path / "d.jsonl", other)
    code, _, err = run_cli(["card", "-b", str(b), "-d", str(d), "-o", str(tmp_path / "c.json")],
                           capsys)
    assert code == 2 and "b.jsonl:1: field `margin`" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "c.json").exists()


def test_near_tie_share_counts_margins_below_each_scorers_bound() -> None:
    lb, ob = NEAR_TIE_MARGIN["letter"], NEAR_TIE_MARGIN["option"]
    rows = [row(question_id=f"q{i}", framing=f, template_id=f, scorer=s, margin=m)
            for i, (s, m) in enumerate([("letter", lb / 2), ("letter", lb * 2),
                                        ("option", ob / 2), ("option", (ob + lb) / 2)])
            for f in ("eval", "deploy")]
    # one of each scorer's two below its own bound: (ob + lb) / 2 is a near-tie only
    # on the letter scorer's (larger) logit scale, not as an option score
    assert near_tie_share(records_from_rows(rows)) == pytest.approx(4 / 8)
    assert near_tie_bound("lm-eval-acc") == max(lb, ob)
    # one record without a margin: the share is unknown, never 0
    rows[0].pop("margin")
    assert near_tie_share(records_from_rows(rows)) is None


def test_card_reports_near_ties_per_cell_and_unknown_without_margins() -> None:
    base, other = simulate_rows(seed=2, n_heldout=10, n_fresh=8)
    # the baseline's records carry margins, every tenth a near-tie; the defense's carry none
    tagged = [dict(r, scorer="letter",
                   margin=NEAR_TIE_MARGIN["letter"] * (0.5 if i % 10 == 0 else 5))
              for i, r in enumerate(base)]
    rs_b = records_from_rows(tagged, name="b")
    rs_d = records_from_rows([dict(r, scorer="letter") for r in other], name="d")
    want = float(np.mean([m < NEAR_TIE_MARGIN["letter"] for m, s in
                          zip(rs_b.margins(), rs_b.split, strict=True) if s == "heldout"]))
    assert cell_capability(rs_b).near_tie_share == pytest.approx(want) and 0 < want < 0.5
    card = build_card(rs_b, rs_d, options=CardOptions(seed=0, n_resamples=200))
    shares = {c.cell: c.near_tie_share for c in card.capability}
    assert shares == {rs_b.cell: pytest.approx(want), rs_d.cell: None}
    md = render(card, "md")
    assert "near-tie decisions" in md and "unknown (no margins)" in md
    assert f"{want:.3f}" in md
    for fmt in ("html", "tex"):
        text = render(card, fmt)
        assert "near-tie decisions" in text and "unknown (no margins)" in text
