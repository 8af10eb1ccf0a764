"""Progress of long commands: a live display on a terminal, plain timestamped lines elsewhere.

A live (rich) display redraws one screen in place; written to a file, a pipe
or a CI log it shows nothing until the command ends — a redirected ``make demo``
was silent for 20 minutes. Where the output is not a terminal, progress is
instead one line per event, each starting with its UTC time::

    2026-11-30T05:18:42Z start  tiny/attack-aware/s1: train adamw sandbagging
    2026-11-30T05:19:12Z        tiny/attack-aware/s1: train adamw sandbagging 40/150 training steps (30 s)
    2026-11-30T05:20:35Z done   tiny/attack-aware/s1: train adamw sandbagging (113.2 s)

A long step adds a line at most every :data:`PLAIN_INTERVAL_SECONDS`.

Example:
    >>> import io
    >>> buf = io.StringIO()
    >>> log = PlainSteps(PlainLog(buf, now=lambda: "T"))
    >>> log("cell", "train adamw sandbagging", "start", 0, 0)
    >>> log("cell", "train adamw sandbagging", "advance", 1, 3)   # throttled: too soon
    >>> buf.getvalue()
    'T start  cell: train adamw sandbagging\\n'
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Literal, TextIO, cast

from rich.console import Console

from ..vocab import PROGRESS_MODES, ProgressMode

#: Least seconds between two periodic lines of one step (or one command) in
#: plain mode: enough to see a long step move in a log, few enough lines that
#: an hour-long fine-tune adds ~120 of them.
PLAIN_INTERVAL_SECONDS = 30.0

#: What a step's ``done/total`` counts, by the first word of its label.
UNITS = {"train": "training steps", "eval": "records", "mechanism": "calibration items"}


Shown = Literal["plain", "rich", "none"]


def resolve_mode(mode: ProgressMode, console: Console) -> Shown:
    """The display to use: ``auto`` becomes ``rich`` only when ``console`` is a terminal.

    Example:
        >>> import io
        >>> resolve_mode("auto", Console(file=io.StringIO()))
        'plain'
    """
    if mode not in PROGRESS_MODES:
        raise ValueError(f"unknown progress mode {mode!r}; one of {', '.join(PROGRESS_MODES)}")
    if mode == "auto":
        return "rich" if console.is_terminal else "plain"
    return cast(Shown, str(mode))


def utc_stamp() -> str:
    """The current UTC time, to the second: ``2026-11-30T05:18:42Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class PlainLog:
    """Writes ``<UTC time> <message>`` lines to ``stream`` (default: stdout at call time), flushed."""

    def __init__(self, stream: TextIO | None = None, *, now: Callable[[], str] = utc_stamp) -> None:
        self.stream = stream
        self.now = now

    def line(self, message: str) -> None:
        out = self.stream if self.stream is not None else sys.stdout
        out.write(f"{self.now()} {message}\n")
        out.flush()  # a log read while the command runs must show the line now


class Throttle:
    """True at most once per ``interval`` seconds per key (counted from the key's start)."""

    def __init__(self, interval: float = PLAIN_INTERVAL_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self.started: dict[object, float] = {}
        self._last: dict[object, float] = {}

    def start(self, key: object) -> None:
        self.started[key] = self._last[key] = self.clock()

    def due(self, key: object) -> bool:
        now = self.clock()
        if now - self._last.setdefault(key, now) < self.interval:
            return False
        self._last[key] = now
        return True

    def elapsed(self, key: object) -> float:
        return self.clock() - self.started.get(key, self.clock())


class PlainSteps:
    """An audit's step events (``progress(cell, step, state, done, total)``) as plain lines."""

    def __init__(self, log: PlainLog, throttle: Throttle | None = None) -> None:
        self.log = log
        self.throttle = throttle or Throttle()

    def __call__(self, cell: str, step: str, state: str, done: int, total: int) -> None:
        key = (cell, step)
        if state == "start":
            self.throttle.start(key)
            self.log.line(f"start  {cell}: {step}")
        elif state == "advance":
            if self.throttle.due(key):
                unit = UNITS.get(step.split(" ", 1)[0], "done")
                self.log.line(f"       {cell}: {step} {done}/{total} {unit} "
                              f"({self.throttle.elapsed(key):.0f} s)")
        elif state == "done":
            self.log.line(f"done   {cell}: {step} ({self.throttle.elapsed(key):.1f} s)")
        elif state == "cached":
            self.log.line(f"cached {cell}: {step}")


Update = Callable[..., None]


@contextmanager
def task_progress(console: Console, mode: ProgressMode, description: str,
                  total: int | None) -> Iterator[Update]:
    """One long task's progress; yields ``update(done, total=None, description=None)``.

    ``rich``: a bar with elapsed and remaining time. ``plain``: a start line, a
    line at most every :data:`PLAIN_INTERVAL_SECONDS`, and a finish line.
    """
    shown = resolve_mode(mode, console)
    if shown == "rich":
        from rich.progress import MofNCompleteColumn, Progress, TimeRemainingColumn

        columns = (*Progress.get_default_columns()[:-1], MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=console, transient=False) as bar:
            tid = bar.add_task(description, total=total)

            def rich_update(done: int, total: int | None = None, description: str | None = None) -> None:
                # rich keeps a field passed as None unchanged
                bar.update(tid, completed=done, total=total, description=description)

            yield rich_update
        return
    if shown == "none":
        yield lambda *a, **k: None
        return
    task = _PlainTask(description, total)
    task.log.line(f"start  {description}" + (f" ({total})" if total else ""))
    yield task.update
    task.log.line(f"done   {task.where()} ({task.throttle.elapsed(None):.1f} s)")


class _PlainTask:
    """A single task's plain lines (see :func:`task_progress`)."""

    def __init__(self, description: str, total: int | None) -> None:
        self.log, self.throttle = PlainLog(), Throttle()
        self.description, self.total, self.done = description, total, 0
        self.throttle.start(None)

    def where(self) -> str:
        return f"{self.description} {self.done}/{self.total or '?'}"

    def update(self, done: int, total: int | None = None, description: str | None = None) -> None:
        self.done = done
        self.total = total if total is not None else self.total
        self.description = description or self.description
        if self.throttle.due(None):
            self.log.line(f"       {self.where()} ({self.throttle.elapsed(None):.0f} s)")
