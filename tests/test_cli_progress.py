"""Progress where output is not a terminal: timestamped lines, long steps throttled."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from acceptance_cards.cli.progress import (
    PLAIN_INTERVAL_SECONDS,
    PlainLog,
    PlainSteps,
    Throttle,
    resolve_mode,
    task_progress,
)

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_auto_is_plain_unless_a_terminal() -> None:
    pipe = Console(file=io.StringIO())
    tty = Console(file=io.StringIO(), force_terminal=True)
    assert resolve_mode("auto", pipe) == "plain" and resolve_mode("auto", tty) == "rich"
    for mode in ("plain", "rich", "none"):
        assert resolve_mode(mode, tty) == mode == resolve_mode(mode, pipe)
    with pytest.raises(ValueError, match="unknown progress mode 'fancy'"):
        resolve_mode("fancy", pipe)  # type: ignore[arg-type]


def test_step_lines_are_timestamped_and_advances_throttled() -> None:
    buf, clock = io.StringIO(), Clock()
    steps = PlainSteps(PlainLog(buf), Throttle(clock=clock))
    steps("m/r/s1", "split", "cached", 1, 1)
    steps("m/r/s1", "train adamw sandbagging", "start", 0, 0)
    # one advance per simulated second for 95 s: a line only every interval
    for s in range(1, 96):
        clock.t += 1.0
        steps("m/r/s1", "train adamw sandbagging", "advance", s, 150)
    steps("m/r/s1", "train adamw sandbagging", "done", 1, 1)
    lines = buf.getvalue().splitlines()
    assert all(re.match(STAMP + " ", line) for line in lines), lines
    body = [line.split(" ", 1)[1] for line in lines]
    assert body[0] == "cached m/r/s1: split"
    assert body[1] == "start  m/r/s1: train adamw sandbagging"
    n = int(95 // PLAIN_INTERVAL_SECONDS)
    ticks = [int(k * PLAIN_INTERVAL_SECONDS) for k in range(1, n + 1)]
    assert body[2:-1] == [f"       m/r/s1: train adamw sandbagging {t}/150 training steps ({t} s)"
                          for t in ticks]
    assert body[-1] == "done   m/r/s1: train adamw sandbagging (95.0 s)"


def test_interleaved_steps_are_throttled_each_on_its_own() -> None:
    buf, clock = io.StringIO(), Clock()
    steps = PlainSteps(PlainLog(buf, now=lambda: "T"), Throttle(clock=clock))
    steps("a", "eval x", "start", 0, 0)
    clock.t += PLAIN_INTERVAL_SECONDS / 2
    steps("b", "eval y", "start", 0, 0)
    clock.t += PLAIN_INTERVAL_SECONDS / 2
    steps("a", "eval x", "advance", 5, 10)
    steps("b", "eval y", "advance", 5, 10)  # only half an interval since its start
    assert buf.getvalue().splitlines()[2:] == ["T        a: eval x 5/10 records (30 s)"]


def test_task_progress_plain_and_none(capsys: pytest.CaptureFixture[str]) -> None:
    pipe = Console(file=io.StringIO())
    with task_progress(pipe, "auto", "sandbagging/heldout records", 4) as tick:
        for k in range(1, 5):
            tick(k)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" ", 1)[1] for line in lines][0] == "start  sandbagging/heldout records (4)"
    assert re.fullmatch(STAMP + r" done   sandbagging/heldout records 4/4 \(\d+\.\d s\)", lines[-1])
    assert len(lines) == 2  # a fast task: no periodic line
    with task_progress(pipe, "none", "quiet", 4) as tick:
        tick(4)
    assert capsys.readouterr().out == ""
