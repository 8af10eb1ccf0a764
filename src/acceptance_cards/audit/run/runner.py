"""Run an audit: every cell's steps through the artifact store, then the outputs.

A *cell* is one defense recipe × model × seed, judged against the matched
baseline (the same fine-tune with plain AdamW: same data, steps, seed, LoRA
config). Its steps:

    split ─┬─ train(baseline) ─ eval(heldout, fresh) ─┐
           ├─ train(defense)  ─ eval(heldout, fresh) ─┼─ card
           │                  └─ mechanism ───────────┤
           └─ cross task: train(both) ─ eval(fresh) ──┘

Steps are keyed by their inputs (see :mod:`.artifacts`), so the baseline is
trained once per (model, seed, task) and shared by every defense cell, a re-run
does no finished work, and changing one recipe re-runs only what depends on it.
Evidence a cell cannot have (no cross task configured) becomes ``not run`` on
its card, never a silent omission.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..._util.lazy import require
from ...card.build import build_card
from ...card.metadata import CardMetadata
from ...card.model import CardOptions
from ...mechanism import load_mechanism
from ...records import load_records
from ..cells import CellResult
from .config import AuditConfig, ModelSpec, RecipeSpec
from .executors import ExecutorName, run_cells
from .store import StepMissing, StepResult, Store

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


# What keys each step: one function per kind, shared by the runner and the
# status report (which recomputes keys to find finished steps without running any).

def with_code(kind: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """``inputs`` plus the code version of the modules that compute a ``kind`` step."""
    from .steps import code_version

    return {**inputs, "code": code_version(kind)}


def split_inputs(cfg: AuditConfig) -> dict[str, Any]:
    return {"split": cfg.split.model_dump()}


def train_inputs(cfg: AuditConfig, model_in: dict[str, Any], recipe: RecipeSpec, seed: int,
                 task: str, split_hash: str) -> dict[str, Any]:
    return {"model": model_in, "recipe": recipe.recipe_id, "params": recipe.params, "seed": seed,
            "task": task, "train": cfg.train_for(task), "split": split_hash}


def adapter_id(adapter: Path) -> list[tuple[str, str]]:
    """An adapter's identity: its safetensors files with their sha256."""
    from ..._util.files import sha256_file

    return sorted((p.name, sha256_file(p)) for p in adapter.glob("*.safetensors"))


def eval_inputs(cfg: AuditConfig, model_in: dict[str, Any], adapter: Path | None, task: str,
                split_hash: str, split_name: str, cell_name: str, seed: int) -> dict[str, Any]:
    return {"model": model_in, "adapter": adapter_id(adapter) if adapter is not None else None,
            "task": task, "split": split_hash, "split_name": split_name,
            "eval": cfg.eval.model_dump(), "cell": cell_name, "seed": seed}


def mechanism_inputs(cfg: AuditConfig, model_in: dict[str, Any], adapter: Path,
                     split_hash: str) -> dict[str, Any]:
    return {"model": model_in, "task": cfg.audit.primary_task, "adapter": adapter_id(adapter),
            "mechanism": cfg.mechanism, "split": split_hash}


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


class Pipeline:
    """Runs one cell's steps against a shared store."""

    def __init__(self, cfg: AuditConfig, outdir: Path, *, progress: Progress | None = None,
                 reuse_only: bool = False) -> None:
        self.cfg = cfg
        self.store = Store(Path(outdir) / "artifacts", reuse_only=reuse_only)
        self.progress = progress

    def _model(self, name: str) -> ModelSpec:
        return next(m for m in self.cfg.models if m.name == name)

    def _step(self, cell: str, label: str, kind: str, inputs: dict[str, Any],
              fn: Callable[[Path], Any]) -> StepResult:
        inputs = with_code(kind, inputs)

        def run(work: Path) -> Any:
            # "start" only when the work starts: a finished step is reported as "cached" alone
            if self.progress:
                self.progress(cell, label, "start", 0, 0)
            return fn(work)

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
        from .steps import model_hash

        return {"spec": model.spec, "dtype": model.dtype, "hash": model_hash(model)}

    def train(self, cell: str, model: ModelSpec, recipe: RecipeSpec, seed: int, task: str,
              split: StepResult) -> tuple[Path, StepResult | None]:
        """The adapter folder of ``recipe`` on ``task``: a given one, or trained here."""
        from . import steps

        given = recipe.adapters.get(str(seed)) if task == self.cfg.audit.primary_task else None
        if given is not None:
            return Path(given), None
        label = f"train {recipe.name} {task}"
        inputs = train_inputs(self.cfg, self.model_inputs(model), recipe, seed, task,
                              split.manifest["split_hash"])
        res = self._step(cell, label, "train", inputs, lambda w: steps.train_cell(
            self.cfg, w, model=model, recipe=recipe, seed=seed, task=task,
            split_file=split.path / steps.SPLIT_FILE, progress=self._advance(cell, label)))
        return res.path / steps.ADAPTER_DIR, res

    def evaluate(self, cell: str, model: ModelSpec, adapter: Path | None, task: str,
                 split_name: str, cell_name: str, seed: int, split: StepResult) -> StepResult:
        from . import steps

        label = f"eval {cell_name} {task} {split_name}"
        inputs = eval_inputs(self.cfg, self.model_inputs(model), adapter, task,
                             split.manifest["split_hash"], split_name, cell_name, seed)
        return self._step(cell, label, "eval", inputs, lambda w: steps.evaluate_cell(
            self.cfg, w, model=model, adapter=adapter, split_file=split.path / steps.SPLIT_FILE,
            task=task, split_name=split_name, cell=cell_name, seed=seed,
            progress=self._advance(cell, label)))

    def mechanism(self, cell: str, model: ModelSpec, adapter: Path, recipe: RecipeSpec,
                  split: StepResult) -> StepResult:
        from . import steps

        label = f"mechanism {recipe.name}"
        inputs = mechanism_inputs(self.cfg, self.model_inputs(model), adapter,
                                  split.manifest["split_hash"])
        return self._step(cell, label, "mechanism", inputs, lambda w: steps.mechanism_cell(
            self.cfg, w, model=model, adapter=adapter, split_file=split.path / steps.SPLIT_FILE,
            progress=self._advance(cell, label)))

    def run(self, plan: CellPlan) -> CellArtifacts:
        """All steps of one cell; returns where its evidence lives."""
        from .steps import RECORDS_FILE

        cfg, c = self.cfg, plan.name
        model, recipe = self._model(plan.model), cfg.recipe(plan.recipe)
        baseline = cfg.recipe(cfg.audit.baseline_recipe)
        split = self.split(c)
        files: dict[str, str] = {}
        steps_done: list[StepResult] = [split]
        tasks: list[tuple[str, tuple[str, ...], str]] = [(cfg.audit.primary_task, ("heldout", "fresh"), "")]
        if cfg.audit.cross_task:
            tasks.append((cfg.audit.cross_task, ("fresh",), "cross_"))
        adapters: dict[str, Path] = {}
        for task, splits, prefix in tasks:
            for role, rec in (("baseline", baseline), ("defense", recipe)):
                adapter, trained = self.train(c, model, rec, plan.seed, task, split)
                if trained is not None:
                    steps_done.append(trained)
                adapters[prefix + role] = adapter
                parts = [self.evaluate(c, model, adapter, task, s, f"{rec.name}-s{plan.seed}",
                                       plan.seed, split) for s in splits]
                steps_done += parts
                files[prefix + role] = _merge_records(parts, self.store.root / "merged", RECORDS_FILE)
        mech = self.mechanism(c, model, adapters["defense"], recipe, split)
        steps_done.append(mech)
        from .steps import MECHANISM_FILE

        files["mechanism"] = str(mech.path / MECHANISM_FILE)
        return CellArtifacts(
            plan=plan, files=files,
            timings={f"{s.kind}:{s.manifest.get('label')}": s.seconds for s in steps_done},
            cached={f"{s.kind}:{s.manifest.get('label')}": s.cached for s in steps_done},
            meta={"split_hash": split.manifest["split_hash"],
                  "train_subjects": split.manifest["train_subjects"]},
        )


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


def _cell_worker(args: tuple[dict[str, Any], str, CellPlan],
                 emit: Progress | None = None) -> CellArtifacts:
    """Module-level entry point for executors (Ray pickles it by reference).

    ``emit`` receives the cell's step events (Ray forwards them to the driver's display).
    """
    cfg_raw, outdir, plan = args
    return Pipeline(AuditConfig.model_validate(cfg_raw), Path(outdir), progress=emit).run(plan)


def cell_result(cfg: AuditConfig, art: CellArtifacts, *, cards_dir: Path) -> CellResult:
    """Load a finished cell's evidence and build its card.

    The card records its inputs relative to ``cards_dir`` (where the audit
    writes it), so ``acard verify`` recomputes it from the audit's artifacts.
    """
    import os

    from ..._util.files import sha256_file
    from ...card.model import InputFile

    f = art.files
    inputs = [InputFile(role=role, path=os.path.relpath(Path(path).resolve(), cards_dir.resolve()),
                        sha256=sha256_file(path)) for role, path in f.items()]
    b, d = load_records(f["baseline"]), load_records(f["defense"])
    xb = load_records(f["cross_baseline"]) if "cross_baseline" in f else None
    xd = load_records(f["cross_defense"]) if "cross_defense" in f else None
    mech = load_mechanism(f["mechanism"]) if "mechanism" in f else None
    recipe = cfg.recipe(art.plan.recipe)
    model = next(m for m in cfg.models if m.name == art.plan.model)
    train = {**cfg.train_for(cfg.audit.primary_task), **recipe.params}
    options: CardOptions = cfg.thresholds.model_copy(update={
        "claimed_class": recipe.claimed_class, "cross_restricted_variant": recipe.cross_restricted})
    meta = CardMetadata(
        title=f"{recipe.name} vs {cfg.audit.baseline_recipe} — {art.plan.name}",
        model={"family": model.name, "base_checkpoint": model.spec},
        recipe={"name": recipe.name, "optimizer": train.get("optimizer", "AdamW"),
                "lora_rank": train.get("lora_rank"), "learning_rate": train.get("lr"),
                "steps": train.get("steps"), "attack_variant": train.get("attack", "abstain"),
                "hyperparameters": recipe.params},
        task={"train_pool": art.meta.get("train_subjects"), "split_hash": art.meta.get("split_hash")},
        compute={"device": "cpu",
                 "training_time_s": sum(v for k, v in art.timings.items() if k.startswith("train")),
                 "eval_time_s": sum(v for k, v in art.timings.items() if k.startswith("eval"))},
    )
    card = build_card(b, d, cross_baseline=xb, cross_defense=xd, mechanism=mech,
                      options=options, metadata=meta, inputs=inputs)
    return CellResult(name=art.plan.name, model=art.plan.model, recipe=art.plan.recipe,
                      seed=art.plan.seed, task=cfg.audit.primary_task, card=card, baseline=b,
                      defense=d, cross_baseline=xb, cross_defense=xd, mechanism=mech)


def finished_cells(cfg: AuditConfig, outdir: Path) -> tuple[list[CellResult], list[str]]:
    """Cards for the cells whose every step has finished, and the names of the others.

    Runs nothing (a reuse-only store), so it is safe beside a running audit:
    interim results of a long run, or what an interrupted one got done.
    """
    outdir = Path(outdir).resolve()
    pipe = Pipeline(cfg, outdir, reuse_only=True)
    results, unfinished = [], []
    for plan in plan_cells(cfg):
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
) -> tuple[list[CellArtifacts], list[CellResult]]:
    """Run every cell (local or Ray) and build the cards; outputs are written by the caller.

    ``threads``: torch threads in this process (local), or the CPUs each Ray
    cell task requests (Ray sets its workers' thread count from the request).
    ``None`` leaves torch's default. ``progress`` gets every step's events from
    either executor (Ray workers post theirs to a mailbox actor, "advance" events
    at most once a second per step).
    """
    from .steps import check_train_section

    check_train_section(cfg, source=cfg.audit.name)
    plans = plan_cells(cfg)
    outdir = Path(outdir).resolve()  # Ray workers may run in another working directory
    if executor == "local" and threads:
        require("torch").set_num_threads(threads)
    # both executors run the same worker on the same plain data; only Ray reorders
    raw = cfg.model_dump(mode="json")
    order = submission_order(plans) if executor == "ray" else list(range(len(plans)))
    submitted = run_cells([(raw, str(outdir), plans[i]) for i in order], _cell_worker,
                          executor=executor, address=address, num_cpus=float(threads or 1),
                          on_done=(lambda i, p, a: on_cell(a)) if on_cell else None,
                          on_event=progress)
    arts = [a for _, a in sorted(zip(order, submitted, strict=True), key=lambda t: t[0])]
    return arts, [cell_result(cfg, a, cards_dir=outdir / "cards") for a in arts]
