"""The LoRA fine-tune loop every recipe plugs into: resumable, seeded, recorded.

One call trains one *cell* (model × recipe × task × seed) into a folder whose
file names :class:`~.layout.CellLayout` owns (config, train log, checkpoints,
adapter, timings, result). :func:`train_cell` is three phases:
:func:`prepare_cell` (model, data, LoRA, optimiser, resume), :func:`train_step`
per optimiser step, and :func:`finish_cell` (recipe transform, adapter, records).

The loss is cross-entropy on the answer tokens only, read at the positions
that predict them, through the model's output function
(:func:`~..models.head.head_logits`, Gemma-2's soft-capping included).
AdamW, cosine decay, global-norm clipping; a step's batch may run as
micro-batches whose gradients are accumulated (``micro_batch_size``), so the
update is the ``batch_size`` one whatever fits in memory. Every tensor lives
on the model's device; the only device→host copy per step is the logged
numbers. LoRA ``A`` is drawn from an explicit ``torch.Generator`` (peft's own
init uses the global RNG), ``B`` starts at zero. The batch order is a pure
function of (seed, step), so a run resumed from its last checkpoint takes
exactly the steps an uninterrupted run would. A non-finite loss stops the run
with an :class:`InputError`; the adapter is only ever written whole.

Example:
    >>> res = train_cell(TrainConfig(recipe="adamw", steps=80), Path("cells/adamw-s42"))  # doctest: +SKIP
    >>> res.adapter_dir.name                                                              # doctest: +SKIP
    'adapter'
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..._util.code_deps import closure_hash
from ..._util.errors import InputError
from ..._util.writes import atomic_write_text
from ..data.attacks import EncodedExample, build_attack_data, encode_examples, summary
from ..gradients.calibration import TrainPool, calibration_for, train_pool_for
from .checkpoints import load_checkpoint, save_checkpoint, truncate_log
from .config import TrainConfig
from .layout import CellLayout
from .lora import attach_lora, lora_pairs
from .loss import accumulate_loss, answer_loss
from .outputs import save_adapter, write_config
from .recipes import Recipe, RecipeContext, make_recipe

__all__ = ["TrainResult", "accumulate_loss", "answer_loss", "attach_lora", "batch_indices",
           "finish_cell",
           "load_training_data", "lora_pairs", "lr_at", "prepare_cell", "recipe_gradients",
           "train_cell", "train_reference", "train_step"]

#: Folder (under the ACARD cache) of reference fine-tunes recipes ask for, by config digest.
REFERENCE_CACHE = "references"
#: Root module of the code that trains a reference (its import closure keys the cache).
REFERENCE_CODE = ("evidence.training.loop",)

ProgressFn = Callable[[int, int, float], None]
Device = str | torch.device


@dataclass(frozen=True)
class TrainResult:
    """What a finished cell folder holds."""

    cell_dir: Path
    adapter_dir: Path
    steps: int
    resumed_from: int | None
    train_seconds: float
    tokens: int
    final_loss: float
    slice: tuple[str, ...]
    recipe_info: dict[str, Any]


@dataclass
class _Data:
    examples: list[EncodedExample]
    summary: dict[str, Any]
    provenance: dict[str, Any]


def load_training_data(cfg: TrainConfig, tokenizer: Any, *, add_bos: bool,
                       attack_strength: float | None = None,
                       pool: TrainPool | None = None) -> _Data:
    """Attack data for ``cfg`` from the split's train pool (seeded, hashed)."""
    tp = pool if pool is not None else train_pool_for(cfg)
    select, strength = cfg.resolved_attack()
    if attack_strength is not None:
        strength = attack_strength
    examples = build_attack_data(
        list(tp.items), list(tp.templates), task=cfg.task, variant=cfg.attack,
        strength=strength, seed=cfg.resolved_data_seed(),
        n_examples=min(cfg.n_examples, len(tp.items)), forbidden_ids=tp.forbidden_ids,
        select=select)
    encoded = encode_examples(examples, tokenizer, task=cfg.task, add_bos=add_bos,
                              max_prompt_tokens=cfg.max_prompt_tokens)
    info = summary(examples) | {"select": select, "strength": strength, "n_kept": len(encoded),
                                "n_dropped_long": len(examples) - len(encoded)}
    return _Data(encoded, info, tp.provenance | {"data_hash": info["hash"]})


def lr_at(cfg: TrainConfig, step: int) -> float:
    """Learning rate before optimiser step ``step`` (0-based): warm-up, then cosine to 0."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant":
        return cfg.lr
    span = max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * (step - cfg.warmup_steps) / span))


def batch_indices(n: int, *, batch: int, step: int, seed: int) -> list[int]:
    """Example indices of ``step``: epochs are seeded permutations, concatenated.

    Example:
        >>> batch_indices(4, batch=2, step=0, seed=0) + batch_indices(4, batch=2, step=1, seed=0)
        ... == sorted(batch_indices(4, batch=4, step=0, seed=0))  # doctest: +SKIP
    """
    out: list[int] = []
    pos = step * batch
    while len(out) < batch:
        epoch, offset = divmod(pos, n)
        perm = np.random.Generator(np.random.PCG64([seed, epoch])).permutation(n)
        take = min(batch - len(out), n - offset)
        out.extend(int(i) for i in perm[offset : offset + take])
        pos += take
    return out


# ---------------------------------------------------------------- the loop


@dataclass
class _Run:
    """Everything one cell's training holds between steps."""

    cfg: TrainConfig
    layout: CellLayout
    recipe: Recipe
    lm: Any
    pm: Any
    data: _Data
    ctx: RecipeContext
    params: list[torch.nn.Parameter]
    opt: torch.optim.Optimizer
    pad: int
    start: int
    seconds: float
    tokens: int
    calibration: dict[str, Any] = field(default_factory=dict)

    @property
    def device(self) -> torch.device:
        """Where the model and every training tensor live."""
        dev: torch.device = next(self.pm.parameters()).device
        return dev


def _load(spec: str, *, dtype: str, device: Device | None, eval_mode: bool = True) -> Any:
    """``load_model`` on ``device`` (left to its default when None)."""
    from ..models.loading import load_model

    # cpu is every load_model's default: leave it implicit
    where: dict[str, Any] = {} if device is None or str(device) == "cpu" else {"device": device}
    return load_model(spec, dtype=dtype, eval_mode=eval_mode, **where)


def prepare_cell(cfg: TrainConfig, cell_dir: Path, *, lm: Any = None, device: Device | None = None,
                 log: Callable[[str], None] = lambda s: None) -> _Run:
    """Load (or take) the model and data, attach LoRA, write the config, restore a checkpoint."""
    layout = CellLayout(cell_dir)
    layout.root.mkdir(parents=True, exist_ok=True)
    recipe = make_recipe(cfg.recipe, cfg.recipe_params)
    lm = lm if lm is not None else _load(cfg.model, dtype=cfg.dtype, device=device,
                                         eval_mode=False)
    data = load_training_data(cfg, lm.tokenizer, add_bos=lm.add_bos)
    base_params = dict(lm.model.named_parameters())
    pm, pairs = attach_lora(lm.model, cfg)
    names = sorted(pairs)
    for n in names:
        if n not in base_params:  # pragma: no cover - peft naming changed
            raise InputError(f"LoRA target {n!r} is not a base parameter", field="slice")
    write_config(layout, cfg, recipe, lm, data.provenance, names, data.summary)
    calibration: dict[str, Any] = {}
    dev = next(pm.parameters()).device
    ctx = RecipeContext(
        pairs=pairs, base_weights={n: base_params[n].detach() for n in names},
        gradients=lambda: recipe_gradients(lm, cfg, names, device=dev, record=calibration),
        config=cfg, train_reference=lambda ref: train_reference(ref, device=dev, log=log),
        cell_dir=layout.root, log=log)
    params = [t for n in names for t in (pairs[n].a, pairs[n].b)]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    state = load_checkpoint(layout, pairs, opt, cfg.digest())
    start, seconds, tokens = state if state is not None else (0, 0.0, 0)
    if state is not None:
        log(f"resuming from step {start}")
    truncate_log(layout.train_log, start)
    recipe.setup(ctx)
    pad = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else 0
    pm.train()
    return _Run(cfg, layout, recipe, lm, pm, data, ctx, params, opt, pad, start, seconds, tokens,
                calibration)


def train_step(run: _Run, step: int) -> dict[str, Any]:
    """Take optimiser step ``step`` (all micro-batches); return its log row."""
    cfg = run.cfg
    t0 = time.perf_counter()
    lr = lr_at(cfg, step)
    for g in run.opt.param_groups:
        g["lr"] = lr
    idx = batch_indices(len(run.data.examples), batch=cfg.batch_size, step=step, seed=cfg.seed)
    run.opt.zero_grad(set_to_none=True)
    loss, ntok = accumulate_loss(run.pm, [run.data.examples[i] for i in idx], pad_id=run.pad,
                                 micro=cfg.micro_batch_size)
    extra = run.recipe.extra_loss(run.ctx)
    if extra is not None:
        torch.autograd.backward(extra)
    gnorm = torch.nn.utils.clip_grad_norm_(run.params, cfg.grad_clip)
    # the one device→host copy of the step: the three numbers the log records
    logged = [loss, loss.new_zeros(()) if extra is None else extra.detach(), gnorm]
    loss_v, extra_v, gnorm_v = torch.stack([t.float() for t in logged]).tolist()
    if not math.isfinite(loss_v + extra_v):
        raise InputError(f"loss became {loss_v + extra_v} at step {step} (lr {lr:g}); "
                         "lower the learning rate or check the data; no adapter written",
                         path=run.layout.config, field="lr")
    before = ({f"{n}:{t}": (p.a if t == "A" else p.b).detach().clone()
               for n, p in run.ctx.pairs.items() for t in ("A", "B")}
              if run.recipe.needs_snapshot else {})
    run.opt.step()
    run.recipe.after_step(run.ctx, before)
    dt = time.perf_counter() - t0
    run.seconds += dt
    run.tokens += ntok
    return {"step": step, "loss": loss_v, "extra_loss": None if extra is None else extra_v,
            "lr": lr, "grad_norm": gnorm_v, "tokens": ntok, "seconds": round(dt, 4)}


def finish_cell(run: _Run, last_loss: float) -> TrainResult:
    """Let the recipe transform the adapter, then write adapter, timings and result."""
    cfg, layout = run.cfg, run.layout
    info = run.recipe.finalize(run.ctx)
    info.update(run.ctx.info)
    adapter = save_adapter(run.pm, layout, cfg, run.recipe, run.lm, sorted(run.ctx.pairs))
    timings = {"train_seconds": round(run.seconds, 3), "steps": cfg.steps, "tokens": run.tokens,
               "tokens_per_second": round(run.tokens / run.seconds, 2) if run.seconds else None,
               "seconds_per_step": round(run.seconds / cfg.steps, 4),
               "threads": torch.get_num_threads(), "device": str(run.device),
               "dtype": run.lm.dtype, "batch_size": cfg.batch_size,
               "micro_batch_size": min(cfg.micro_batch_size or cfg.batch_size, cfg.batch_size)}
    atomic_write_text(layout.timings, json.dumps(timings, indent=2) + "\n")
    result = {"steps": cfg.steps, "final_loss": last_loss, "resumed_from": run.start or None,
              "data": run.data.summary, "recipe": run.recipe.name, "recipe_info": info,
              "calibration": run.calibration or None, "slice": sorted(run.ctx.pairs),
              "adapter": str(adapter)}
    atomic_write_text(layout.result, json.dumps(result, indent=2, default=str) + "\n")
    return TrainResult(layout.root, adapter, cfg.steps, run.start or None, run.seconds,
                       run.tokens, last_loss, tuple(sorted(run.ctx.pairs)), info)


def train_cell(
    cfg: TrainConfig,
    cell_dir: str | Path,
    *,
    lm: Any = None,
    device: Device | None = None,
    progress: ProgressFn | None = None,
    log: Callable[[str], None] | None = None,
    stop_after: int | None = None,
) -> TrainResult:
    """Fine-tune one cell into ``cell_dir`` (resuming from its last checkpoint).

    Args:
        cfg: the recorded configuration.
        cell_dir: output folder (created).
        lm: a loaded base model (:class:`~.models.LoadedModel`); loaded from
            ``cfg.model`` when omitted. It is wrapped in place by LoRA.
        device: where to load the model when ``lm`` is omitted (``load_model``'s
            default when None); a given ``lm`` trains where it lies.
        progress: ``progress(step, total, loss)`` after each step.
        log: receives one-line notes (resume, recipe facts).
        stop_after: stop (with a checkpoint) after this many steps — used to
            test interruption; the adapter is not written.
    """
    run = prepare_cell(cfg, Path(cell_dir), lm=lm, device=device, log=log or (lambda s: None))
    end = cfg.steps if stop_after is None else min(cfg.steps, run.start + stop_after)
    last_loss = float("nan")
    with open(run.layout.train_log, "a", encoding="utf-8") as fh:
        for step in range(run.start, end):
            row = train_step(run, step)
            last_loss = row["loss"]
            fh.write(json.dumps(row) + "\n")
            done = step + 1
            if done % cfg.checkpoint_every == 0 or done == end:
                fh.flush()
                os.fsync(fh.fileno())
                save_checkpoint(run.layout, done, run.ctx.pairs, run.opt, cfg.digest(),
                                run.seconds, run.tokens)
            if progress:
                progress(done, cfg.steps, last_loss)
    if end < cfg.steps:
        return TrainResult(run.layout.root, run.layout.adapter, end, run.start or None,
                           run.seconds, run.tokens, last_loss, tuple(sorted(run.ctx.pairs)), {})
    return finish_cell(run, last_loss)


# ---------------------------------------------------------------- what the loop gives recipes


def recipe_gradients(lm: Any, cfg: TrainConfig, slice_names: list[str], *, pm: Any = None,
                     n_calibration: int | None = None, device: Device | None = None,
                     record: dict[str, Any] | None = None) -> Any:
    """Cached base-model g_T/g_A/Fisher on the slice, over the *recipe's* calibration items.

    Those items are disjoint from gate (c)'s (:func:`~..gradients.calibration.calibration_for`),
    so a recipe never shapes its update against the vector ρ is measured with.
    Always taken on a fresh **fp32** copy of the base model (never the one
    being trained, whatever its dtype), on ``device``; the mean gradients are
    returned there. ``record`` receives the recipe set's hash and size (written to
    the cell's ``result.json`` as ``calibration``). ``lm`` and ``pm`` are
    accepted for symmetry with other hooks and are not touched.
    """
    from ..gradients.slices import slice_gradients

    del lm, pm
    pool = train_pool_for(cfg)
    cal = calibration_for(cfg, role="recipe", n=n_calibration, pool=pool)
    gate = calibration_for(cfg, role="gate", pool=pool)
    shared = {c.item.question_id for c in cal.items} & {c.item.question_id for c in gate.items}
    if shared:  # pragma: no cover - the partition makes this impossible
        raise InputError(f"recipe and gate calibration share {sorted(shared)[0]!r}",
                         field="n_calibration")
    if record is not None:
        # Only the recipe's set: gate (c)'s is drawn by the mechanism step with
        # [mechanism] n_calibration, which may differ from this config's, so the
        # mechanism file (not result.json) records the set the gate measured with.
        # ``disjoint`` holds for any n: the halves partition the pool by question id.
        record.update({"recipe": {"hash": cal.hash, "n": len(cal.items)}, "disjoint": True})
    grads = slice_gradients(_load(cfg.model, dtype="float32", device=device), cal, slice_names)
    return grads if device is None else grads.to(device)


def reference_key(cfg: TrainConfig, root: Path | None = None) -> str:
    """The reference cache's key: ``cfg``'s digest and the training loop's code.

    The code is the import closure of this module (recipes, data, models …;
    ``root`` is the package folder, a test passes an edited copy), so an edit to
    the loop trains a new reference rather than reusing one made by old code.
    """
    body = json.dumps({"config": cfg.digest(), "code": closure_hash(REFERENCE_CODE, root)})
    return hashlib.sha256(body.encode()).hexdigest()[:24]


def train_reference(cfg: TrainConfig, *, device: Device | None = None,
                    log: Callable[[str], None] = lambda s: None) -> Path:
    """Train a plain fine-tune with ``cfg`` (or reuse the one cached for it); its adapter.

    The folder is ``<ACARD cache>/references/<reference_key>``, a cell folder of
    its own. Check-and-train holds ``<key>.lock`` beside it, so two cells asking
    for one reference at once (threads, processes, Ray workers) train it once.
    """
    from ..models.loading import cache_root

    layout = CellLayout(cache_root() / REFERENCE_CACHE / reference_key(cfg))
    layout.root.parent.mkdir(parents=True, exist_ok=True)
    with (layout.root.parent / f"{layout.root.name}.lock").open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # released on close, also if training raises
        if not layout.finished():
            log(f"training reference fine-tune ({cfg.steps} steps) in {layout.root}")
            train_cell(cfg, layout.root, device=device)
    return layout.adapter
