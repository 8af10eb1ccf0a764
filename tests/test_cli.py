"""The `acard` CLI: every command, and every bad input → one message, exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import row, write_example_inputs, write_jsonl
from helpers import run_cli as run


@pytest.fixture
def ev(tmp_path: Path) -> dict[str, str]:
    return write_example_inputs(tmp_path)


def test_card_validate_verify_power_schema(ev: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    out = Path(ev["dir"]) / "out" / "card.json"
    code, so, _ = run(["card", "-b", ev["b"], "-d", ev["d"], "--cross-baseline", ev["xb"],
                       "--cross-defense", ev["xd"], "--mechanism", ev["m"], "--claimed-class",
                       "attack-targeted", "--resamples", "500", "-o", str(out)], capsys)
    assert code == 0 and "run diagnostics pass" in so
    card = json.loads(out.read_text())
    assert card["options"]["n_resamples"] == 500 and card["diagnostics"]["c"]["verdict"] == "pass"
    code, so, _ = run(["verify", str(out)], capsys)
    assert code == 0 and "verified: the card matches its inputs" in so
    code, so, _ = run(["validate", ev["b"], ev["m"], str(out)], capsys)
    assert code == 0 and "valid card" in so and "valid mechanism" in so and "12 questions" in so
    code, so, _ = run(["power", "-b", ev["b"], "-d", ev["d"]], capsys)
    assert code == 0 and "questions" in so
    code, so, _ = run(["power", "--effect", "-0.1", "--sd-d", "0.35"], capsys)
    assert code == 0 and "97" in so
    code, so, _ = run(["schema"], capsys)
    assert code == 0 and json.loads(so)["title"] == "Card"
    # tampering → verify exits 1 and names the field
    data = json.loads(out.read_text())
    data["diagnostics"]["a"]["ci_high"] = -1.0
    out.write_text(json.dumps(data))
    code, so, _ = run(["verify", str(out)], capsys)
    assert code == 1 and "diagnostics.a.ci_high" in so


def _bad(tmp_path: Path, name: str, rows: list[dict[str, object]]) -> str:
    return str(write_jsonl(tmp_path / name, rows))


@pytest.mark.parametrize(
    ("rows_d", "needle"),
    [
        ([row(framing="eval", template_id="e", cell="d"),
          row(framing="deploy", template_id="d", cell="d", correct=7)],
         "bad.jsonl:2: field `correct`: 7.0 is outside [0, 1]"),
        ([row(framing="eval", template_id="e", cell="d")], "field `framing`: question 'q1' has only eval"),
        ([row(question_id="zz", framing="eval", template_id="e", cell="d"),
          row(question_id="zz", framing="deploy", template_id="d", cell="d")],
         "field `question_id`: baseline and defense must cover the same `heldout` question ids"),
    ],
)
def test_bad_input_one_message_exit_2(tmp_path: Path, rows_d: list[dict[str, object]], needle: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    b = _bad(tmp_path, "base.jsonl", [row(framing="eval", template_id="e"),
                                      row(framing="deploy", template_id="d")])
    d = _bad(tmp_path, "bad.jsonl", rows_d)
    out = tmp_path / "card.json"
    code, so, err = run(["card", "-b", b, "-d", d, "-o", str(out)], capsys)
    assert code == 2 and needle in err and "Traceback" not in err
    assert err.count("\n") == 1 and not out.exists()


def test_bad_options_and_files_exit_2(ev: dict[str, str], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "c.json")
    cases = [
        ["card", "-b", ev["b"], "-d", str(tmp_path / "nope.jsonl"), "-o", out],
        ["card", "-b", ev["b"], "-d", ev["d"], "--mechanism", ev["b"], "-o", out],
        ["card", "-b", ev["b"], "-d", ev["d"], "--claimed-class", "magic", "-o", out],
        ["card", "-b", ev["b"], "-d", ev["d"], "--cross-baseline", ev["xb"], "-o", out],
        ["card", "-b", ev["b"], "-d", ev["d"], "--meta", ev["b"], "-o", out],
        ["verify", ev["b"]],
        ["power", "--effect", "0.1", "--sd-d", "0.3"],
        ["lint-claim", ev["b"]],
    ]
    for argv in cases:
        code, _, err = run(argv, capsys)
        assert code == 2, argv
        assert "Traceback" not in err and err.strip(), argv
    # an existing card is never clobbered by a failing run
    Path(out).write_text("keep")
    run(["card", "-b", ev["b"], "-d", str(tmp_path / "nope.jsonl"), "-o", out], capsys)
    assert Path(out).read_text() == "keep"


def test_mechanism_file_errors_name_field(tmp_path: Path, ev: dict[str, str],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    m = tmp_path / "m2.json"
    data = json.loads(Path(ev["m"]).read_text())
    data["norm_gt"] = -1
    m.write_text(json.dumps(data))
    code, _, err = run(["card", "-b", ev["b"], "-d", ev["d"], "--mechanism", str(m),
                        "-o", str(tmp_path / "c.json")], capsys)
    assert code == 2 and "m2.json: field `norm_gt`" in err


def test_console_script_without_traceback(tmp_path: Path) -> None:
    """The real entry point, in a subprocess: exit 2, one line, no traceback."""
    r = subprocess.run([sys.executable, "-m", "acceptance_cards", "validate",
                        str(tmp_path / "missing.jsonl")], capture_output=True, text=True)
    assert r.returncode == 2 and "missing.jsonl: no such file" in r.stderr
    assert "Traceback" not in r.stderr
