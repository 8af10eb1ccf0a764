"""Step-level Ray scheduling: every step of the audit is its own Ray task.

With cells as the only unit of parallelism, a core idles whenever the cells
left are fewer than the cores, and a cell waiting on another cell's shared
baseline holds its CPU doing nothing. Here each step (split, train, eval,
mechanism, card) is one task with its own resource request, and a step's
inputs are the object refs of the steps it depends on, so Ray starts a step as
soon as its inputs exist and a free CPU (or GPU) is there. Steps shared by
several cells — the split, the baseline fine-tunes and their evaluations,
identical fine-tunes named twice — are submitted once and their refs shared.

Every task calls the same :class:`~.pipeline.Pipeline` step methods on the same
content-addressed store as the local executor, and the card task ends in the
same :func:`~.pipeline.assemble` and :func:`~.cell_card.cell_result`, so the
cards and matrix equal the local executor's. A killed driver leaves finished
steps in the store and interrupted ones in their work folders, and a re-run
resumes them as a local run does.

Requests: model steps (train, eval, mechanism) ask for one GPU each when the
audit's device is CUDA, else ``cpus`` CPUs; the split, the card and the task
that hashes a base model's weights for the step keys (once per model, beside
the split, instead of once per worker) ask for one CPU.

Example:
    >>> ray_device("auto", {"CPU": 2.0, "GPU": 1.0}, source="a.toml")
    'cuda'
    >>> step_options("cuda", cpus=1.0)["model"]
    {'num_cpus': 1.0, 'num_gpus': 1.0}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..._util.errors import InputError
from ...evidence.training.layout import CellLayout
from ..cells import CellResult
from .cell_card import cell_result
from .config import AuditConfig, ModelSpec, RecipeSpec
from .executors import EventSink, Mailbox, gather, ray_session
from .pipeline import (
    CellArtifacts,
    CellPlan,
    Pipeline,
    Progress,
    assemble,
    cell_tasks,
    given_adapter,
    submission_order,
)
from .store import StepResult, canonical_json

__all__ = ["ray_device", "run_steps_ray", "step_options"]

R = TypeVar("R")


def ray_device(requested: str, resources: Mapping[str, float], *, source: str) -> str:
    """The device Ray workers use for ``requested``, checked against the cluster's resources.

    A worker granted one GPU sees only that one, so ``cuda:N`` becomes ``cuda``;
    ``auto`` is ``cuda`` on a cluster with GPUs and is left to each worker otherwise.

    Raises:
        InputError: CUDA was asked for and the cluster has no GPU (names ``source``).
    """
    has_gpu = float(resources.get("GPU", 0.0)) > 0
    if requested.startswith("cuda"):
        if not has_gpu:
            raise InputError(f"device {requested!r} was asked for, but the Ray cluster has no GPU",
                             path=source, field="compute.device")
        return "cuda"
    if requested == "auto" and has_gpu:
        return "cuda"
    return requested


def key_device(device: str) -> str | None:
    """The device type model step keys carry, decided on the driver from :func:`ray_device`.

    ``cuda`` (any index) is ``cuda``; ``auto`` is left to each worker (None: the
    cluster has no GPU, so a worker resolves it to its own CPU/MPS).

    Example:
        >>> key_device("cuda"), key_device("cpu"), key_device("auto")
        ('cuda', 'cpu', None)
    """
    return None if device == "auto" else device.split(":")[0]


def step_options(device: str, *, cpus: float) -> dict[str, dict[str, float]]:
    """Ray resource requests: ``model`` for train/eval/mechanism, ``light`` for the others."""
    gpu = 1.0 if device.startswith("cuda") else 0.0
    return {"model": {"num_cpus": cpus, "num_gpus": gpu}, "light": {"num_cpus": 1.0, "num_gpus": 0.0}}


@dataclass(frozen=True)
class _Context:
    """What every step task needs: the config (plain data), store folder, device, event mailbox."""

    raw: dict[str, Any]
    outdir: str
    device: str
    mailbox: Any = None
    key_device: str | None = None


def _in_pipeline(ctx: _Context, call: Callable[[Pipeline], R],
                 model_in: dict[str, Any] | None = None) -> R:
    """Run ``call`` on a worker's pipeline; its step events all posted before the task returns.

    ``model_in``: the model task's result, so the step does not hash the weights again.
    """
    sink = EventSink(ctx.mailbox) if ctx.mailbox is not None else None
    pipe = Pipeline(AuditConfig.model_validate(ctx.raw), Path(ctx.outdir), progress=sink,
                    device=ctx.device, key_device=ctx.key_device)
    if model_in is not None:
        pipe.known_models[(model_in["spec"], model_in["dtype"])] = model_in
    try:
        return call(pipe)
    finally:
        if sink is not None:
            sink.flush()


def _adapter_path(adapter: str | StepResult) -> Path:
    """A given adapter folder, or the one a finished train step wrote."""
    return CellLayout(adapter.path).adapter if isinstance(adapter, StepResult) else Path(adapter)


# The task bodies: module-level so Ray pickles them by reference. Step results
# arrive as resolved object refs (Ray resolves refs passed as top-level arguments).

def _split_task(ctx: _Context, cell: str) -> StepResult:
    return _in_pipeline(ctx, lambda p: p.split(cell))


def _model_task(ctx: _Context, model: str) -> dict[str, Any]:
    """A base model's key inputs (loading it to hash its weights): once per model, beside the split."""
    return _in_pipeline(ctx, lambda p: p.model_inputs(p.model_spec(model)))


def _train_task(ctx: _Context, cell: str, model: str, recipe: str, seed: int, task: str,
                split: StepResult, model_in: dict[str, Any]) -> StepResult:
    return _in_pipeline(ctx, lambda p: p.train(cell, p.model_spec(model), p.cfg.recipe(recipe),
                                               seed, task, split), model_in)


def _eval_task(ctx: _Context, cell: str, model: str, adapter: str | StepResult, task: str,
               split_name: str, cell_name: str, seed: int, split: StepResult,
               model_in: dict[str, Any]) -> StepResult:
    return _in_pipeline(ctx, lambda p: p.evaluate(cell, p.model_spec(model), _adapter_path(adapter),
                                                  task, split_name, cell_name, seed, split), model_in)


def _mechanism_task(ctx: _Context, cell: str, model: str, recipe: str, adapter: str | StepResult,
                    split: StepResult, model_in: dict[str, Any]) -> StepResult:
    return _in_pipeline(ctx, lambda p: p.mechanism(cell, p.model_spec(model), _adapter_path(adapter),
                                                   p.cfg.recipe(recipe), split), model_in)


def _card_task(ctx: _Context, plan: CellPlan, n_trained: int, eval_roles: list[tuple[str, int]],
               *results: StepResult) -> tuple[CellArtifacts, CellResult]:
    """The card step: ``results`` are the split, the fine-tunes, the evaluations (per role, in
    ``eval_roles`` order) and the mechanism step."""
    split, rest = results[0], list(results[1:])
    trained, rest = rest[:n_trained], rest[n_trained:]
    evals: dict[str, list[StepResult]] = {}
    for role, n in eval_roles:
        evals[role], rest = rest[:n], rest[n:]
    outdir = Path(ctx.outdir)
    art = assemble(plan, outdir / "artifacts", split, trained, evals, rest[0])
    cfg = AuditConfig.model_validate(ctx.raw)
    return art, cell_result(cfg, art, cards_dir=outdir / "cards")


def _model_key(m: ModelSpec) -> tuple[str, str]:
    return (m.spec, m.dtype)


def _recipe_key(r: RecipeSpec) -> tuple[str, str]:
    return (r.recipe_id, canonical_json(r.params))


class _Graph:
    """Submits each distinct step once; what a step depends on goes in as object refs."""

    def __init__(self, ray: Any, cfg: AuditConfig, ctx: _Context, options: dict[str, dict[str, float]]):
        self.ray, self.cfg, self.ctx = ray, cfg, ctx
        self.opts = options
        self.refs: dict[tuple[Any, ...], Any] = {}
        self._remote: dict[Callable[..., Any], Any] = {}

    def _submit(self, ident: tuple[Any, ...], fn: Callable[..., Any], kind: str, label: str,
                *args: Any) -> Any:
        if ident not in self.refs:
            request = self.opts["light" if kind in ("split", "model", "card") else "model"]
            remote = self._remote.setdefault(fn, self.ray.remote(fn))
            self.refs[ident] = remote.options(name=f"{kind} {label}", max_retries=0,
                                              **request).remote(self.ctx, *args)
        return self.refs[ident]

    def cell(self, plan: CellPlan) -> Any:
        """Submit (or share) every step of ``plan``; returns its card task's ref."""
        cfg, c, seed = self.cfg, plan.name, plan.seed
        model = next(m for m in cfg.models if m.name == plan.model)
        split = self._submit(("split",), _split_task, "split", c, c)
        # a model step's key needs the weights hash: computed once, while the split is drawn
        model_in = self._submit(("model", _model_key(model)), _model_task, "model", model.name,
                                model.name)
        trained: list[Any] = []
        evals: list[tuple[str, list[Any]]] = []
        defense: Any = None
        for task, splits, prefix in cell_tasks(cfg):
            for role, rec in (("baseline", cfg.recipe(cfg.audit.baseline_recipe)),
                              ("defense", cfg.recipe(plan.recipe))):
                given = given_adapter(cfg, rec, seed, task)
                adapter: Any = str(given) if given is not None else None
                t_id = ("train", _model_key(model), _recipe_key(rec), seed, task, str(given))
                if given is None:
                    adapter = self._submit(t_id, _train_task, "train", f"{c} {rec.name} {task}",
                                           c, model.name, rec.name, seed, task, split, model_in)
                    trained.append(adapter)
                name = f"{rec.name}-s{seed}"
                evals.append((prefix + role, [
                    self._submit(("eval", t_id, s, name), _eval_task, "eval", f"{c} {name} {task} {s}",
                                 c, model.name, adapter, task, s, name, seed, split, model_in)
                    for s in splits]))
                if prefix == "" and role == "defense":
                    defense = (t_id, adapter)
        mech = self._submit(("mechanism", defense[0]), _mechanism_task, "mechanism", c,
                            c, model.name, plan.recipe, defense[1], split, model_in)
        flat = [split, *trained, *(r for _, refs in evals for r in refs), mech]
        return self._submit(("card", c), _card_task, "card", c, plan, len(trained),
                            [(role, len(refs)) for role, refs in evals], *flat)


def run_steps_ray(
    cfg: AuditConfig,
    outdir: Path,
    plans: list[CellPlan],
    *,
    source: str,
    address: str | None = None,
    cpus: float = 1.0,
    on_cell: Callable[[CellArtifacts], None] | None = None,
    on_event: Progress | None = None,
) -> list[tuple[CellArtifacts, CellResult]]:
    """Run every step of ``plans`` as Ray tasks; each cell's artifacts and card, in plan order.

    ``address=None`` starts (or joins) a local Ray instance; ``auto`` or
    ``HOST:PORT`` joins a running cluster (``ray start --head``), whose nodes
    must all see ``outdir``. ``cpus``: what each model step requests on CPU.
    """
    with ray_session(address) as ray:
        device = ray_device(cfg.compute.device, ray.cluster_resources(), source=source)
        mailbox = ray.remote(num_cpus=0)(Mailbox).remote() if on_event is not None else None
        ctx = _Context(cfg.model_dump(mode="json"), str(outdir), device, mailbox,
                       key_device=key_device(device))
        graph = _Graph(ray, cfg, ctx, step_options(device, cpus=cpus))
        index = {graph.cell(plans[i]): i for i in submission_order(plans)}
        done = None if on_cell is None else (lambda _i, r: on_cell(r[0]))
        out: list[tuple[CellArtifacts, CellResult]] = gather(
            ray, index, mailbox=mailbox, on_event=on_event, on_ready=done)
        return out
