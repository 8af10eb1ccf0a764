"""Where a (possibly running, possibly interrupted) audit stands, without running anything.

A long audit runs for hours, across sessions, often as Ray tasks that show no
per-step progress. :func:`audit_status` walks the same cells and steps as the
runner, recomputes each step's key from the finished steps it depends on (the
key functions are the runner's own), and classifies every step:

- ``done``: a finished folder under ``steps/`` (its recorded seconds count: the sum
  over every attempt, a resumed step's killed attempts included),
- ``running``: another process holds the step's lock right now,
- ``partial``: an interrupted attempt's work folder that the next run resumes,
- ``pending``: not started, or its key is not known yet because a step it
  depends on (the split, the adapter it evaluates) has not finished.

Steps shared by several cells (the baseline fine-tunes and their evaluations)
are counted once. Nothing here imports torch.

Example:
    >>> from acceptance_cards.audit.run.config import load_config   # doctest: +SKIP
    >>> st = audit_status(load_config("examples/quick.toml"), Path("out/quick"))  # doctest: +SKIP
    >>> st.counts()["train"]                                     # doctest: +SKIP
    {'done': 4, 'running': 0, 'partial': 0, 'pending': 0}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from ...evidence.training.layout import CellLayout, checkpoint_step
from .attempts import read_attempts, total_seconds
from .config import AuditConfig, ModelSpec
from .keys import eval_inputs, mechanism_inputs, split_inputs, train_inputs, with_code
from .pipeline import given_adapter, plan_cells
from .steps import RECORDS_FILE
from .store import MANIFEST, Store, step_key

State = Literal["done", "running", "partial", "pending"]
STATES: tuple[State, ...] = ("done", "running", "partial", "pending")
#: The step kinds in pipeline order.
KINDS = ("split", "train", "eval", "mechanism")


@dataclass(frozen=True)
class StepStatus:
    """One step of the audit and where it stands."""

    kind: str
    label: str  # model and step, e.g. "smollm2: train adamw sandbagging s42"
    state: State
    key: str | None  # None while an upstream step is unfinished
    seconds: float = 0.0  # recorded run time of a finished step
    detail: str = ""  # progress of a running / partial step
    #: Steps of one group do the same work for different seeds: (kind, model, recipe, task, split).
    group: tuple[str, ...] = ()


@dataclass(frozen=True)
class Remaining:
    """Estimated step time still to run, from finished steps of the same kind of work."""

    seconds: float
    n_estimated: int  # unfinished steps with a comparable finished step
    n_unknown: int  # unfinished steps with none (not in ``seconds``)


@dataclass(frozen=True)
class AuditStatus:
    """Every distinct step of an audit, and which cells are complete."""

    name: str
    steps: tuple[StepStatus, ...]
    cells_done: tuple[str, ...]
    cells: tuple[str, ...]
    #: Running or interrupted steps whose key this walk could not attribute yet
    #: (e.g. a model's first fine-tune: its weights hash is recorded once a step finishes).
    others: tuple[StepStatus, ...] = ()

    def counts(self) -> dict[str, dict[str, int]]:
        """Per kind, how many steps are in each state."""
        return {k: {s: sum(1 for x in self.steps if x.kind == k and x.state == s) for s in STATES}
                for k in KINDS}

    def seconds_done(self) -> dict[str, float]:
        """Per kind, the summed recorded seconds of its finished steps."""
        return {k: sum(x.seconds for x in self.steps if x.kind == k) for k in KINDS}

    def remaining(self) -> Remaining:
        """Step time of the unfinished steps, each estimated by the mean recorded seconds of
        finished steps in its group (same kind, model, recipe, task, split), else of the same
        kind and model. Running and interrupted steps count in full (an upper bound).
        """
        done = [x for x in self.steps if x.state == "done"]

        def mean_of(match: list[StepStatus]) -> float | None:
            return sum(x.seconds for x in match) / len(match) if match else None

        total, n_est, n_unknown = 0.0, 0, 0
        for x in self.steps:
            if x.state == "done":
                continue
            est = mean_of([d for d in done if d.group == x.group])
            if est is None:
                est = mean_of([d for d in done if d.group[:2] == x.group[:2]])
            if est is None:
                n_unknown += 1
            else:
                total, n_est = total + est, n_est + 1
        return Remaining(seconds=total, n_estimated=n_est, n_unknown=n_unknown)


def _progress(work: Path, kind: str) -> str:
    """What an unfinished step has written so far, and the time its attempts have run."""
    attempts = read_attempts(work)
    spent = (f"; {total_seconds(attempts):.0f} s over {len(attempts)} attempt"
             f"{'s' if len(attempts) != 1 else ''}" if attempts else "")
    return _written(work, kind) + spent


def _written(work: Path, kind: str) -> str:
    """What an unfinished attempt has written so far ("" if it finished meanwhile)."""
    try:
        if kind == "train":
            ckpts = CellLayout(work).checkpoint_files()
            return f"checkpoint at step {checkpoint_step(ckpts[-1])}" if ckpts else "no checkpoint yet"
        if kind == "eval":
            rec = work / RECORDS_FILE
            n = sum(1 for _ in rec.open(encoding="utf-8")) if rec.is_file() else 0
            return f"{n} records written"
    except (OSError, ValueError):  # the folder was renamed into steps/ while we looked
        pass
    return ""


def _describe(work: Path, kind: str) -> str:
    """A label for an unattributed work folder, from what its step wrote first."""
    try:
        if kind == "train":
            c = json.loads(CellLayout(work).config.read_text(encoding="utf-8"))["config"]
            return f"{c['model']}: train {c['recipe']} {c['task']} s{c['seed']}"
        if kind == "eval":
            meta = json.loads((work / f"{RECORDS_FILE}.meta.json").read_text(encoding="utf-8"))
            return f"eval {meta['cell']}"
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return f"{kind} {work.name}"


def _unattributed(store: Store, known: set[str]) -> list[StepStatus]:
    out: list[StepStatus] = []
    for work in sorted((store.root / "work").glob("*/*")):
        kind, key = work.parent.name, work.name
        if key in known or not work.is_dir():
            continue
        state: State = "running" if store.is_running(kind, key) else "partial"
        out.append(StepStatus(kind, _describe(work, kind), state, key, detail=_progress(work, kind)))
    return out


class _Walker:
    """Recomputes step keys from finished upstream steps, one shared entry per step."""

    def __init__(self, cfg: AuditConfig, outdir: Path) -> None:
        self.cfg = cfg
        self.store = Store(Path(outdir) / "artifacts")
        self.steps: dict[tuple[Any, ...], StepStatus] = {}
        # two names for one step (two model entries with one spec, two recipes with one
        # recipe id and params) share its key, as in the runner: count it once
        self.by_key: dict[tuple[str, str], tuple[Any, ...]] = {}
        self.alias: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self.model_ins = self._models_seen()

    def _models_seen(self) -> dict[tuple[str, str], dict[str, Any]]:
        """The model inputs (spec, dtype, weights hash, device type) recorded by finished steps.

        The weights hash needs the model loaded; a finished step that used the
        model has it in its manifest. Before any has finished, the model's steps
        are simply pending. Steps of another device type than the config's
        (``auto``: any) are not this audit's.
        """
        want = self.cfg.compute.device.split(":")[0]
        seen: dict[tuple[str, str], dict[str, Any]] = {}
        # newest last: if a spec's weights changed (a re-exported folder), the current ones win
        found = sorted((self.store.root / "steps").glob(f"*/*/{MANIFEST}"), key=lambda m: m.stat().st_mtime)
        for mpath in found:
            model = json.loads(mpath.read_text(encoding="utf-8")).get("inputs", {}).get("model")
            if (isinstance(model, dict) and {"spec", "dtype", "hash", "device"} <= model.keys()
                    and want in ("auto", model["device"])):
                seen[(model["spec"], model["dtype"])] = model
        return seen

    def step(self, ident: tuple[Any, ...], kind: str, label: str,
             inputs: dict[str, Any] | None) -> Path | None:
        """Record one step's state; return its folder when it is finished."""
        key = step_key(kind, with_code(kind, inputs)) if inputs is not None else None
        if key is not None:
            self.alias[ident] = self.by_key.setdefault((kind, key), ident)
            ident = self.alias[ident]
        done = self.store.lookup(kind, key, verify=False) if key is not None else None
        if key is None:
            st = StepStatus(kind, label, "pending", None)
        elif done is not None:
            st = StepStatus(kind, label, "done", key, seconds=done.seconds)
        else:
            work = self.store.work_dir(kind, key)
            state: State = ("running" if self.store.is_running(kind, key)
                            else "partial" if work.is_dir() else "pending")
            st = StepStatus(kind, label, state, key,
                            detail=_progress(work, kind) if state != "pending" else "")
        group = tuple(str(x) for x in ident if not isinstance(x, int))
        self.steps.setdefault(ident, replace(st, group=group))
        return done.path if done is not None else None

    def cell(self, model: ModelSpec, recipe_name: str, seed: int) -> list[tuple[Any, ...]]:
        """Walk one cell's steps like :meth:`Pipeline.run`; return the step identities it needs."""
        from .steps import SPLIT_FILE

        cfg = self.cfg
        split_dir = self.step(("split",), "split", "split", split_inputs(cfg))
        split_hash = (json.loads((split_dir / MANIFEST).read_text(encoding="utf-8"))["split_hash"]
                      if split_dir is not None and (split_dir / SPLIT_FILE).is_file() else None)
        model_in = self.model_ins.get((model.spec, model.dtype))
        idents: list[tuple[Any, ...]] = [("split",)]
        ident: tuple[Any, ...]
        tasks: list[tuple[str, tuple[str, ...]]] = [(cfg.audit.primary_task, ("heldout", "fresh"))]
        if cfg.audit.cross_task:
            tasks.append((cfg.audit.cross_task, ("fresh",)))
        defense_adapter: Path | None = None
        for task, splits in tasks:
            for rec in (cfg.recipe(cfg.audit.baseline_recipe), cfg.recipe(recipe_name)):
                adapter = given_adapter(cfg, rec, seed, task)
                if adapter is None:
                    ident = ("train", model.name, rec.name, seed, task)
                    idents.append(ident)
                    folder = self.step(ident, "train", f"{model.name}: train {rec.name} {task} s{seed}",
                                       train_inputs(cfg, model_in, rec, seed, task, split_hash)
                                       if model_in is not None and split_hash else None)
                    adapter = CellLayout(folder).adapter if folder is not None else None
                for s in splits:
                    ident = ("eval", model.name, rec.name, seed, task, s)
                    idents.append(ident)
                    name = f"{rec.name}-s{seed}"
                    self.step(ident, "eval", f"{model.name}: eval {name} {task} {s}",
                              eval_inputs(cfg, model_in, adapter, task, split_hash, s, name, seed)
                              if adapter is not None and model_in is not None and split_hash else None)
                if rec.name == recipe_name and task == cfg.audit.primary_task:
                    defense_adapter = adapter
        # (the seed is the identity's only int: the group drops it)
        ident = ("mechanism", model.name, recipe_name, seed)
        idents.append(ident)
        self.step(ident, "mechanism", f"{model.name}: mechanism {recipe_name} s{seed}",
                  mechanism_inputs(cfg, model_in, defense_adapter, split_hash)
                  if defense_adapter is not None and model_in is not None and split_hash else None)
        return idents


def audit_status(cfg: AuditConfig, outdir: Path) -> AuditStatus:
    """Classify every step of ``cfg``'s audit in ``outdir`` (see the module docstring)."""
    walker = _Walker(cfg, outdir)
    models = {m.name: m for m in cfg.models}
    cells, done = [], []
    for plan in plan_cells(cfg):
        idents = walker.cell(models[plan.model], plan.recipe, plan.seed)
        cells.append(plan.name)
        if all(walker.steps[walker.alias.get(i, i)].state == "done" for i in idents):
            done.append(plan.name)
    known = {s.key for s in walker.steps.values() if s.key is not None}
    return AuditStatus(name=cfg.audit.name, steps=tuple(walker.steps.values()),
                       cells_done=tuple(done), cells=tuple(cells),
                       others=tuple(_unattributed(walker.store, known)))


def recorded_models(cfg: AuditConfig, outdir: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """The model key inputs finished steps recorded, by (spec, dtype), matched as the status does.

    ``--finished`` keys its cells with these: no model load, no local device needed.
    """
    return _Walker(cfg, outdir).model_ins
