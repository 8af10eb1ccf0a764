"""How many CPU threads torch should use on this machine right now (torch-free).

The audit CLI decides this before torch is imported, so it lives outside the
evidence layer.
"""

from __future__ import annotations

import os

__all__ = ["MAX_THREADS", "pick_threads"]

#: Most torch threads evaluation uses (the machine has 2 cores).
MAX_THREADS = 2


def pick_threads(*, max_threads: int = MAX_THREADS) -> int:
    """Torch CPU threads for this machine right now.

    On a shared, oversubscribed machine (1-minute load average at or above the
    core count) every parallel region waits for a descheduled thread: measured
    here, 2 threads ran SmolLM2 3x *slower* than 1. So: one thread per idle core,
    at least 1, at most ``max_threads``.

    Example:
        >>> 1 <= pick_threads() <= MAX_THREADS
        True
    """
    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = 0.0
    return max(1, min(max_threads, cores, int(cores - load + 0.5)))
