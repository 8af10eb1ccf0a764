"""Nothing lost, nothing stray: written files follow the umask, and a card's JSON +
Markdown + HTML land as one set, even when the writer fails or is SIGKILLed midway."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from acceptance_cards._util import writes as acio
from acceptance_cards.synthetic import simulate_rows
from helpers import run_cli, write_jsonl

NAMES = ("card.json", "card.md", "card.html")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    rb, rd = simulate_rows(seed=1, n_heldout=10, n_fresh=20)
    write_jsonl(tmp_path / "b.jsonl", rb)
    write_jsonl(tmp_path / "d.jsonl", rd)
    return tmp_path


def _argv(d: Path, seed: int) -> list[str]:
    return ["card", "-b", str(d / "b.jsonl"), "-d", str(d / "d.jsonl"), "--resamples", "200",
            "--seed", str(seed), "-o", str(d / "card.json"), "--markdown", str(d / "card.md"),
            "--html", str(d / "card.html")]


def _set(d: Path) -> tuple[str, ...]:
    return tuple((d / n).read_text() for n in NAMES)


def _stray(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir() if p.name.startswith("."))


def _run(code: str, d: Path, umask: int = 0o022) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.run([sys.executable, "-c", code], cwd=d, env=env, capture_output=True,
                          text=True, timeout=120, preexec_fn=lambda: os.umask(umask))


def _acard(argv: list[str], prelude: str = "") -> str:
    return f"{prelude}\nfrom acceptance_cards.cli import main\nmain({argv!r})\n"


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_written_files_follow_the_umask(folder: Path, umask: int, mode: int) -> None:
    r = _run(_acard(_argv(folder, 1)), folder, umask)
    assert r.returncode == 0, r.stderr
    for n in NAMES:
        assert stat.S_IMODE((folder / n).stat().st_mode) == mode, n


def test_replacing_a_file_keeps_its_mode(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(_argv(folder, 1), capsys)[0] == 0
    (folder / "card.md").chmod(0o640)
    assert run_cli(_argv(folder, 2), capsys)[0] == 0
    assert stat.S_IMODE((folder / "card.md").stat().st_mode) == 0o640


def test_failure_while_staging_keeps_the_old_set(folder: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Disk full on the third file: all three old files remain, and no temp file."""
    assert run_cli(_argv(folder, 1), capsys)[0] == 0
    old = _set(folder)
    real, calls = acio._write_fd, []

    def flaky(fd: int, data: bytes, mode: int) -> None:
        calls.append(fd)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        real(fd, data, mode)

    monkeypatch.setattr(acio, "_write_fd", flaky)
    with pytest.raises(OSError, match="No space"):
        run_cli(_argv(folder, 2), capsys)
    assert _set(folder) == old and not _stray(folder)


def test_sigkill_while_writing_leaves_the_old_set_and_nothing_else(folder: Path) -> None:
    assert _run(_acard(_argv(folder, 1)), folder).returncode == 0
    old = _set(folder)
    prelude = ("import os, signal\nfrom acceptance_cards._util import writes\n"
               "real, n = writes._write_fd, []\n"
               "def w(fd, data, mode):\n    n.append(1)\n    real(fd, data, mode)\n"
               "    if len(n) == 2: os.kill(os.getpid(), signal.SIGKILL)\nwrites._write_fd = w")
    r = _run(_acard(_argv(folder, 2), prelude), folder)
    assert r.returncode == -signal.SIGKILL
    assert _set(folder) == old
    assert not _stray(folder)  # staged files had no name yet


def test_sigkill_between_renames_completes_on_the_next_write(folder: Path) -> None:
    """Killed after the commit point with one file renamed: the journal finishes the set."""
    assert _run(_acard(_argv(folder, 1)), folder).returncode == 0
    old = _set(folder)
    prelude = ("import os, signal\nreal, n = os.replace, []\n"
               "def rep(a, b):\n    n.append(1)\n"
               "    if len(n) == 3: os.kill(os.getpid(), signal.SIGKILL)\n    real(a, b)\n"
               "os.replace = rep")
    r = _run(_acard(_argv(folder, 2), prelude), folder)
    assert r.returncode == -signal.SIGKILL
    torn = _set(folder)
    assert torn[0] != old[0] and torn[1:] == old[1:]  # journal + card.json renamed, then killed
    assert any(n.startswith(acio.JOURNAL_PREFIX) for n in _stray(folder))
    acio.recover(folder / "card.json")  # what every acard write into the folder runs first
    new = _set(folder)
    assert all(x != y for x, y in zip(new, old, strict=True))
    assert json.loads(new[0])["options"]["seed"] == 2 and not _stray(folder)


def test_render_error_writes_nothing(folder: Path, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The HTML renderer fails: the card JSON and Markdown are not replaced either."""
    from acceptance_cards.cli import card_cmds

    assert run_cli(_argv(folder, 1), capsys)[0] == 0
    old = _set(folder)
    real = card_cmds._render

    def render(card: object, fmt: str) -> str:
        if fmt == "html":
            raise RuntimeError("renderer bug")
        return real(card, fmt)

    monkeypatch.setattr(card_cmds, "_render", render)
    with pytest.raises(RuntimeError, match="renderer bug"):  # a bug keeps its traceback
        run_cli(_argv(folder, 2), capsys)
    assert _set(folder) == old and not _stray(folder)


def test_cards_are_standard_json_never_nan(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A non-finite number that reaches a card is written as null, never as NaN/Infinity."""
    from acceptance_cards.card.model import DeployCost, card_to_json, load_card

    assert run_cli(_argv(folder, 1), capsys)[0] == 0
    card = load_card(folder / "card.json")
    bad = card.model_copy(update={"deploy_cost": DeployCost(point=float("nan"), ci_low=float("-inf"),
                                                            ci_high=float("inf"))})

    def strict(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    data = json.loads(card_to_json(bad), parse_constant=strict)
    assert data["deploy_cost"]["point"] is None and data["deploy_cost"]["ci_high"] is None
