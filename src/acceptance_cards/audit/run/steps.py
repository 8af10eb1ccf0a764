"""The audit's steps, each a thin call into the evidence layer inside a store folder.

Each function takes the folder the store hands it (possibly holding an
interrupted attempt's partial state) and writes its outputs there. Heavy
imports happen inside the functions, so planning an audit needs no torch.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from .config import AuditConfig, ModelSpec, RecipeSpec

ProgressFn = Callable[[int, int], None]

#: File names inside step folders.
SPLIT_FILE = "split.json"
RECORDS_FILE = "records.jsonl"
MECHANISM_FILE = "mechanism.json"


#: The root modules whose code computes each step's outputs (dotted, relative to
#: the package). The key hashes their whole import closure
#: (:func:`~acceptance_cards._util.code_deps.module_closure`): an edit to any module
#: they reach — ``gradients.slices``, ``models.delta_w``, ``training.checkpoints`` for training —
#: re-runs that kind of step (and what depends on it), nothing else. Each step
#: function's own imports must be among the closure (a test checks it); the step
#: functions below are thin calls whose arguments are the key's other inputs.
_DATA = ("evidence.data.mmlu", "evidence.data.split")
_MODEL = ("evidence.models.loading", "evidence.models.gguf_cache", "evidence.data.templates",
          "evidence.data.tasks")
_TRAIN = ("evidence.data.attacks", "evidence.training.loop", "evidence.training.config",
          "evidence.training.recipes")
STEP_MODULES: dict[str, tuple[str, ...]] = {
    "split": _DATA,
    "eval": (*_DATA, *_MODEL, "evidence.eval.scoring", "evidence.eval.evaluate"),
    "train": (*_DATA, *_MODEL, *_TRAIN),
    "mechanism": (*_DATA, *_MODEL, *_TRAIN, "evidence.gradients.calibration",
                  "evidence.gradients.slices", "evidence.models.delta_w",
                  "evidence.mechanism.signature", "_util.files"),
}


def code_hash(root: Path, kind: str, version: str) -> str:
    """``version`` + hash of every module a ``kind`` step imports (and the data files).

    ``root`` is the package folder (a parameter so a test can edit a copy).

    Raises:
        KeyError: ``kind`` is not a step kind.
        MissingModule: a module the step's code imports does not exist.

    Example:
        >>> import acceptance_cards as ac
        >>> code_hash(Path(ac.__file__).parent, "split", "0.1.0")[:6]
        '0.1.0+'
    """
    from ..._util.code_deps import module_closure

    closure = module_closure(root, STEP_MODULES[kind])
    h = hashlib.sha256(version.encode())
    files = [closure[name] for name in sorted(closure)] + sorted((root / "evidence" / "data").glob("*.json"))
    for f in files:
        h.update(f.relative_to(root).as_posix().encode() + b"\0")
        h.update(f.read_bytes())
    return f"{version}+{h.hexdigest()[:12]}"


@lru_cache(maxsize=8)
def code_version(kind: str) -> str:
    """Package version + hash of the sources (and data files) that compute a ``kind`` step."""
    from ..._version import __version__

    return code_hash(Path(__file__).resolve().parents[2], kind, __version__)


@lru_cache(maxsize=4)
def _load(spec: str, dtype: str, adapter: str | None, device: str = "cpu") -> Any:
    from ...evidence.models.loading import load_model

    return load_model(spec, adapter=adapter, dtype=dtype, device=device)


@lru_cache(maxsize=8)
def device_name(spec: str) -> str:
    """The device ``spec`` (``auto|cpu|cuda|cuda:N|mps``) resolves to here, e.g. ``cuda:0``.

    Raises:
        InputError: the device is not on this machine.
    """
    from ...evidence.models.device import resolve_device

    return str(resolve_device(spec))


def check_device(cfg: AuditConfig, source: str) -> None:
    """Fail before any step when ``[compute] device`` names a device this machine lacks.

    Raises:
        InputError: naming ``source`` (the config file) and the field.
    """
    from ..._util.errors import InputError

    try:
        device_name(cfg.compute.device)
    except InputError as exc:
        raise InputError(exc.message, path=source, field="compute.device") from None


def model_hash(model: ModelSpec) -> str:
    """Content hash of the base model's weights (cached by the model loader)."""
    return str(_load(model.spec, model.dtype, None).content_hash)


def make_split(cfg: AuditConfig, work: Path) -> dict[str, Any]:
    """Draw the seeded split of MMLU and write ``split.json``."""
    from ...evidence.data.mmlu import load_mmlu_source
    from ...evidence.data.split import make_split as draw
    from ...evidence.data.split import save_split

    s = cfg.split
    source = load_mmlu_source(s.mmlu_path)
    split = draw(source, seed=s.seed, n_heldout=s.n_heldout, n_fresh=s.n_fresh,
                 fresh_subject_fraction=s.fresh_subject_fraction)
    save_split(split, work / SPLIT_FILE)
    return {"split_hash": split.hash, "train_subjects": list(split.train_subjects),
            "fresh_subjects": list(split.fresh_subjects)}


def evaluate_cell(
    cfg: AuditConfig,
    work: Path,
    *,
    model: ModelSpec,
    adapter: Path | None,
    split_file: Path,
    task: str,
    split_name: str,
    cell: str,
    seed: int,
    device: str = "cpu",
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Evaluate one model (+ adapter) on one split/task on ``device``; resumable records."""
    from ...evidence.data.mmlu import load_mmlu_source
    from ...evidence.data.split import load_split, select
    from ...evidence.data.templates import load_templates
    from ...evidence.eval.evaluate import evaluate, make_jobs

    split = load_split(split_file)
    source = load_mmlu_source(cfg.split.mmlu_path)
    ids = split.heldout_ids if split_name == "heldout" else split.fresh_ids
    n = cfg.eval.n_heldout if split_name == "heldout" else cfg.eval.n_fresh
    items = select(source.items, ids[: n or len(ids)])
    per_framing = cfg.eval.heldout_templates if split_name == "heldout" else cfg.eval.fresh_templates
    ts = load_templates()
    templates = [t for f in ("eval", "deploy") for t in ts.select(use=split_name, framing=f)[:per_framing]]
    jobs = make_jobs(items, templates, task=task, split=split_name)
    lm = _load(model.spec, model.dtype, str(adapter) if adapter is not None else None, device)
    records = evaluate(lm, jobs, scorer=cfg.eval.scorer, cell=cell, seed=seed,
                       out=work / RECORDS_FILE, meta={"split_hash": split.hash},
                       progress=progress)
    n_correct = sum(float(r["correct"]) for r in records)
    # the dtype ``auto`` resolved to here: the key keeps the configured name (resolving it needs
    # torch and the device, which planning and --status on a login node must not), and its
    # device type already separates GPU from CPU runs; the manifest says what ran
    return {"n_records": len(records), "mean_correct": n_correct / max(len(records), 1),
            "model_hash": lm.content_hash, "dtype": lm.dtype}


def read_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def train_cell(
    cfg: AuditConfig,
    work: Path,
    *,
    model: ModelSpec,
    recipe: RecipeSpec,
    seed: int,
    task: str,
    split_file: Path,
    device: str = "cpu",
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Fine-tune one (recipe, seed, task) with LoRA into ``work`` on ``device`` (resumes)."""
    from ...evidence.training.config import config_from_dict
    from ...evidence.training.loop import train_cell as train

    tc = config_from_dict({
        **cfg.train_for(task), "model": model.spec, "task": task, "recipe": recipe.recipe_id,
        "recipe_params": recipe.params, "seed": seed, "split": str(split_file),
    }, source="[train] section of the audit config")
    res = train(tc, work, device=device,
                progress=(lambda s, t, _loss: progress(s, t)) if progress else None)
    return {"train_seconds": res.train_seconds, "final_loss": res.final_loss, "tokens": res.tokens,
            "steps": res.steps, "resumed_from": res.resumed_from}


def mechanism_cell(
    cfg: AuditConfig,
    work: Path,
    *,
    model: ModelSpec,
    adapter: Path,
    split_file: Path,
    device: str = "cpu",
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Base-model gradients on the adapter's slice (on ``device``) → the mechanism file (gate c)."""
    from ...evidence.mechanism.signature import mechanism_for_adapter

    opts = dict(cfg.mechanism)
    mech = mechanism_for_adapter(adapter, work / MECHANISM_FILE, base=model.spec,
                                 n_calibration=opts.get("n_calibration"),
                                 n_boot=int(opts.get("n_boot", 2000)), seed=int(opts.get("seed", 0)),
                                 progress=progress, device=device)
    del split_file  # the adapter's recorded config names the split it was trained on
    _relativise_adapter(work / MECHANISM_FILE, adapter)
    return {"n_calibration": mech.n_calibration, "slice": list(mech.slice)}


def _relativise_adapter(path: Path, adapter: Path) -> None:
    """Record the adapter as ``<step kind>/<key>/adapter`` inside the store.

    Where the output folder sits must not change the mechanism file's bytes
    (cards record its sha256), so two runs of one config into different
    folders give identical cards.
    """
    from ..._util.writes import atomic_write_text

    data = read_json(path)
    if "adapter" in data:
        data["adapter"] = "/".join(adapter.resolve().parts[-3:])
        atomic_write_text(path, json.dumps(data, indent=2) + "\n")


def check_train_section(cfg: AuditConfig, source: str) -> None:
    """Validate ``[train]`` with every recipe's params before any work starts.

    A typo in the config then fails at once, naming the key, instead of after
    an hour of training other cells.
    """
    from ...evidence.training.config import config_from_dict

    for r in [cfg.recipe(cfg.audit.baseline_recipe), *cfg.defense_recipes()]:
        check_recipe(r, source)
        for m in cfg.models:
            for task in cfg.tasks():
                where = f"[train_by_task.{task}]" if task in cfg.train_by_task else "[train]"
                config_from_dict({**cfg.train_for(task), "model": m.spec, "task": task,
                                  "recipe": r.recipe_id, "recipe_params": r.params},
                                 source=f"{source} {where}")


def check_recipe(recipe: RecipeSpec, source: str) -> None:
    """The recipe exists and its ``params`` are its own, before any work starts.

    Imports the recipe registry (torch): called only when an audit actually
    runs, never by ``--plan``/``--status``.

    Raises:
        InputError: naming ``source`` and ``recipes.<name>.recipe`` (unknown
            recipe) or ``recipes.<name>.params.<field>`` (unknown or bad parameter).
    """
    from ..._util.errors import InputError
    from ...evidence.training.recipes.registry import recipe_class

    try:
        cls = recipe_class(recipe.recipe_id)
    except InputError as exc:
        raise InputError(exc.message, path=source, field=f"recipes.{recipe.name}.recipe") from None
    unknown = [k for k in recipe.params if k not in cls.Params.model_fields]
    try:
        cls(**recipe.params)
    except InputError as exc:
        sub = (exc.field or "").removeprefix("recipe_params")
        if not sub and unknown:
            sub = f".{unknown[0]}"
        raise InputError(exc.message, path=source,
                         field=f"recipes.{recipe.name}.params{sub}") from None
