"""``[eval] scorer``: one scorer or "both" (each evaluation under letter, then option)."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest

from acceptance_cards import vocab
from acceptance_cards._util.errors import InputError
from acceptance_cards.audit.run.config import ScorerChoice, load_config
from helpers import run_cli

CONFIG = """
[[models]]
name = "small"
spec = "smollm2"

[[recipes]]
name = "attack-aware"
claimed_class = "attack-targeted"

[eval]
scorer = {scorer}
"""


def _write(tmp_path: Path, scorer: str) -> Path:
    p = tmp_path / "audit.toml"
    p.write_text(CONFIG.format(scorer=scorer), encoding="utf-8")
    return p


def test_scorer_choice_is_the_record_vocabulary_plus_both() -> None:
    assert get_args(ScorerChoice) == (*vocab.SCORERS, "both")


@pytest.mark.parametrize("scorer", ["letter", "option", "both"])
def test_each_scorer_choice_validates(tmp_path: Path, scorer: str) -> None:
    assert load_config(_write(tmp_path, f'"{scorer}"')).eval.scorer == scorer


def test_cpu_full_records_both_scorers() -> None:
    examples = Path(__file__).resolve().parents[2] / "examples"
    assert load_config(examples / "cpu-full.toml").eval.scorer == "both"


@pytest.mark.parametrize("scorer", ['"judge"', '"Both"', "2"])
def test_a_bad_scorer_names_the_file_and_field(tmp_path: Path, scorer: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, scorer)
    with pytest.raises(InputError) as ei:
        load_config(path)
    msg = str(ei.value)
    assert "eval.scorer" in msg and "audit.toml" in msg
    code, _, err = run_cli(["audit", str(path), "-o", str(tmp_path / "out"), "--plan"], capsys)
    assert code == 2 and "eval.scorer" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
