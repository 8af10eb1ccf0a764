"""Every attempt at a step, timed durably in its work folder: a resumed step's time is the sum.

A step killed with SIGKILL and resumed later has run twice; the time of the
killed attempt was spent and must count. Timing only the call that finished
(as the store once did) made a fine-tune resumed at step 130 of 150 record
168 s. So each attempt is logged in ``<work>/.attempts.json`` from the moment
it starts: a heartbeat thread rewrites its elapsed seconds every
:data:`HEARTBEAT_SECONDS` (an atomic write, so a kill leaves the previous
complete file), and the end of the call writes its final figure. A killed
attempt therefore counts up to its last heartbeat — at most one interval is
lost. The file is a dot-file, so it is not among the step's hashed outputs.

Example:
    >>> import tempfile, pathlib
    >>> work = pathlib.Path(tempfile.mkdtemp())
    >>> with AttemptLog(work) as log:
    ...     pass
    >>> [a["end"] for a in log.attempts], total_seconds(log.attempts) >= 0
    (['finished'], True)
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from ..._util.writes import atomic_write_text

#: Seconds between two heartbeats of a running attempt: the most run time a
#: SIGKILL can take off the recorded total. A heartbeat is one small atomic file
#: write, so a few seconds cost nothing beside a step that takes minutes.
HEARTBEAT_SECONDS = 5.0

#: The attempt log inside a step's work folder (it moves with the folder into ``steps/``).
ATTEMPTS_FILE = ".attempts.json"


def read_attempts(work: Path) -> list[dict[str, Any]]:
    """The attempts logged in ``work`` (empty when there is no readable log)."""
    try:
        data = json.loads((Path(work) / ATTEMPTS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [a for a in data if isinstance(a, dict)] if isinstance(data, list) else []


def total_seconds(attempts: list[dict[str, Any]]) -> float:
    """The summed run time of ``attempts`` (killed ones up to their last heartbeat)."""
    return float(sum(float(a.get("seconds", 0.0)) for a in attempts))


def attempt_end(exc_type: type[BaseException] | None) -> str:
    """How an attempt that raised ``exc_type`` (None: returned) ended.

    An error (an :class:`Exception`) is ``failed``. A ``SystemExit`` or
    ``KeyboardInterrupt`` is ``interrupted``, like a SIGKILL: the step was stopped
    from outside and a re-run resumes it. A Ray worker whose driver died is stopped
    with SIGTERM, which Ray turns into ``SystemExit``; Ctrl-C is ``KeyboardInterrupt``.

    Example:
        >>> attempt_end(None), attempt_end(ValueError), attempt_end(KeyboardInterrupt)
        ('finished', 'failed', 'interrupted')
    """
    if exc_type is None:
        return "finished"
    return "failed" if issubclass(exc_type, Exception) else "interrupted"


class AttemptLog:
    """Context manager timing one attempt at a step in ``work`` (see the module docstring).

    Entering marks earlier attempts still logged as ``running`` as ``interrupted``
    (the caller holds the step's lock, so no one else runs it), appends this
    attempt and starts the heartbeat; leaving stops it and records how it ended
    (:func:`attempt_end`) with the final seconds.
    """

    def __init__(self, work: Path, *, heartbeat: float = HEARTBEAT_SECONDS) -> None:
        self.work = Path(work)
        self.heartbeat = heartbeat
        self.attempts: list[dict[str, Any]] = []
        self._t0 = self._cpu0 = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> AttemptLog:
        self.attempts = read_attempts(self.work)
        for a in self.attempts:
            if a.get("end") == "running":
                a["end"] = "interrupted"
        self.attempts.append({
            # to the millisecond: a benchmark reads which steps ran side by side from these
            "started": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "host": socket.gethostname(), "pid": os.getpid(), "seconds": 0.0, "end": "running"})
        self._t0, self._cpu0 = time.monotonic(), time.process_time()
        self._write()
        self._thread = threading.Thread(target=self._beat, name="step-heartbeat", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._write(end=attempt_end(exc_type))

    @property
    def seconds(self) -> float:
        """The summed seconds of every attempt, this one as of its last write."""
        return total_seconds(self.attempts)

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat):
            self._write()

    def _write(self, end: str | None = None) -> None:
        with self._lock:
            current = self.attempts[-1]
            current["seconds"] = round(time.monotonic() - self._t0, 3)
            # this process's CPU time (all its threads): a step runs alone in its process
            current["cpu_seconds"] = round(time.process_time() - self._cpu0, 3)
            if end is not None:
                current["end"] = end
            atomic_write_text(self.work / ATTEMPTS_FILE, json.dumps(self.attempts, indent=1) + "\n")
