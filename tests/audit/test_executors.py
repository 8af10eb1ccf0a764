"""Executors: the local one runs in order; the Ray one keeps to its CPU requests.

A Ray task that blocks in ``ray.get`` hands its CPU back and the scheduler
starts another task on it. The progress events therefore must not block: with
the old queue-based sink, three 1-CPU tasks on a 1-CPU node ran side by side.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from acceptance_cards.audit.run.executors import EVENT_INTERVAL, run_cells, run_local


def test_run_local_in_order_with_callbacks() -> None:
    done: list[tuple[int, int, int]] = []
    assert run_local([3, 1, 2], lambda x: 10 * x, on_done=lambda i, x, r: done.append((i, x, r))) \
        == [30, 10, 20]
    assert done == [(0, 3, 30), (1, 1, 10), (2, 2, 20)]


def test_run_cells_local_passes_the_event_sink() -> None:
    events: list[tuple[Any, ...]] = []

    def fn(item: int, emit: Any) -> int:
        emit("cell", item, "done")
        return item

    assert run_cells([1, 2], fn, on_event=lambda *e: events.append(e)) == [1, 2]
    assert events == [("cell", 1, "done"), ("cell", 2, "done")]


def test_ray_tasks_never_exceed_their_cpus_and_events_arrive_in_order() -> None:
    pytest.importorskip("ray")
    from acceptance_cards.audit.run.executors import run_ray

    # long enough for Ray to start a second worker process if a CPU were handed back
    n_events, pause = 50, 0.05

    # nested so Ray pickles it by value (workers need not import the tests)
    def work(item: int, emit: Any) -> tuple[float, float]:
        start = time.time()
        emit("step", item, "start")
        for k in range(n_events):
            emit("step", item, "advance", k)
            emit("step", item, "progress", k)
            time.sleep(pause)
        emit("step", item, "done")
        return start, time.time()

    events: list[tuple[Any, ...]] = []
    done: list[int] = []
    out = run_ray([0, 1, 2], work, num_cpus=1, init_kwargs={"num_cpus": 1},
                  on_event=lambda *e: events.append(e), on_done=lambda i, x, r: done.append(i))
    assert sorted(done) == [0, 1, 2]
    spans = sorted(out)
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert end <= start, "two 1-CPU tasks ran at once on a 1-CPU node"
    for item, (start, end) in enumerate(out):
        mine = [e[2:] for e in events if e[1] == item]
        # every non-throttled event arrives, in the order the task sent it
        assert [e for e in mine if e[0] != "advance"] == \
            [("start",), *[("progress", k) for k in range(n_events)], ("done",)]
        advances = [e[1] for e in mine if e[0] == "advance"]
        # throttled to one per EVENT_INTERVAL over the task's measured run time
        assert advances[0] == 0 and advances == sorted(advances)
        assert 2 <= len(advances) <= (end - start) / EVENT_INTERVAL + 1
