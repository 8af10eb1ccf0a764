"""How many CPU threads torch should use on this machine right now (torch-free).

The audit CLI decides this before torch is imported, so it lives outside the
evidence layer. The core count is read from the machine (the CPUs this process
may run on), never assumed.

Example:
    >>> 1 <= pick_threads() <= available_cores()
    True
"""

from __future__ import annotations

import os

__all__ = ["available_cores", "pick_threads"]


def available_cores() -> int:
    """CPU cores this process may run on: its CPU affinity where the OS reports one
    (a container or ``taskset`` may allow fewer than the machine has), else ``os.cpu_count()``.

    Example:
        >>> available_cores() >= 1
        True
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no affinity API (macOS, Windows)
        return os.cpu_count() or 1


def pick_threads(*, max_threads: int | None = None) -> int:
    """Torch CPU threads for this machine right now: one per idle core.

    On a shared, oversubscribed machine (1-minute load average at or above the
    core count) every parallel region waits for a descheduled thread: measured
    on a 2-core machine, 2 threads ran SmolLM2 3x *slower* than 1. So: one
    thread per idle core (cores minus the load average, rounded), at least 1,
    at most ``max_threads`` when given.

    Example:
        >>> pick_threads(max_threads=1)
        1
    """
    cores = available_cores()
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        load = 0.0
    cap = cores if max_threads is None else max(1, min(max_threads, cores))
    return max(1, min(cap, int(cores - load + 0.5)))
