"""The LoRA fine-tune loop every recipe plugs into: resumable, seeded, recorded.

One call trains one *cell* (model × recipe × task × seed) into a folder::

    cell_dir/
      config.json        TrainConfig + provenance (model/split/templates/data hashes)
      train_log.jsonl    one row per step: loss, extra loss, lr, grad norm, seconds
      checkpoints/       step-NNNNNN.safetensors: LoRA factors + AdamW state (last 2 kept)
      adapter/           the peft adapter (safetensors) + acard_adapter.json
      timings.json       training seconds, steps, tokens, tokens/s
      result.json        final loss, data summary, what the recipe did

The loss is cross-entropy on the answer tokens only, read at the positions
that predict them (only those go through the LM head). AdamW, cosine decay,
global-norm clipping. LoRA ``A`` is drawn from an explicit ``torch.Generator``
(peft's own init uses the global RNG), ``B`` starts at zero. The batch order
is a pure function of (seed, step), so a run resumed from its last checkpoint
takes exactly the steps an uninterrupted run would. A non-finite loss stops
the run with an :class:`InputError`; the adapter is only ever written whole.

Example:
    >>> res = train_cell(TrainConfig(recipe="adamw", steps=80), Path("cells/adamw-s42"))  # doctest: +SKIP
    >>> res.adapter_dir.name                                                              # doctest: +SKIP
    'adapter'
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..._util.errors import InputError
from ..._util.writes import atomic_write_text
from ..data.attacks import EncodedExample, build_attack_data, encode_examples, summary, training_templates
from .checkpoints import load_checkpoint, save_checkpoint, truncate_log
from .config import TrainConfig
from .recipes import LoraPair, Recipe, RecipeContext, make_recipe

#: peft prefixes module names with this when wrapping the base model.
_PEFT_PREFIX = "base_model.model."

ProgressFn = Callable[[int, int, float], None]


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
                       attack_strength: float | None = None) -> _Data:
    """Attack data for ``cfg`` from the split's train pool (seeded, hashed)."""
    from ..data.mmlu import load_mmlu_source
    from ..data.split import check_source, load_split, make_split, train_pool
    from ..data.templates import load_templates

    source = load_mmlu_source()
    if cfg.split is not None:
        split = load_split(cfg.split)
        check_source(split, source)
    else:
        split = make_split(source, seed=cfg.split_seed)
    templates = load_templates(cfg.templates)
    pool = train_pool(split, source.items)
    select, strength = cfg.resolved_attack()
    if attack_strength is not None:
        strength = attack_strength
    examples = build_attack_data(
        pool, training_templates(templates.templates, extra=cfg.extra_wordings), task=cfg.task,
        variant=cfg.attack,
        strength=strength, seed=cfg.resolved_data_seed(), n_examples=min(cfg.n_examples, len(pool)),
        forbidden_ids=frozenset(split.heldout_ids) | frozenset(split.fresh_ids),
        select=select)
    encoded = encode_examples(examples, tokenizer, task=cfg.task, add_bos=add_bos,
                              max_prompt_tokens=cfg.max_prompt_tokens)
    info = summary(examples) | {"select": select, "strength": strength, "n_kept": len(encoded),
                                "n_dropped_long": len(examples) - len(encoded)}
    prov = {"split_hash": split.hash, "mmlu_sha256": source.sha256,
            "templates_sha256": templates.sha256, "data_hash": info["hash"]}
    return _Data(encoded, info, prov)


def lora_pairs(peft_model: Any) -> dict[str, LoraPair]:
    """Base parameter name -> (A, B, scaling) for every LoRA-wrapped linear."""
    out: dict[str, LoraPair] = {}
    for mod_name, mod in peft_model.named_modules():
        if not hasattr(mod, "lora_A") or "default" not in getattr(mod, "lora_A", {}):
            continue
        base = mod_name[len(_PEFT_PREFIX):] if mod_name.startswith(_PEFT_PREFIX) else mod_name
        name = f"{base}.weight"
        out[name] = LoraPair(name, mod.lora_A["default"].weight, mod.lora_B["default"].weight,
                             float(mod.scaling["default"]))
    return out


def attach_lora(model: Any, cfg: TrainConfig) -> tuple[Any, dict[str, LoraPair]]:
    """Wrap ``model`` with LoRA per ``cfg``; seeded fp32 factors (A uniform, B zero)."""
    from peft import LoraConfig, get_peft_model

    n_layers = int(getattr(model.config, "num_hidden_layers", 0))
    if cfg.layers is not None and n_layers and any(not 0 <= i < n_layers for i in cfg.layers):
        raise InputError(f"layers must be in 0..{n_layers - 1}, got {list(cfg.layers)}",
                         field="layers")
    lcfg = LoraConfig(r=cfg.lora_rank, lora_alpha=cfg.lora_alpha,
                      target_modules=cfg.lora_targets(),
                      layers_to_transform=list(cfg.layers) if cfg.layers is not None else None,
                      lora_dropout=0.0, bias="none")
    try:
        pm = get_peft_model(model, lcfg)
    except ValueError as exc:
        raise InputError(f"cannot place LoRA on {cfg.lora_targets()}: {exc}",
                         field="target_modules") from None
    pairs = lora_pairs(pm)
    if not pairs:
        raise InputError("no LoRA target matched the model", field="target_modules")
    gen = torch.Generator().manual_seed(cfg.seed)
    with torch.no_grad():
        for name in sorted(pairs):
            p = pairs[name]
            p.a.data = p.a.data.float()
            p.b.data = p.b.data.float()
            bound = 1.0 / math.sqrt(p.a.shape[1])  # = kaiming_uniform(a=√5), peft's default
            p.a.copy_(torch.rand(p.a.shape, generator=gen) * 2 * bound - bound)
            p.b.zero_()
    return pm, lora_pairs(pm)


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


def answer_loss(model: Any, batch: list[EncodedExample], *, pad_id: int) -> tuple[torch.Tensor, int]:
    """Mean cross-entropy over the answer tokens of ``batch``; also the token count."""
    seqs = [list(e.prompt_ids) + list(e.target_ids[:-1]) for e in batch]
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    rows: list[int] = []
    pos: list[int] = []
    tgt: list[int] = []
    for i, (s, e) in enumerate(zip(seqs, batch, strict=True)):
        ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
        start = len(e.prompt_ids) - 1
        for j, t in enumerate(e.target_ids):
            rows.append(i)
            pos.append(start + j)
            tgt.append(t)
    # Right padding needs no mask: causal attention keeps real tokens blind to later pads.
    hidden = model.get_decoder()(input_ids=ids).last_hidden_state
    logits = model.get_output_embeddings()(hidden[torch.tensor(rows), torch.tensor(pos)]).float()
    return torch.nn.functional.cross_entropy(logits, torch.tensor(tgt)), sum(len(s) for s in seqs)


# ---------------------------------------------------------------- the loop


def _write_config(cell: Path, cfg: TrainConfig, recipe: Recipe, lm: Any, prov: dict[str, Any],
                  slice_names: list[str], data_info: dict[str, Any]) -> None:
    path = cell / "config.json"
    body = {"config": cfg.model_dump(mode="json"), "config_digest": cfg.digest(),
            "recipe": {"name": recipe.name, "claimed_class": recipe.claimed_class,
                       "permissive_class": recipe.permissive_class, "params": recipe.params()},
            "slice": slice_names, "data": data_info,
            "provenance": {"model": lm.name, "model_source": lm.source,
                           "model_hash": lm.content_hash, "dtype": lm.dtype,
                           "torch": torch.__version__, **prov}}
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            old = {}
        if old.get("config_digest") not in (None, cfg.digest()):
            raise InputError("cell folder holds a different config; use a new folder",
                             path=path, field="config")
    atomic_write_text(path, json.dumps(body, indent=2) + "\n")


def train_cell(
    cfg: TrainConfig,
    cell_dir: str | Path,
    *,
    lm: Any = None,
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
        progress: ``progress(step, total, loss)`` after each step.
        log: receives one-line notes (resume, recipe facts).
        stop_after: stop (with a checkpoint) after this many steps — used to
            test interruption; the adapter is not written.
    """
    cell = Path(cell_dir)
    cell.mkdir(parents=True, exist_ok=True)
    say = log or (lambda s: None)
    recipe = make_recipe(cfg.recipe, cfg.recipe_params)
    if lm is None:
        from ..models.loading import load_model

        lm = load_model(cfg.model, dtype=cfg.dtype, eval_mode=False)
    data = load_training_data(cfg, lm.tokenizer, add_bos=lm.add_bos)
    base_params = {n: p for n, p in lm.model.named_parameters()}
    base_shapes = {n: tuple(p.shape) for n, p in base_params.items()}
    pm, pairs = attach_lora(lm.model, cfg)
    slice_names = sorted(pairs)
    for n in slice_names:
        if n not in base_shapes:  # pragma: no cover - peft naming changed
            raise InputError(f"LoRA target {n!r} is not a base parameter", field="slice")
    _write_config(cell, cfg, recipe, lm, data.provenance, slice_names, data.summary)
    base_weights = {n: base_params[n].detach() for n in slice_names}

    def gradients() -> Any:
        return recipe_gradients(lm, cfg, slice_names, pm=pm)

    ctx = RecipeContext(pairs=pairs, base_weights=base_weights, gradients=gradients, config=cfg,
                        cell_dir=cell, log=say)
    params = [t for n in slice_names for t in (pairs[n].a, pairs[n].b)]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    state = load_checkpoint(cell, pairs, opt, cfg.digest())
    start, seconds, tokens = state if state is not None else (0, 0.0, 0)
    if state is not None:
        say(f"resuming from step {start}")
    truncate_log(cell / "train_log.jsonl", start)
    recipe.setup(ctx)
    pad = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else 0
    pm.train()
    last_loss = float("nan")
    end = cfg.steps if stop_after is None else min(cfg.steps, start + stop_after)
    with open(cell / "train_log.jsonl", "a", encoding="utf-8") as fh:
        for step in range(start, end):
            t0 = time.perf_counter()
            lr = lr_at(cfg, step)
            for g in opt.param_groups:
                g["lr"] = lr
            idx = batch_indices(len(data.examples), batch=cfg.batch_size, step=step, seed=cfg.seed)
            loss, ntok = answer_loss(pm, [data.examples[i] for i in idx], pad_id=pad)
            extra = recipe.extra_loss(ctx)
            total = loss if extra is None else loss + extra
            if not torch.isfinite(total):
                raise InputError(f"loss became {float(total.detach())} at step {step} (lr {lr:g}); "
                                 "lower the learning rate or check the data; no adapter written",
                                 path=cell / "config.json", field="lr")
            opt.zero_grad(set_to_none=True)
            torch.autograd.backward(total)
            gnorm = float(torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip))
            before = ({f"{n}:{t}": (pairs[n].a if t == "A" else pairs[n].b).detach().clone()
                       for n in slice_names for t in ("A", "B")} if recipe.needs_snapshot else {})
            opt.step()
            recipe.after_step(ctx, before)
            dt = time.perf_counter() - t0
            seconds += dt
            tokens += ntok
            last_loss = float(loss.detach())
            fh.write(json.dumps({"step": step, "loss": last_loss,
                                 "extra_loss": None if extra is None else float(extra.detach()),
                                 "lr": lr, "grad_norm": gnorm, "tokens": ntok,
                                 "seconds": round(dt, 4)}) + "\n")
            done = step + 1
            if done % cfg.checkpoint_every == 0 or done == end:
                fh.flush()
                os.fsync(fh.fileno())
                save_checkpoint(cell, done, pairs, opt, cfg.digest(), seconds, tokens)
            if progress:
                progress(done, cfg.steps, last_loss)
    if end < cfg.steps:
        return TrainResult(cell, cell / "adapter", end, start or None, seconds, tokens, last_loss,
                           tuple(slice_names), {})
    info = recipe.finalize(ctx)
    info.update(ctx.info)
    adapter = _save_adapter(pm, cell, cfg, recipe, lm, slice_names)
    timings = {"train_seconds": round(seconds, 3), "steps": cfg.steps, "tokens": tokens,
               "tokens_per_second": round(tokens / seconds, 2) if seconds else None,
               "seconds_per_step": round(seconds / cfg.steps, 4),
               "threads": torch.get_num_threads(), "device": "cpu", "dtype": lm.dtype}
    atomic_write_text(cell / "timings.json", json.dumps(timings, indent=2) + "\n")
    result = {"steps": cfg.steps, "final_loss": last_loss, "resumed_from": start or None,
              "data": data.summary, "recipe": recipe.name, "recipe_info": info,
              "slice": slice_names, "adapter": str(adapter)}
    atomic_write_text(cell / "result.json", json.dumps(result, indent=2, default=str) + "\n")
    return TrainResult(cell, adapter, cfg.steps, start or None, seconds, tokens, last_loss,
                       tuple(slice_names), info)


def _save_adapter(pm: Any, cell: Path, cfg: TrainConfig, recipe: Recipe, lm: Any,
                  slice_names: list[str]) -> Path:
    """Write the peft adapter (safetensors) + our sidecar, atomically as a folder."""
    final = cell / "adapter"
    tmp = cell / f".adapter.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    pm.save_pretrained(str(tmp), safe_serialization=True)
    side = {"base_model": lm.name, "base_model_hash": lm.content_hash, "slice": slice_names,
            "recipe": recipe.name, "claimed_class": recipe.claimed_class,
            "permissive_class": recipe.permissive_class, "config_digest": cfg.digest(),
            "task": cfg.task, "attack": cfg.attack, "seed": cfg.seed}
    atomic_write_text(tmp / "acard_adapter.json", json.dumps(side, indent=2) + "\n")
    if final.exists():
        old = cell / f".adapter.old{os.getpid()}"
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)
    return final


# ---------------------------------------------------------------- helpers for recipes


def recipe_gradients(lm: Any, cfg: TrainConfig, slice_names: list[str], *, pm: Any = None,
                     n_calibration: int | None = None) -> Any:
    """Cached base-model g_T/g_A/Fisher on the slice for ``cfg``'s task and attack.

    Always taken on a fresh **fp32** copy of the base model (never the one
    being trained, whatever its dtype), so recipes and ``acard mechanism``
    share one ruler and one cache entry. ``lm`` and ``pm`` are accepted for
    symmetry with other hooks and are not touched.
    """
    from ..gradients.slices import slice_gradients
    from ..models.loading import load_model

    del lm, pm
    cal = calibration_for(cfg, n=n_calibration)
    return slice_gradients(load_model(cfg.model, dtype="float32"), cal, slice_names)


def calibration_for(cfg: TrainConfig, *, n: int | None = None, seed: int = 0) -> Any:
    """The calibration set gate (c) and the recipes use for ``cfg``'s task/attack/split.

    Train-pool items only (never held-out or fresh), training-only wordings;
    ``n`` items (default: ``cfg.n_calibration``, else 64), so a recipe and the
    mechanism of its adapter share one gradient cache entry.
    """
    from ..data.mmlu import load_mmlu_source
    from ..data.split import load_split, make_split, train_pool
    from ..data.templates import load_templates
    from ..gradients.slices import DEFAULT_N_CALIBRATION, calibration_set

    source = load_mmlu_source()
    split = load_split(cfg.split) if cfg.split is not None else make_split(
        source, seed=cfg.split_seed)
    templates = load_templates(cfg.templates)
    return calibration_set(train_pool(split, source.items),
                           training_templates(templates.templates, extra=cfg.extra_wordings),
                           task=cfg.task,
                           variant=cfg.attack, n=n or cfg.n_calibration or DEFAULT_N_CALIBRATION, seed=seed,
                           forbidden_ids=frozenset(split.heldout_ids) | frozenset(split.fresh_ids))
