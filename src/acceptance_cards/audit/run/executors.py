"""Where cells run: locally in sequence, or each cell as one Ray task.

(Step-level Ray scheduling, where every step is its own task, is in :mod:`.ray_steps`.)

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

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from ..._util.lazy import require
from ...vocab import ExecutorName

T = TypeVar("T")
R = TypeVar("R")


#: How the executors start Ray: no dashboard, no worker logs or Ray's own INFO and
#: WARNING lines on the driver's stderr (our progress lines and, on bad input, the
#: one error line are what the user reads there; Ray's logs stay in its session folder).
RAY_INIT_QUIET: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                  "logging_level": logging.ERROR}


def task_result(ray: Any, ref: Any) -> Any:
    """``ray.get(ref)``, re-raising the task's own error rather than Ray's wrapper.

    A step that fails on bad input raises :class:`InputError` inside its task;
    Ray wraps it (and wraps it again in every task that depended on it) with
    the remote traceback in the message. Unwrapped, the CLI prints it as the
    one line naming file and field that every bad input gets (exit 2).
    """
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        raise root_cause(exc, ray.exceptions.RayTaskError) from None


def root_cause(exc: BaseException, wrapper: type[BaseException]) -> BaseException:
    """The innermost error under nested ``wrapper`` errors (Ray keeps it as ``.cause``).

    Example:
        >>> class Wrap(Exception):
        ...     def __init__(self, cause): self.cause = cause
        >>> root_cause(Wrap(Wrap(ValueError("bad"))), Wrap)
        ValueError('bad')
    """
    for _ in range(64):  # a chain of failed dependencies is never this deep
        cause = getattr(exc, "cause", None)
        if not isinstance(exc, wrapper) or not isinstance(cause, BaseException):
            break
        exc = cause
    return exc


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


class Mailbox:
    """Ray actor body (0 CPU) holding the events workers post, in the order each worker sent them.

    Ray runs one caller's calls on a synchronous actor in submission order, so
    a worker's "start", "advance" and "done" events arrive in that order.
    """

    def __init__(self) -> None:
        self._events: list[tuple[Any, ...]] = []

    def post(self, event: tuple[Any, ...]) -> None:
        self._events.append(event)

    def take(self) -> list[tuple[Any, ...]]:
        events, self._events = self._events, []
        return events

    def ping(self) -> None:
        """Returns once every call this caller made before it has run."""


class EventSink:
    """A picklable callable that forwards a Ray task's events to the driver's mailbox.

    Posting is fire-and-forget: the task never waits on ``ray.get``. A task
    blocked in ``ray.get`` hands its CPU back to the scheduler, which then
    starts another task on it; when the first resumes, the node runs more
    tasks than it has CPUs. Best effort too: a lost event only makes a
    progress bar lag, so a failure to send never fails the task doing the work.
    """

    def __init__(self, mailbox: Any) -> None:
        self.mailbox = mailbox
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
            self.mailbox.post.remote(event)
        except Exception:  # noqa: BLE001 - see the class docstring
            return

    def flush(self) -> None:
        """Wait until every event posted so far is in the mailbox (call when the work is done).

        This is the one ``ray.get`` a task makes: after its work, so the CPU it
        hands back is one it no longer uses.
        """
        import ray

        try:
            ray.get(self.mailbox.ping.remote())
        except Exception:  # noqa: BLE001 - see the class docstring
            return


def _run_with_events(fn: Callable[..., R], item: Any, mailbox: Any) -> R:
    """Ray task body: ``fn(item, sink)``, its events all posted before the task returns."""
    sink = EventSink(mailbox)
    try:
        return fn(item, sink)
    finally:
        sink.flush()


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
    while the tasks run (through a :class:`Mailbox` actor that requests no CPU).
    """
    with ray_session(address, init_kwargs) as ray:
        options = {"num_cpus": num_cpus, "num_gpus": num_gpus, "max_retries": 0}
        mailbox = None
        if on_event is not None:
            mailbox = ray.remote(num_cpus=0)(Mailbox).remote()
            with_events = ray.remote(**options)(_run_with_events)
            refs = [with_events.remote(fn, item, mailbox) for item in items]
        else:
            refs = [ray.remote(**options)(fn).remote(item) for item in items]
        done = None if on_done is None else (lambda i, r: on_done(i, items[i], r))
        return gather(ray, {ref: i for i, ref in enumerate(refs)}, mailbox=mailbox,
                      on_event=on_event, on_ready=done)


@contextmanager
def ray_session(address: str | None, init_kwargs: dict[str, Any] | None = None) -> Iterator[Any]:
    """The ``ray`` module, initialised here (quietly) if this process has no Ray session yet.

    A session started here is shut down on leaving; a caller's own session is used as
    it is and left running.

    Example:
        >>> with ray_session(None) as ray:  # doctest: +SKIP
        ...     ray.is_initialized()
        True
    """
    ray = require("ray")
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, **{**RAY_INIT_QUIET, **(init_kwargs or {})})
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def gather(ray: Any, index: Mapping[Any, int], *, mailbox: Any = None,
           on_event: Callable[..., None] | None = None,
           on_ready: Callable[[int, Any], None] | None = None) -> list[Any]:
    """Wait for every task of ``index`` (its ref → its place in the result), handing on
    the tasks' events while waiting; each result at its place.

    ``on_ready(place, result)`` is called as each task finishes. A failed task raises
    its own error (:func:`task_result`), not Ray's wrapper.
    """
    if sorted(index.values()) != list(range(len(index))):  # one task per place, no gaps
        raise ValueError(f"task places must be 0..{len(index) - 1}, each once")
    out: list[Any] = [None] * len(index)
    pending = list(index)
    while pending:
        ready, pending = ray.wait(pending, num_returns=1, timeout=EVENT_INTERVAL)
        deliver_events(ray, mailbox, on_event)
        for ref in ready:
            i = index[ref]
            out[i] = task_result(ray, ref)
            if on_ready is not None:
                on_ready(i, out[i])
    deliver_events(ray, mailbox, on_event)  # the last task's events (flushed before it returned)
    return out


def deliver_events(ray: Any, mailbox: Any, on_event: Callable[..., None] | None) -> None:
    """Hand every event posted so far to ``on_event``, oldest first."""
    if mailbox is not None and on_event is not None:
        for event in ray.get(mailbox.take.remote()):
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
    if executor in ("ray", "ray-cells"):
        return run_ray(items, fn, address=address, num_cpus=num_cpus, num_gpus=num_gpus,
                       on_done=on_done, on_event=on_event)
    raise ValueError(f"unknown executor {executor!r}")
