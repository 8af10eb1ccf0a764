"""One cell's steps through the artifact store: the unit both executors run.

A *cell* is one defense recipe × model × seed, judged against the matched
baseline (the same fine-tune with plain AdamW: same data, steps, seed, LoRA
config). Its steps:

    split ─┬─ train(baseline) ─ eval(heldout, fresh) ─┐
           ├─ train(defense)  ─ eval(heldout, fresh) ─┼─ card
           │                  └─ mechanism ───────────┤
           └─ cross task: train(both) ─ eval(fresh) ──┘

:class:`Pipeline` runs each step through the store (keyed by its inputs, see
:mod:`.keys`); :meth:`Pipeline.run` runs a whole cell in order (the local and
cell-level Ray executors), while the step-level Ray executor (:mod:`.ray_steps`)
calls the same step methods as separate tasks. Either way :func:`assemble`
turns the finished steps into the cell's :class:`CellArtifacts`, so every
executor produces the same files.

Example:
    >>> from acceptance_cards.audit.run.config import AuditConfig
    >>> cfg = AuditConfig.model_validate({"audit": {"seeds": [1, 2]},
    ...     "models": [{"name": "m", "spec": "m"}], "recipes": [{"name": "r"}]})
    >>> [p.name for p in plan_cells(cfg)]
    ['m/r/s1', 'm/r/s2']
    >>> cell_tasks(cfg)
    [('sandbagging', ('heldout', 'fresh'), ''), ('sycophancy', ('fresh',), 'cross_')]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...evidence.training.layout import CellLayout
from .config import AuditConfig, ModelSpec, RecipeSpec
from .keys import eval_inputs, mechanism_inputs, split_inputs, train_inputs, with_code
from .store import StepResult, Store

#: progress(cell, step, state, done, total): state is "start", "advance", "done" or "cached".
Progress = Callable[[str, str, str, int, int], None]


@dataclass(frozen=True)
class CellPlan:
    """One cell to run (plain data: it travels to Ray workers)."""

    name: str
    model: str
    recipe: str
    seed: int


@dataclass(frozen=True)
class CellArtifacts:
    """Where a finished cell's evidence lives, and what each step cost."""

    plan: CellPlan
    files: dict[str, str]  # role -> path (baseline, defense, cross_*, mechanism)
    timings: dict[str, float] = field(default_factory=dict)
    cached: dict[str, bool] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


def plan_cells(cfg: AuditConfig) -> list[CellPlan]:
    """Every defense recipe × model × seed (a model may restrict both), in config order."""
    return [
        CellPlan(name=f"{m.name}/{r.name}/s{seed}", model=m.name, recipe=r.name, seed=seed)
        for m in cfg.models for r, seed in cfg.cells_of(m)
    ]


def submission_order(plans: list[CellPlan]) -> list[int]:
    """Indices of ``plans`` interleaved round-robin across models (for parallel executors).

    Ray starts tasks in submission order. In config order a spot-check model's
    cells come last; such a cell (often a bigger model, all its fine-tunes
    uncached) then runs alone at the end while every other CPU idles. Taking
    one cell per model in turn starts it early instead. Within a model config
    order is kept (recipe-major), so cells running side by side have different
    seeds and do not wait on one another's shared baseline.

    Example:
        >>> ps = [CellPlan("a/x/s1", "a", "x", 1), CellPlan("a/x/s2", "a", "x", 2),
        ...       CellPlan("b/x/s1", "b", "x", 1)]
        >>> submission_order(ps)
        [0, 2, 1]
    """
    by_model: dict[str, list[int]] = {}
    for i, p in enumerate(plans):
        by_model.setdefault(p.model, []).append(i)
    queues = list(by_model.values())
    order: list[int] = []
    for rank in range(max((len(q) for q in queues), default=0)):
        order += [q[rank] for q in queues if rank < len(q)]
    return order


def cell_tasks(cfg: AuditConfig) -> list[tuple[str, tuple[str, ...], str]]:
    """(task, evaluated splits, file-role prefix) of each fine-tuning task of a cell."""
    tasks: list[tuple[str, tuple[str, ...], str]] = [(cfg.audit.primary_task, ("heldout", "fresh"), "")]
    if cfg.audit.cross_task:
        tasks.append((cfg.audit.cross_task, ("fresh",), "cross_"))
    return tasks


def given_adapter(cfg: AuditConfig, recipe: RecipeSpec, seed: int, task: str) -> Path | None:
    """A pre-trained adapter the config names for this fine-tune (primary task only), or None."""
    given = recipe.adapters.get(str(seed)) if task == cfg.audit.primary_task else None
    return Path(given) if given is not None else None


class Pipeline:
    """Runs a cell's steps against a shared store.

    ``device`` is the evidence device the model steps run on (default: the
    config's ``[compute] device``). Model steps record the device it resolves
    to in their manifests, and its type (``cpu``, ``cuda``, ``mps``) is part of
    their keys, so a GPU run never reuses a CPU run's numbers.
    """

    def __init__(self, cfg: AuditConfig, outdir: Path, *, progress: Progress | None = None,
                 reuse_only: bool = False, device: str | None = None,
                 key_device: str | None = None) -> None:
        self.cfg = cfg
        self.device = device or cfg.compute.device
        #: the device type in model step keys, when decided elsewhere (the Ray driver: a
        #: zero-GPU task must not resolve ``cuda``); None: resolve ``device`` here
        self.key_device = key_device
        self.store = Store(Path(outdir) / "artifacts", reuse_only=reuse_only)
        self.progress = progress
        #: model inputs already known, by (spec, dtype): a Ray step gets them from the model task
        self.known_models: dict[tuple[str, str], dict[str, Any]] = {}

    def model_spec(self, name: str) -> ModelSpec:
        return next(m for m in self.cfg.models if m.name == name)

    def _step(self, cell: str, label: str, kind: str, inputs: dict[str, Any],
              fn: Callable[[Path], Any]) -> StepResult:
        inputs = with_code(kind, inputs)

        def run(work: Path) -> Any:
            # "start" only when the work starts: a finished step is reported as "cached" alone
            if self.progress:
                self.progress(cell, label, "start", 0, 0)
            ret = fn(work)
            if kind == "split":
                return ret
            from .steps import device_name

            return {**ret, "device": device_name(self.device)}

        res = self.store.run(kind, inputs, run, label=label)
        if self.progress:
            self.progress(cell, label, "cached" if res.cached else "done", 1, 1)
        return res

    def _advance(self, cell: str, label: str) -> Callable[[int, int], None] | None:
        if self.progress is None:
            return None
        prog = self.progress
        return lambda done, total: prog(cell, label, "advance", done, total)

    def split(self, cell: str) -> StepResult:
        from . import steps

        return self._step(cell, "split", "split", split_inputs(self.cfg),
                          lambda w: steps.make_split(self.cfg, w))

    def model_inputs(self, model: ModelSpec) -> dict[str, Any]:
        """The model's part of a step key: spec, dtype, weights hash (loads the model), device type."""
        from .steps import device_name, model_hash

        known = self.known_models.get((model.spec, model.dtype))
        if known is not None:
            return known
        kind = self.key_device or device_name(self.device).split(":")[0]
        return {"spec": model.spec, "dtype": model.dtype, "hash": model_hash(model), "device": kind}

    def train(self, cell: str, model: ModelSpec, recipe: RecipeSpec, seed: int, task: str,
              split: StepResult) -> StepResult:
        """Fine-tune ``recipe`` on ``task`` (its adapter: ``CellLayout(result.path).adapter``)."""
        from . import steps

        label = f"train {recipe.name} {task}"
        inputs = train_inputs(self.cfg, self.model_inputs(model), recipe, seed, task,
                              split.manifest["split_hash"])
        return self._step(cell, label, "train", inputs, lambda w: steps.train_cell(
            self.cfg, w, model=model, recipe=recipe, seed=seed, task=task,
            split_file=split.path / steps.SPLIT_FILE, device=steps.device_name(self.device),
            progress=self._advance(cell, label)))

    def evaluate(self, cell: str, model: ModelSpec, adapter: Path | None, task: str,
                 split_name: str, cell_name: str, seed: int, split: StepResult) -> StepResult:
        from . import steps

        label = f"eval {cell_name} {task} {split_name}"
        inputs = eval_inputs(self.cfg, self.model_inputs(model), adapter, task,
                             split.manifest["split_hash"], split_name, cell_name, seed)
        return self._step(cell, label, "eval", inputs, lambda w: steps.evaluate_cell(
            self.cfg, w, model=model, adapter=adapter, split_file=split.path / steps.SPLIT_FILE,
            task=task, split_name=split_name, cell=cell_name, seed=seed,
            device=steps.device_name(self.device), progress=self._advance(cell, label)))

    def mechanism(self, cell: str, model: ModelSpec, adapter: Path, recipe: RecipeSpec,
                  split: StepResult) -> StepResult:
        from . import steps

        label = f"mechanism {recipe.name}"
        inputs = mechanism_inputs(self.cfg, self.model_inputs(model), adapter,
                                  split.manifest["split_hash"])
        return self._step(cell, label, "mechanism", inputs, lambda w: steps.mechanism_cell(
            self.cfg, w, model=model, adapter=adapter, split_file=split.path / steps.SPLIT_FILE,
            device=steps.device_name(self.device), progress=self._advance(cell, label)))

    def run(self, plan: CellPlan) -> CellArtifacts:
        """All steps of one cell, in order; returns where its evidence lives."""
        cfg, c = self.cfg, plan.name
        model = self.model_spec(plan.model)
        split = self.split(c)
        trained: list[StepResult] = []
        evals: dict[str, list[StepResult]] = {}
        defense: Path | None = None
        for task, splits, prefix in cell_tasks(cfg):
            for role, rec in (("baseline", cfg.recipe(cfg.audit.baseline_recipe)),
                              ("defense", cfg.recipe(plan.recipe))):
                adapter = given_adapter(cfg, rec, plan.seed, task)
                if adapter is None:
                    trained.append(self.train(c, model, rec, plan.seed, task, split))
                    adapter = CellLayout(trained[-1].path).adapter
                evals[prefix + role] = [self.evaluate(c, model, adapter, task, s,
                                                      f"{rec.name}-s{plan.seed}", plan.seed, split)
                                        for s in splits]
                if prefix == "" and role == "defense":
                    defense = adapter
        assert defense is not None  # the primary task is always among the cell's tasks
        mech = self.mechanism(c, model, defense, cfg.recipe(plan.recipe), split)
        return assemble(plan, self.store.root, split, trained, evals, mech)


def assemble(plan: CellPlan, store_root: Path, split: StepResult, trained: list[StepResult],
             evals: dict[str, list[StepResult]], mech: StepResult) -> CellArtifacts:
    """A cell's artifacts from its finished steps (every executor ends here).

    ``evals`` maps a file role (``baseline``, ``defense``, ``cross_*``) to the
    evaluations merged into that role's record file.
    """
    from .steps import MECHANISM_FILE, RECORDS_FILE

    files = {role: _merge_records(parts, store_root / "merged", RECORDS_FILE)
             for role, parts in evals.items()}
    files["mechanism"] = str(mech.path / MECHANISM_FILE)
    defense_train = _defense_train(trained, mech.path / MECHANISM_FILE)
    done = [split, *trained, *(e for parts in evals.values() for e in parts), mech]
    return CellArtifacts(
        plan=plan, files=files,
        timings={f"{s.kind}:{s.manifest.get('label')}": s.seconds for s in done},
        cached={f"{s.kind}:{s.manifest.get('label')}": s.cached for s in done},
        meta={"split_hash": split.manifest["split_hash"],
              "train_subjects": split.manifest["train_subjects"],
              "device": mech.manifest.get("device", "cpu"),
              # the card reads the defense's result.json/config.json there (None: a given adapter)
              "defense_train_dir": str(defense_train.path) if defense_train else None},
    )


def _defense_train(trained: list[StepResult], mechanism_file: Path) -> StepResult | None:
    """The train step whose adapter the mechanism step measured (None: a pre-trained adapter).

    The mechanism file names it as ``train/<key>/adapter`` (see ``steps._relativise_adapter``).
    """
    from .steps import read_json

    adapter = read_json(mechanism_file).get("adapter") if mechanism_file.is_file() else None
    if not isinstance(adapter, str):
        return None
    parts = Path(adapter).parts
    return next((s for s in trained if len(parts) >= 2 and s.key == parts[-2]), None)


def _merge_records(parts: list[StepResult], folder: Path, name: str) -> str:
    """One record file per cell and task (held-out + fresh), content-addressed."""
    import hashlib

    from ..._util.writes import atomic_write_text

    texts = [(p.path / name).read_text(encoding="utf-8") for p in parts]
    body = "".join(t if t.endswith("\n") or not t else t + "\n" for t in texts)
    digest = hashlib.sha256(body.encode()).hexdigest()[:24]
    out = folder / f"{digest}.jsonl"
    if not out.exists():
        atomic_write_text(out, body)
    return str(out)
