"""`acard eval`, `acard eval-report`, `acard data split` end to end (tiny model)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import exit_code


def test_data_split_create_and_inspect(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "split.json"
    assert exit_code(["data", "split", "-o", str(out), "--seed", "7", "--n-heldout", "10"]) == 0
    data = json.loads(out.read_text())
    assert len(data["heldout_ids"]) == 10 and data["seed"] == 7
    assert exit_code(["data", "split", "--inspect", str(out)]) == 0
    assert data["hash"][:16] in capsys.readouterr().out


def test_eval_writes_records_and_report(tiny_dir: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    split = tmp_path / "split.json"
    assert exit_code(["data", "split", "-o", str(split)]) == 0
    outs = []
    for scorer in ("letter", "option"):
        out = tmp_path / f"{scorer}.jsonl"
        code = exit_code(["eval", "--model", str(tiny_dir), "--task", "sycophancy", "--split", "fresh",
                          "--scorer", scorer, "--cell", "base-s1", "--seed", "1", "--n-questions", "2",
                          "--split-file", str(split), "--dtype", "float32", "-o", str(out)])
        assert code == 0
        recs = [json.loads(x) for x in out.read_text().splitlines()]
        assert len(recs) == 8 and {r["scorer"] for r in recs} == {scorer}
        assert {r["task"] for r in recs} == {"sycophancy"} and recs[0]["cell"] == "base-s1"
        outs.append(str(out))
    assert exit_code(["eval-report", *outs]) == 0
    assert "answer agreement" in capsys.readouterr().out


def test_bad_model_exits_2_without_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "acceptance_cards", "eval", "--model", str(tmp_path / "x.gguf"),
         "-o", str(tmp_path / "r.jsonl"), "--n-questions", "1"],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert "no such GGUF model file" in proc.stderr and "Traceback" not in proc.stderr


def test_eval_and_train_options_are_vocabulary_literals(capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    import typing

    from acceptance_cards import vocab
    from acceptance_cards.audit.run.config import ScorerChoice
    from acceptance_cards.cli.eval_cmds import eval_cmd
    from acceptance_cards.cli.train_cmds import train_cmd

    hints = typing.get_type_hints(eval_cmd, include_extras=False)
    assert (hints["task"], hints["split"], hints["scorer"]) == (vocab.Task, vocab.Split,
                                                                ScorerChoice)
    assert typing.get_type_hints(train_cmd)["task"] == vocab.Task
    assert exit_code(["eval", "--scorer", "judge", "-o", "r.jsonl"]) == 2
    assert "letter" in capsys.readouterr().err
