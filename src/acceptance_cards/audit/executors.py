"""Where cells run: locally in sequence, or as Ray tasks.

Both executors call the same cell function with the same arguments and the
cells share one artifact store (its per-step locks make concurrent workers
reuse each other's finished steps), so local and Ray runs produce identical
artifacts and results. There is no home-made scheduler: Ray places the tasks
according to their CPU/GPU requests.

Example:
    >>> run_local([1, 2, 3], lambda x: x * x)
    [1, 4, 9]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar

from .._lazy import require

T = TypeVar("T")
R = TypeVar("R")
ExecutorName = Literal["local", "ray"]


def run_local(
    items: Sequence[T],
    fn: Callable[[T], R],
    *,
    on_done: Callable[[int, T, R], None] | None = None,
) -> list[R]:
    """Run ``fn`` over ``items`` in order, in this process."""
    out: list[R] = []
    for i, item in enumerate(items):
        r = fn(item)
        out.append(r)
        if on_done is not None:
            on_done(i, item, r)
    return out


#: Seconds between two "advance" events of one step sent from a Ray worker
#: (start/done events always go): a display needs no more, and each is a round trip.
EVENT_INTERVAL = 1.0


class EventSink:
    """A picklable callable that forwards a Ray task's events to the driver's queue.

    Best effort: a lost event only makes a progress bar lag, so a failure to
    send never fails the task doing the work.
    """

    def __init__(self, queue: Any) -> None:
        self.queue = queue
        self._last: dict[Any, float] = {}

    def __call__(self, *event: Any) -> None:
        import time

        now = time.monotonic()
        if "advance" in event:
            ident = event[:2]
            if now - self._last.get(ident, float("-inf")) < EVENT_INTERVAL:
                return
            self._last[ident] = now
        try:
            self.queue.put_nowait(event)
        except Exception:  # noqa: BLE001 - see the class docstring
            return


def run_ray(
    items: Sequence[T],
    fn: Callable[..., R],
    *,
    address: str | None = None,
    num_cpus: float = 1.0,
    num_gpus: float = 0.0,
    init_kwargs: dict[str, Any] | None = None,
    on_done: Callable[[int, T, R], None] | None = None,
    on_event: Callable[..., None] | None = None,
) -> list[R]:
    """Run ``fn`` over ``items`` as Ray tasks with CPU/GPU requests; results in input order.

    ``address=None`` starts (or joins) a local Ray instance; pass a cluster
    address (``ray://host:10001`` or ``auto``) to use a running cluster. ``fn``
    and the items must be picklable by Ray (module-level functions, plain data).
    With ``on_event``, each task is called as ``fn(item, emit)``: what a task
    passes to ``emit(*event)`` reaches ``on_event(*event)`` in this process
    while the tasks run (through a Ray queue that requests no CPU).
    """
    ray = require("ray")
    started = False
    if not ray.is_initialized():
        kwargs = {"include_dashboard": False, "log_to_driver": False, **(init_kwargs or {})}
        ray.init(address=address, **kwargs)
        started = True
    try:
        remote = ray.remote(num_cpus=num_cpus, num_gpus=num_gpus, max_retries=0)(fn)
        queue = None
        if on_event is not None:
            from ray.util.queue import Queue

            queue = Queue(actor_options={"num_cpus": 0})
            refs = [remote.remote(item, EventSink(queue)) for item in items]
        else:
            refs = [remote.remote(item) for item in items]
        index = {ref: i for i, ref in enumerate(refs)}
        results: list[Any] = [None] * len(refs)
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1, timeout=EVENT_INTERVAL)
            if queue is not None and on_event is not None:
                _drain(queue, on_event)
            for ref in ready:
                i = index[ref]
                results[i] = ray.get(ref)
                if on_done is not None:
                    on_done(i, items[i], results[i])
        return results
    finally:
        if started:
            ray.shutdown()


def _drain(queue: Any, on_event: Callable[..., None]) -> None:
    """Hand every queued event to ``on_event``, oldest first."""
    n = queue.qsize()
    if n:
        for event in queue.get_nowait_batch(n):
            on_event(*event)


def run_cells(
    items: Sequence[T],
    fn: Callable[..., R],
    *,
    executor: ExecutorName = "local",
    address: str | None = None,
    num_cpus: float = 1.0,
    num_gpus: float = 0.0,
    on_done: Callable[[int, T, R], None] | None = None,
    on_event: Callable[..., None] | None = None,
) -> list[R]:
    """Dispatch to :func:`run_local` or :func:`run_ray`.

    With ``on_event`` both call ``fn(item, emit)``; locally ``emit`` is ``on_event`` itself.
    """
    if executor == "local":
        if on_event is not None:
            sink = on_event
            return run_local(items, lambda item: fn(item, sink), on_done=on_done)
        return run_local(items, fn, on_done=on_done)
    if executor == "ray":
        return run_ray(items, fn, address=address, num_cpus=num_cpus, num_gpus=num_gpus,
                       on_done=on_done, on_event=on_event)
    raise ValueError(f"unknown executor {executor!r}")
