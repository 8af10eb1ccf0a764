"""`acard audit`: run a whole audit from a TOML config, showing progress (live, or as log lines)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from ..vocab import ExecutorName, ProgressMode
from .progress import PLAIN_INTERVAL_SECONDS, PlainLog, PlainSteps, Shown, resolve_mode

if TYPE_CHECKING:
    from ..audit.run.config import AuditConfig
    from ..audit.run.pipeline import Progress as StepEvents

_out = Console(highlight=False, soft_wrap=True)


def audit(
    config: Annotated[Path, typer.Argument(help="Audit config (TOML).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output folder.")],
    executor: Annotated[ExecutorName, typer.Option(
        help="local: the cells one after another here; ray: every step its own Ray task "
             "(shared steps once); ray-cells: every cell one Ray task.")] = "local",
    address: Annotated[str | None, typer.Option(
        help="Ray cluster to join (auto, or HOST:PORT of `ray start --head`); default: a Ray "
             "instance started for this run. Every node must see OUTPUT.")] = None,
    plan_only: Annotated[bool, typer.Option("--plan", help="List the cells and stop.")] = False,
    status: Annotated[bool, typer.Option(
        "--status", help="Show which steps are done, running, interrupted or pending in OUTPUT "
                         "(safe while a run is going), and stop.")] = False,
    finished: Annotated[bool, typer.Option(
        "--finished", help="Write cards, matrix, figures and report for the cells that have "
                           "finished so far, run nothing, and stop (safe while a run is going).")] = False,
    threads: Annotated[int | None, typer.Option(
        min=1, help="Local: torch threads (default: one per idle core, at most 2). "
                    "ray: CPUs each model step requests on CPU; ray-cells: CPUs each cell "
                    "task requests (default: 1).")] = None,
    progress: Annotated[ProgressMode, typer.Option(
        help="rich: live display; plain: one timestamped line per step start/finish and "
             f"at most one per {PLAIN_INTERVAL_SECONDS:.0f} s of a long step; auto: rich on a "
             "terminal, plain otherwise (logs, CI, nohup).")] = "auto",
) -> None:
    """Run every cell (train → evaluate → mechanism → card), then matrix, figures and report.

    Re-running the same config does no finished work again; an interrupted run
    resumes where it stopped.
    """
    from .._util.files import dumps_json
    from .._util.threads import pick_threads
    from .._util.writes import atomic_write_text
    from ..audit.report.outputs import write_outputs
    from ..audit.run.config import load_config
    from ..audit.run.pipeline import plan_cells
    from ..audit.run.runner import run_audit

    cfg = load_config(config)
    plans = plan_cells(cfg)
    if plan_only:
        for p in plans:
            _out.print(p.name, markup=False)
        return
    if status:
        _print_status(cfg, output)
        return
    if finished:
        _write_finished(cfg, output)
        return
    with _display(resolve_mode(progress, _out), cfg.audit.name, len(plans)) as (show, cell_done):
        arts, cells = run_audit(cfg, output, executor=executor, address=address, source=config,
                                threads=threads or (pick_threads() if executor == "local" else None),
                                progress=show, on_cell=lambda a: cell_done(a.plan.name))
        out = write_outputs(cells, output)
    timings = {a.plan.name: {"steps": a.timings, "cached": a.cached} for a in arts}
    atomic_write_text(output / "timings.json", dumps_json(timings, indent=2, sort_keys=True) + "\n")
    for c in cells:
        _out.print(f"{c.name}: {c.card.verdict} — {c.card.summary}", markup=False)
    _out.print(f"report: {out.report}", markup=False)


CellDone = Callable[[str], None]


@contextmanager
def _display(shown: Shown, name: str, n_cells: int) -> Iterator[tuple[StepEvents | None, CellDone]]:
    """The audit's progress display; yields (step-event sink, called-per-finished-cell)."""
    if shown == "none":
        yield None, lambda cell: None
        return
    if shown == "plain":
        log = PlainLog()
        finished: list[str] = []

        def plain_cell(cell: str) -> None:
            finished.append(cell)
            log.line(f"cell   {cell} finished ({len(finished)} of {n_cells} cells)")

        log.line(f"audit {name}: {n_cells} cells")
        yield PlainSteps(log), plain_cell
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=_out, transient=False) as bar:
        cells_task = bar.add_task(f"audit {name}: cells", total=n_cells)
        step_tasks: dict[tuple[str, str], TaskID] = {}

        def rich_step(cell: str, step: str, state: str, done: int, total: int) -> None:
            key = (cell, step)
            if key not in step_tasks:
                step_tasks[key] = bar.add_task(f"  {cell}: {step}", total=None)
            tid = step_tasks[key]
            if state == "advance":
                bar.update(tid, completed=done, total=total or None)
            elif state in ("done", "cached"):
                t = bar.tasks[tid].total or 1
                bar.update(tid, completed=t, total=t,
                           description=f"  {cell}: {step}" + (" (cached)" if state == "cached" else ""))

        yield rich_step, lambda cell: bar.advance(cells_task)


def _write_finished(cfg: AuditConfig, output: Path) -> None:
    from ..audit.report.outputs import write_outputs
    from ..audit.run.runner import finished_cells

    with _out.status("loading the finished cells"):
        cells, unfinished = finished_cells(cfg, output)
    with _out.status("writing the interim outputs") as spinner:
        out = write_outputs(cells, output, unfinished=unfinished,
                            progress=lambda msg: spinner.update(msg))
    for c in cells:
        _out.print(f"{c.name}: {c.card.verdict} — {c.card.summary}", markup=False)
    _out.print(f"{len(cells)} of {len(cells) + len(unfinished)} cells finished; "
               f"report: {out.report}", markup=False)


def _print_status(cfg: AuditConfig, output: Path) -> None:
    from rich.markup import escape
    from rich.table import Table

    from ..audit.run.status import KINDS, STATES, audit_status

    st = audit_status(cfg, output)
    counts, seconds = st.counts(), st.seconds_done()
    table = Table(title=escape(f"audit {st.name} in {output}"))
    table.add_column("step")
    for state in STATES:
        table.add_column(state, justify="right")
    table.add_column("seconds (done)", justify="right")
    for kind in KINDS:
        table.add_row(kind, *(str(counts[kind][s]) for s in STATES), f"{seconds[kind]:.0f}")
    _out.print(table)
    for s in (*st.steps, *st.others):
        if s.state in ("running", "partial"):
            _out.print(f"{s.state}: {s.label} ({s.detail})", markup=False)
    _out.print(f"cells complete: {len(st.cells_done)} of {len(st.cells)}", markup=False)
    left = st.remaining()
    if left.n_estimated or left.n_unknown:
        unknown = (f"; {left.n_unknown} steps with no comparable finished step not included"
                   if left.n_unknown else "")
        _out.print(f"step time left ≈ {left.seconds / 3600:.1f} h over {left.n_estimated} steps "
                   f"(mean of finished steps of the same kind, model and recipe{unknown}); "
                   "divide by the cells running side by side for wall time", markup=False)


def register(app: typer.Typer) -> None:
    app.command("audit")(audit)
