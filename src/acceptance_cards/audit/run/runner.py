"""Run an audit: every cell's steps through the artifact store, then the cards.

Steps are keyed by their inputs (see :mod:`.keys`), so the baseline is trained
once per (model, seed, task) and shared by every defense cell, a re-run does no
finished work, and changing one recipe re-runs only what depends on it.
Evidence a cell cannot have (no cross task configured) becomes ``not run`` on
its card, never a silent omission.

Three executors (:data:`acceptance_cards.vocab.EXECUTORS`) give the same cards:

- ``local``: the cells one after another in this process;
- ``ray``: every step its own Ray task (:mod:`.ray_steps`), shared steps once;
- ``ray-cells``: every cell one Ray task (:mod:`.executors`), for comparison.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..._util.lazy import require
from ...vocab import ExecutorName
from ..cells import CellResult
from .cell_card import cell_result
from .config import AuditConfig, ModelSpec
from .executors import run_cells
from .pipeline import CellArtifacts, CellPlan, Pipeline, Progress, plan_cells, submission_order
from .store import StepMissing

__all__ = ["Progress", "finished_cells", "run_audit"]


def _cell_worker(args: tuple[dict[str, Any], str, CellPlan, str],
                 emit: Progress | None = None) -> CellArtifacts:
    """Module-level entry point for executors (Ray pickles it by reference).

    ``emit`` receives the cell's step events (Ray forwards them to the driver's display).
    """
    cfg_raw, outdir, plan, device = args
    return Pipeline(AuditConfig.model_validate(cfg_raw), Path(outdir), progress=emit,
                    device=device).run(plan)


def _model_key(model: ModelSpec) -> tuple[str, str]:
    return (model.spec, model.dtype)


def finished_cells(cfg: AuditConfig, outdir: Path) -> tuple[list[CellResult], list[str]]:
    """Cards for the cells whose every step has finished, and the names of the others.

    Runs nothing (a reuse-only store), so it is safe beside a running audit:
    interim results of a long run, or what an interrupted one got done.
    """
    from .status import recorded_models

    outdir = Path(outdir).resolve()
    pipe = Pipeline(cfg, outdir, reuse_only=True)
    # the model inputs finished steps recorded, matched as `--status` does (the config's
    # device type; auto: any): this machine need not have the device, nor load the model
    pipe.known_models = recorded_models(cfg, outdir)
    results, unfinished = [], []
    for plan in plan_cells(cfg):
        if _model_key(pipe.model_spec(plan.model)) not in pipe.known_models:
            unfinished.append(plan.name)  # none of its model steps has finished
            continue
        try:
            results.append(cell_result(cfg, pipe.run(plan), cards_dir=outdir / "cards"))
        except StepMissing:
            unfinished.append(plan.name)
    return results, unfinished


def run_audit(
    cfg: AuditConfig,
    outdir: Path,
    *,
    executor: ExecutorName = "local",
    address: str | None = None,
    progress: Progress | None = None,
    on_cell: Callable[[CellArtifacts], None] | None = None,
    threads: int | None = None,
    source: str | Path | None = None,
) -> tuple[list[CellArtifacts], list[CellResult]]:
    """Run every cell and build the cards; outputs are written by the caller.

    ``threads``: torch threads in this process (local), or the CPUs each Ray
    task of a model step (``ray``) or of a cell (``ray-cells``) requests (Ray
    sets its workers' thread count from the request). ``None`` leaves torch's
    default (local) or requests 1. ``progress`` gets every step's events from
    any executor (Ray workers post theirs to a mailbox actor, "advance" events
    at most once a second per step). ``source`` (the config file) is named by
    errors found before any step starts: the training sections, the device.
    """
    from .steps import check_device, check_train_section

    where = str(source) if source is not None else cfg.audit.name
    check_train_section(cfg, source=where)
    if executor == "local" or address is None:
        check_device(cfg, source=where)  # a cluster's devices are checked against its resources
    plans = plan_cells(cfg)
    outdir = Path(outdir).resolve()  # Ray workers may run in another working directory
    if executor == "ray":
        from .ray_steps import run_steps_ray

        done = run_steps_ray(cfg, outdir, plans, source=where, address=address,
                             cpus=float(threads or 1), on_cell=on_cell, on_event=progress)
        return [a for a, _ in done], [c for _, c in done]
    if executor == "local" and threads:
        require("torch").set_num_threads(threads)
    # both cell executors run the same worker on the same plain data; only Ray reorders
    raw, device = cfg.model_dump(mode="json"), cfg.compute.device
    order = submission_order(plans) if executor == "ray-cells" else list(range(len(plans)))
    gpu = executor == "ray-cells" and device.startswith("cuda")
    # a Ray worker sees only the GPU Ray granted it: device "cuda" is that one
    items = [(raw, str(outdir), plans[i], "cuda" if gpu else device) for i in order]
    submitted = run_cells(items, _cell_worker, executor=executor, address=address,
                          num_cpus=float(threads or 1), num_gpus=1.0 if gpu else 0.0,
                          on_done=(lambda i, p, a: on_cell(a)) if on_cell else None,
                          on_event=progress)
    arts = [a for _, a in sorted(zip(order, submitted, strict=True), key=lambda t: t[0])]
    return arts, [cell_result(cfg, a, cards_dir=outdir / "cards") for a in arts]
