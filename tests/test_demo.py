"""A clean demo (issue 16 item 6): the lint step shows its exit 1 as the expected answer
(and fails the demo if the lint lets the claim through), no make error is ignored, and
the demo ends with a three-line summary of the verdicts and the files to open."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from acceptance_cards.audit.report.outputs import write_outputs
from acceptance_cards.card.build import build_card
from acceptance_cards.card.model import CardOptions, card_to_json
from acceptance_cards.synthetic import example_card, simulate_pair

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "demo.py"


def _demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def card(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("demo")
    p = d / "card.json"
    p.write_text(card_to_json(example_card(seed=0, n_resamples=400)), encoding="utf-8")
    (d / "card.html").write_text("<html></html>", encoding="utf-8")
    return p


def test_lint_example_shows_the_expected_exit_1(card: Path) -> None:
    r = _demo("lint-example", str(card),
              "A deployable defense that generalizes without loss of capability.")
    assert r.returncode == 0, r.stderr
    assert "✗ “deployable defense”" in r.stdout
    assert r.stdout.rstrip().endswith(
        "lint-claim found 2 forbidden phrases (expected: this claim over-reaches; "
        "exit 1 is the lint's answer)")


def test_lint_example_fails_the_demo_when_the_lint_lets_the_claim_through(card: Path) -> None:
    r = _demo("lint-example", str(card), "Full-card pass under the protocol.")
    assert r.returncode == 1
    assert "demo: FAILED: lint-claim exited 0 with 0 finding(s)" in r.stderr


def test_summary_on_a_finished_audit_is_three_lines(card: Path, tmp_path: Path) -> None:
    out = write_outputs([], tmp_path / "quick")  # a real (small) audit output: the control
    b, d = simulate_pair(seed=5, scenario="heldout-only")
    extra = build_card(b, d, options=CardOptions(seed=0, n_resamples=400))
    (tmp_path / "quick" / "cards" / "smollm2_aa_s42.json").write_text(card_to_json(extra))
    r = _demo("summary", "--card", str(card), "--audit", str(tmp_path / "quick"))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 3, lines
    assert lines[0] == "demo done: synthetic example → full-card pass (4 of 4 run diagnostics pass)"
    assert lines[1].strip() == ("quick audit (2 cards) → full-card pass: 1 (positive-control); "
                                "missing evidence: 1 (smollm2_aa_s42)")
    assert lines[2] == f"open:      {card.with_suffix('.html')} and {out.report}"


def test_summary_without_cards_says_the_audit_did_not_finish(card: Path, tmp_path: Path) -> None:
    r = _demo("summary", "--card", str(card), "--audit", str(tmp_path))
    assert r.returncode != 0 and "did the audit finish?" in r.stderr


def test_makefile_ignores_no_error_and_ends_the_demo_with_the_summary() -> None:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe_lines = [ln for ln in text.splitlines() if ln.startswith("\t")]
    # a leading "-" makes make print "Error 1 (ignored)"
    assert not [ln for ln in recipe_lines if re.match(r"\t@?-", ln)]
    demo = re.search(r"^demo:.*\n((?:\t.*\n)+)", text, re.M)
    assert demo is not None
    assert "scripts/demo.py summary" in demo.group(1).splitlines()[-1]
    assert "scripts/demo.py lint-example" in text
