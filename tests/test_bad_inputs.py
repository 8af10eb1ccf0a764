"""Every bad input through the real entry point: one line on stderr naming the file
(and line/field), exit 2, no traceback, and no file in the folder written or changed.

Each case here ended in a traceback, a wrong exit code, or a silently accepted
value before the CLI boundary was tightened.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from acceptance_cards.importers.inspect_logs import MAX_LOG_COMPRESSION_RATIO
from acceptance_cards.mechanism import save_mechanism
from acceptance_cards.synthetic import example_mechanism, simulate_rows
from helpers import run_cli, write_jsonl

HDR = ["cell", "task", "split", "question_id", "subject", "template_id", "framing", "correct"]


def _csv(rows: list[dict[str, object]]) -> str:
    return ",".join(HDR) + "\n" + "".join(",".join(str(r[k]) for k in HDR) + "\n" for r in rows)


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of good and hostile inputs (built once, copied per test)."""
    d = tmp_path_factory.mktemp("inputs")
    rb, rd = simulate_rows(seed=1, n_heldout=12, n_fresh=30)
    write_jsonl(d / "b.jsonl", rb)
    write_jsonl(d / "d.jsonl", rd)
    save_mechanism(example_mechanism(), d / "m.json")
    mech = json.loads((d / "m.json").read_text())
    assert run_cli(["card", "-b", str(d / "b.jsonl"), "-d", str(d / "d.jsonl"), "--resamples", "200",
                    "-o", str(d / "card.json")], _NoCap())[0] == 0
    (d / "meta.toml").write_text('title = "ok"\n')
    (d / "bad.jsonl").write_bytes((d / "b.jsonl").read_bytes()[:200] + b"\xff\n")
    (d / "bad.toml").write_bytes(b'title = "\xff"\n')
    (d / "bad.txt").write_bytes(b"we \xff claim")
    (d / "adir").mkdir()
    os.symlink("loop", d / "loop")
    write_jsonl(d / "yes.jsonl", [{**r, "correct": "yes" if r["correct"] else 0} for r in rb])
    write_jsonl(d / "one.jsonl", [{**r, "correct": "1" if r["correct"] else 0} for r in rb])
    for name, kw in (("ncal0", {"n_calibration": 0}), ("rho", {"rho_ci": [0.5, 0.1]}),
                     ("bool", {"dot_t": True}), ("lvl", {"rho_ci": [0.1, 0.2], "rho_ci_level": 7}),
                     ("slice", {"slice": [""]})):
        (d / f"m_{name}.json").write_text(json.dumps({**mech, **kw}))
    for name, text in (("title", "title = 5\n"), ("lora", '[recipe]\nlora_rank = "eight"\n'),
                       ("notes", 'notes = "one string"\n'), ("nan", "[compute]\ntraining_time_s = nan\n"),
                       ("task", "[task]\nfoo = 1\n")):
        (d / f"meta_{name}.toml").write_text(text)
    (d / "README.md").write_text("---\nfoo: [unclosed\n---\n# hi\n")
    (d / "ragged.csv").write_text(",".join(HDR) + "\nc,t,heldout,q1,s,t1,eval,1,EXTRA\n"
                                  "c,t,heldout,q1,s,t2,deploy\n")
    (d / "notgz.jsonl.gz").write_text("plain")
    write_jsonl(d / "bigint.jsonl", [{**rb[0], "correct": 10**400}, *rb[1:]])
    deep = "[" * 100_000 + "]" * 100_000
    (d / "deep.json").write_text(deep)
    (d / "deep.jsonl").write_text('{"a": ' + deep + "}\n")
    (d / "deep.toml").write_text(f"a = {deep}\n")
    (d / "deep40.json").write_text(json.dumps({"recipe": {"hyperparameters": {"a": [[[[[[[[[[[[[[[[[[
        [[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}}))
    with zipfile.ZipFile(d / "bomb.eval", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("header.json", b"0" * (4 << 20))  # ~1000:1
    return d


class _NoCap:
    """capsys stand-in for the module fixture (output is not checked there)."""

    def readouterr(self) -> tuple[str, str]:
        return "", ""


@pytest.fixture
def work(src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    w = tmp_path / "w"
    shutil.copytree(src, w, symlinks=True)
    monkeypatch.chdir(w)
    return w


def _snapshot(d: Path) -> dict[str, str]:
    return {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(d.rglob("*")) if p.is_file() and not p.is_symlink()}


C = ["card", "-b", "b.jsonl", "-d", "d.jsonl", "--resamples", "200"]
CASES: list[tuple[str, list[str], str]] = [
    # non-UTF-8 inputs, located by line and column
    ("records not utf-8", ["card", "-b", "bad.jsonl", "-d", "d.jsonl", "-o", "o.json"],
     "bad.jsonl:1: not UTF-8"),
    ("validate not utf-8", ["validate", "bad.jsonl"], "bad.jsonl:1: not UTF-8"),
    ("power not utf-8", ["power", "-b", "bad.jsonl", "-d", "d.jsonl"], "bad.jsonl:1: not UTF-8"),
    ("meta not utf-8", [*C, "-o", "o.json", "--meta", "bad.toml"], "bad.toml:1: not UTF-8"),
    ("claim not utf-8", ["lint-claim", "card.json", "-f", "bad.txt"], "bad.txt:1: not UTF-8"),
    ("eval-report not utf-8", ["eval-report", "bad.jsonl"], "bad.jsonl:1: not UTF-8"),
    ("lm-eval not utf-8", ["import", "lm-eval", "bad.jsonl", "-o", "i.jsonl"], "bad.jsonl:1: not UTF-8"),
    ("map file not utf-8", ["import", "lm-eval", "b.jsonl", "-o", "i.jsonl", "--map-file", "bad.toml"],
     "bad.toml:1: not UTF-8"),
    ("audit config not utf-8", ["audit", "bad.toml", "-o", "aout", "--plan"], "bad.toml:1: not UTF-8"),
    # folders and symlink loops as inputs
    ("claim is a folder", ["lint-claim", "card.json", "-f", "adir"], "adir: is a folder"),
    ("claim is a loop", ["lint-claim", "card.json", "-f", "loop"], "loop: is a symlink loop"),
    ("baseline is a folder", ["card", "-b", "adir", "-d", "d.jsonl", "-o", "o.json"],
     "adir: field `--baseline`: is a folder"),
    ("mechanism is a folder", [*C, "--mechanism", "adir", "-o", "o.json"], "adir: field `--mechanism`"),
    ("mechanism is a loop", [*C, "--mechanism", "loop", "-o", "o.json"],
     "loop: field `--mechanism`: is a symlink loop"),
    ("meta is a loop", [*C, "--meta", "loop", "-o", "o.json"], "loop: field `--meta`: is a symlink loop"),
    ("render a loop", ["render", "loop"], "loop: is a symlink loop"),
    ("verify a loop", ["verify", "loop"], "loop: is a symlink loop"),
    ("audit config is a loop", ["audit", "loop", "-o", "aout", "--plan"], "loop: is a symlink loop"),
    # folders, loops, inputs and each other as outputs
    ("card -o folder", [*C, "-o", "adir"], "adir: field `--output`: is a folder"),
    ("card -o loop", [*C, "-o", "loop"], "loop: field `--output`: is a symlink loop"),
    ("card --markdown folder", [*C, "-o", "o.json", "--markdown", "adir"], "field `--markdown`"),
    ("render -o folder", ["render", "card.json", "-o", "adir"], "adir: field `--output`"),
    ("schema -o folder", ["schema", "-o", "adir"], "adir: field `--output`"),
    ("card -o = baseline", [*C, "-o", "b.jsonl"], "b.jsonl: field `--output`: is also an input"),
    ("card -o = meta", [*C, "-o", "meta.toml", "--meta", "meta.toml"], "meta.toml: field `--output`"),
    ("card -o = --markdown", [*C, "-o", "o.json", "--markdown", "./o.json"], "field `--markdown`: is also"),
    ("render -o = card", ["render", "card.json", "-o", "card.json"], "card.json: field `--output`"),
    ("import -o = log", ["import", "lm-eval", "b.jsonl", "-o", "b.jsonl"], "b.jsonl: field `--output`"),
    ("export hf -o = card", ["export", "hf", "card.json", "-o", "card.json"], "card.json: field `--output`"),
    # out-of-contract values
    ("correct 'yes'", ["validate", "yes.jsonl"], "yes.jsonl:4: field `correct`"),
    ("correct '1' string", ["validate", "one.jsonl"], "one.jsonl:4: field `correct`"),
    ("n_calibration 0", ["validate", "m_ncal0.json"], "m_ncal0.json: field `n_calibration`"),
    ("reversed rho_ci", ["validate", "m_rho.json"], "m_rho.json: field `rho_ci`: is reversed"),
    ("rho_ci_level 7", ["validate", "m_lvl.json"], "m_lvl.json: field `rho_ci_level`"),
    ("boolean dot_t", ["validate", "m_bool.json"], "m_bool.json: field `dot_t`"),
    ("empty slice name", ["validate", "m_slice.json"], "m_slice.json: field `slice`"),
    ("floor > ceiling", [*C, "-o", "o.json", "--floor", "0.9", "--ceiling", "0.1"], "--floor"),
    ("floor nan", [*C, "-o", "o.json", "--floor", "nan"], "--floor"),
    ("tau inf", [*C, "-o", "o.json", "--tau", "inf"], "--tau"),
    ("tau 0", [*C, "-o", "o.json", "--tau", "0"], "--tau"),
    ("seed -1", [*C, "-o", "o.json", "--seed", "-1"], "--seed"),
    ("power effect -1e-300", ["power", "--effect", "-1e-300", "--sd-d", "0.3"], "--effect"),
    ("power effect nan", ["power", "--effect", "nan", "--sd-d", "0.3"], "--effect"),
    ("power split typo", ["power", "-b", "b.jsonl", "-d", "d.jsonl", "--split", "nope"], "--split"),
    # metadata types
    ("meta title = 5", [*C, "-o", "o.json", "--meta", "meta_title.toml"], "meta_title.toml: field `title`"),
    ("meta lora_rank eight", [*C, "-o", "o.json", "--meta", "meta_lora.toml"],
     "meta_lora.toml: field `recipe.lora_rank`"),
    ("meta notes one string", [*C, "-o", "o.json", "--meta", "meta_notes.toml"],
     "meta_notes.toml: field `notes`"),
    ("meta compute nan", [*C, "-o", "o.json", "--meta", "meta_nan.toml"],
     "meta_nan.toml: field `compute.training_time_s`"),
    ("meta unknown task key", [*C, "-o", "o.json", "--meta", "meta_task.toml"], "field `task.foo`"),
    # formats
    ("README broken front matter", ["export", "hf", "card.json", "-o", "README.md"],
     "README.md:2: README front matter is not valid YAML"),
    ("ragged CSV row", ["validate", "ragged.csv"], "ragged.csv:2: row has 9 cells, the header has 8"),
    ("not gzip", ["validate", "notgz.jsonl.gz"], "notgz.jsonl.gz"),
    ("zip bomb .eval", ["import", "inspect", "bomb.eval", "-o", "i.jsonl"],
     f"limit {MAX_LOG_COMPRESSION_RATIO}:1"),
    ("integer beyond a float", ["validate", "bigint.jsonl"], "bigint.jsonl:1: field `correct`"),
    ("records nested too deeply", ["validate", "deep.jsonl"], "deep.jsonl:1: JSON nested too deeply"),
    ("meta nested too deeply", [*C, "-o", "o.json", "--meta", "deep.json"], "deep.json: JSON nested"),
    ("TOML nested too deeply", [*C, "-o", "o.json", "--meta", "deep.toml"], "deep.toml: TOML nested"),
    ("mechanism nested too deeply", [*C, "-o", "o.json", "--mechanism", "deep.json"], "deep.json: "),
    ("meta deeper than its limit", [*C, "-o", "o.json", "--meta", "deep40.json"], "nested deeper than"),
    ("card nested too deeply", ["render", "deep.json"], "deep.json: JSON nested too deeply"),
    # option parsing errors are one line too
    ("unknown option", [*C, "-o", "o.json", "--bogus"], "No such option: --bogus"),
]


@pytest.mark.parametrize(("argv", "needle"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_one_line_exit_2_nothing_written(work: Path, argv: list[str], needle: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    if argv[0] == "import" and argv[1] == "inspect":
        pytest.importorskip("inspect_ai")
    before = _snapshot(work)
    code, _, err = run_cli(argv, capsys)
    assert code == 2, err
    assert "Traceback" not in err
    assert err.startswith("acard: error: ") and err.count("\n") == 1, err
    assert needle in err, err
    assert _snapshot(work) == before  # nothing written, no input changed


def test_bom_csv_and_jsonl_gz_load_like_jsonl(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A spreadsheet's CSV (UTF-8 BOM) and a gzipped JSONL give the same card as the JSONL."""
    for name in ("b", "d"):
        rows = [json.loads(x) for x in (work / f"{name}.jsonl").read_text().splitlines()]
        (work / f"{name}.csv").write_bytes(b"\xef\xbb\xbf" + _csv(rows).encode())
        with gzip.open(work / f"{name}.jsonl.gz", "wt") as fh:
            fh.write((work / f"{name}.jsonl").read_text())
    cards = {}
    for suffix in (".jsonl", ".csv", ".jsonl.gz"):
        code, _, err = run_cli(["card", "-b", f"b{suffix}", "-d", f"d{suffix}", "--resamples", "200",
                                "-o", f"c{suffix}.json"], capsys)
        assert code == 0, err
        c = json.loads((work / f"c{suffix}.json").read_text())
        cards[suffix] = (c["verdict"], c["diagnostics"], c["baseline_gap"], c["defense_gap"])
    assert cards[".csv"] == cards[".jsonl"] == cards[".jsonl.gz"]


def test_metadata_notes_and_types_reach_the_card(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (work / "meta.toml").write_text('title = "t"\nnotes = ["one remark"]\n[recipe]\nlora_rank = 8\n')
    code, _, err = run_cli([*C, "-o", "o.json", "--meta", "meta.toml"], capsys)
    assert code == 0, err
    c = json.loads((work / "o.json").read_text())
    assert c["remarks"] == ["one remark"] and c["recipe"]["lora_rank"] == 8 and c["title"] == "t"


@pytest.mark.parametrize("argv", [
    ["validate", "bad.jsonl"],
    ["card", "-b", "b.jsonl", "-d", "d.jsonl", "-o", "b.jsonl"],
    ["lint-claim", "card.json", "-f", "loop"],
    ["card", "-b", "b.jsonl", "-d", "d.jsonl", "-o", "o.json", "--tau", "nan"],
])
def test_console_entry_point_in_a_subprocess(work: Path, argv: list[str]) -> None:
    """The real process: exit status 2, one stderr line, no traceback, nothing written."""
    before = _snapshot(work)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    r = subprocess.run([sys.executable, "-m", "acceptance_cards", *argv], cwd=work,
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert _snapshot(work) == before


def test_eval_archive_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A .eval archive that would unpack past the limit is refused before inspect opens it."""
    from acceptance_cards._util.errors import InputError
    from acceptance_cards.importers import inspect_logs

    log = Path(__file__).parent / "fixtures" / "inspect" / "smollm2-base.eval"
    inspect_logs.check_log_size(log)  # a real log is far below the limit
    unpacked = sum(m.file_size for m in zipfile.ZipFile(log).infolist())
    monkeypatch.setattr(inspect_logs, "MAX_LOG_UNPACKED_BYTES", unpacked - 1)
    with pytest.raises(InputError, match="smollm2-base.eval: archive unpacks to"):
        inspect_logs.check_log_size(log)
