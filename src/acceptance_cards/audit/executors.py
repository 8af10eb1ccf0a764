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


def run_ray(
    items: Sequence[T],
    fn: Callable[[T], R],
    *,
    address: str | None = None,
    num_cpus: float = 1.0,
    num_gpus: float = 0.0,
    init_kwargs: dict[str, Any] | None = None,
    on_done: Callable[[int, T, R], None] | None = None,
) -> list[R]:
    """Run ``fn`` over ``items`` as Ray tasks with CPU/GPU requests; results in input order.

    ``address=None`` starts (or joins) a local Ray instance; pass a cluster
    address (``ray://host:10001`` or ``auto``) to use a running cluster. ``fn``
    and the items must be picklable by Ray (module-level functions, plain data).
    """
    ray = require("ray")
    started = False
    if not ray.is_initialized():
        kwargs = {"include_dashboard": False, "log_to_driver": False, **(init_kwargs or {})}
        ray.init(address=address, **kwargs)
        started = True
    try:
        remote = ray.remote(num_cpus=num_cpus, num_gpus=num_gpus, max_retries=0)(fn)
        refs = [remote.remote(item) for item in items]
        index = {ref: i for i, ref in enumerate(refs)}
        results: list[Any] = [None] * len(refs)
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            i = index[ready[0]]
            results[i] = ray.get(ready[0])
            if on_done is not None:
                on_done(i, items[i], results[i])
        return results
    finally:
        if started:
            ray.shutdown()


def run_cells(
    items: Sequence[T],
    fn: Callable[[T], R],
    *,
    executor: ExecutorName = "local",
    address: str | None = None,
    num_cpus: float = 1.0,
    num_gpus: float = 0.0,
    on_done: Callable[[int, T, R], None] | None = None,
) -> list[R]:
    """Dispatch to :func:`run_local` or :func:`run_ray`."""
    if executor == "local":
        return run_local(items, fn, on_done=on_done)
    if executor == "ray":
        return run_ray(items, fn, address=address, num_cpus=num_cpus, num_gpus=num_gpus,
                       on_done=on_done)
    raise ValueError(f"unknown executor {executor!r}")
