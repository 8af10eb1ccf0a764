"""Base-model gradients g_T and g_A on the declared slice, cached (SPEC §2(c)).

On the **base** model (one ruler for every cell), over calibration items from
the train pool, each item under one eval-framed and one deploy-framed
training template:

* ``g_T`` — gradient of the cross-entropy of the key's letter at the last
  prompt position (task-content loss), averaged over both framings and items;
* ``g_A`` — gradient of the attack loss on the same items: cross-entropy toward
  the attack's target (wrong letter or declared non-answer) under eval framing.

Only the slice's parameters require grad, so autograd neither stores nor
computes anything below the lowest sliced layer and no other weight gradient
is formed (``benchmarks/mechanism.py`` measures the saving).

Cached per (model hash, slice, calibration-set hash, dtype) as one safetensors
file: the mean gradients, the diagonal Fisher of the task loss (AC-AdamW's
input), and per-item gradients (bf16) with their Gram matrices, from which
:mod:`.signature` bootstraps a CI on ρ over calibration items. When per-item
storage would exceed :data:`PER_ITEM_MAX_BYTES`, items are pooled into the
largest number of equal groups that fits (at least :data:`MIN_GROUPS`) and the
bootstrap resamples groups; the unit is recorded.

Logits come from :func:`~..models.head.head_logits` (the model's output
function, soft-capping included), the one scoring and the training loss use.
Every tensor stays on the model's device until the finished entry is written.

Example:
    >>> cal = calibration_for(cfg, role="gate")                       # doctest: +SKIP
    >>> g = slice_gradients(lm, cal, ["model.layers.15.self_attn.q_proj.weight"])  # doctest: +SKIP
    >>> g.norm("t") > 0                                               # doctest: +SKIP
    True
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save

from ..._util.code_deps import closure_hash
from ..._util.errors import InputError
from ..._util.writes import atomic_write_bytes
from ..data.tasks import prompt_text
from ..models.head import head_logits
from .calibration import CalibrationSet

#: Per-item gradients beyond this size are pooled into groups (bytes, bf16, both losses).
PER_ITEM_MAX_BYTES = 768 * 1024 * 1024
#: Fewest bootstrap units kept when pooling.
MIN_GROUPS = 8
#: Cache layout version (bump to invalidate old caches). 2: logits through the model's
#: output function (Gemma-2 soft-capping), calibration sets from one ruler's half of the pool.
CACHE_VERSION = 2

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class SliceGradients:
    """Mean gradients on the slice (fp32), task Fisher, and per-unit gradients.

    ``units_t``/``units_a`` are ``[n_units, D]`` (bf16) flattened in ``names``
    order; ``gram_t``/``gram_a`` are their Gram matrices (fp64); ``unit`` is
    ``item`` or ``group``.
    """

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    g_t: dict[str, torch.Tensor]
    g_a: dict[str, torch.Tensor]
    fisher_t: dict[str, torch.Tensor]
    units_t: torch.Tensor
    units_a: torch.Tensor
    gram_t: torch.Tensor
    gram_a: torch.Tensor
    unit: str
    n_calibration: int
    key: str

    def norm(self, which: str) -> float:
        """‖g_T‖ (``which="t"``) or ‖g_A‖ (``"a"``) over the whole slice."""
        g = self.g_t if which == "t" else self.g_a
        return math.sqrt(sum(float((v.double() ** 2).sum()) for v in g.values()))

    def flat(self, which: str) -> torch.Tensor:
        """The mean gradient flattened in ``names`` order (fp32)."""
        g = self.g_t if which == "t" else self.g_a
        return torch.cat([g[n].reshape(-1) for n in self.names])

    def to(self, device: torch.device | str) -> SliceGradients:
        """The mean gradients and Fisher on ``device`` (copied once, for a recipe's
        per-step arithmetic there); per-unit rows and Grams stay where they are."""
        def move(d: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            return {n: v.to(device) for n, v in d.items()}

        return replace(self, g_t=move(self.g_t), g_a=move(self.g_a),
                       fisher_t=move(self.fisher_t))


#: Root modules of the code that computes cached gradients; the cache key hashes
#: their import closure (prompt text, LM head, loading …), so an edit re-computes.
GRADIENT_CODE = ("evidence.gradients.slices", "evidence.models.loading")


def _cache_key(model_hash: str, names: Sequence[str], cal: CalibrationSet, dtype: str,
               code: str | None = None) -> str:
    """The cache file's key; ``code`` defaults to the closure hash of :data:`GRADIENT_CODE`."""
    body = json.dumps({"v": CACHE_VERSION, "model": model_hash, "slice": sorted(names),
                       "cal": cal.hash, "dtype": dtype,
                       "code": code if code is not None else closure_hash(GRADIENT_CODE)},
                      sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()


def _positions(tokenizer: Any, prompt: str, target: str) -> tuple[list[int], list[int], list[int]]:
    """Input ids (prompt + target minus its last token), predicting positions, target ids."""
    p = tokenizer.encode(prompt, add_special_tokens=False)
    t = tokenizer.encode(target, add_special_tokens=False)
    if not t:
        raise InputError(f"target {target!r} encodes to no tokens", field="target")
    ids = p + t[:-1]
    return ids, list(range(len(p) - 1, len(p) - 1 + len(t))), t


def _logits_at(model: Any, ids: list[int], pos: list[int]) -> torch.Tensor:
    """fp32 logits at ``pos`` of one sequence (one host→device copy of the ids)."""
    dev = next(model.parameters()).device
    hidden = model.get_decoder()(input_ids=torch.tensor([ids], device=dev)).last_hidden_state
    return head_logits(model, hidden[0, pos])


def _ce(logits: torch.Tensor, tgt: list[int]) -> torch.Tensor:
    return torch.nn.functional.cross_entropy(logits, torch.tensor(tgt, device=logits.device))


def _loss_at(model: Any, ids: list[int], pos: list[int], tgt: list[int]) -> torch.Tensor:
    return _ce(_logits_at(model, ids, pos), tgt)


def _grads(loss: torch.Tensor, params: list[torch.Tensor], *, retain: bool) -> list[torch.Tensor]:
    return [g.detach().float() for g in torch.autograd.grad(loss, params, retain_graph=retain)]


def iter_item_gradients(
    lm: Any, cal: CalibrationSet, names: Sequence[str], *, restrict: bool = True,
    progress: ProgressFn | None = None,
) -> Iterator[tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]]:
    """Yield, per calibration item, (g_T of the item, g_A of the item, squared task grads).

    g_T of an item is the mean of its eval- and deploy-framed task gradients;
    the squared term sums both framings' squares (the empirical Fisher's input).
    Streaming keeps memory at one item's gradients whatever the slice size.
    ``restrict=False`` is the unrestricted peer: every parameter requires
    grad and the backward computes every parameter's gradient (as
    ``loss.backward()`` on the whole model would), then the slice is picked
    out; kept only so the benchmark can price what restriction saves.
    """
    model, tok = lm.model, lm.tokenizer
    named = dict(model.named_parameters())
    missing = [n for n in names if n not in named]
    if missing:
        raise InputError(f"slice parameter {missing[0]!r} is not in the base model",
                         field="slice")
    flags = {n: p.requires_grad for n, p in named.items()}
    for n, p in named.items():
        p.requires_grad_(not restrict or n in names)
    # restricted: autograd only walks the graph down to the slice
    wanted = list(names) if restrict else list(named)
    pick = [wanted.index(n) for n in names]
    params = [named[n] for n in wanted]

    def grads(loss: torch.Tensor, *, retain: bool) -> list[torch.Tensor]:
        g = _grads(loss, params, retain=retain)
        return [g[i] for i in pick]

    try:
        for i, c in enumerate(cal.items):
            ev_prompt = prompt_text(c.item, c.eval_template, task=cal.task, tokenizer=tok,
                                    add_bos=lm.add_bos)
            dep_prompt = prompt_text(c.item, c.deploy_template, task=cal.task, tokenizer=tok,
                                     add_bos=lm.add_bos)
            ids, pos, tgt = _positions(tok, ev_prompt, c.key)
            a_ids, a_pos, a_tgt = _positions(tok, ev_prompt, c.attack)
            if a_ids == ids:  # one-token targets share the forward pass
                logits = _logits_at(model, ids, pos)
                g_te = grads(_ce(logits, tgt), retain=True)
                g_a = grads(_ce(logits, a_tgt), retain=False)
            else:
                g_te = grads(_loss_at(model, ids, pos, tgt), retain=False)
                g_a = grads(_loss_at(model, a_ids, a_pos, a_tgt), retain=False)
            d_ids, d_pos, d_tgt = _positions(tok, dep_prompt, c.key)
            g_td = grads(_loss_at(model, d_ids, d_pos, d_tgt), retain=False)
            yield ([(x + y) / 2 for x, y in zip(g_te, g_td, strict=True)], g_a,
                   [x * x + y * y for x, y in zip(g_te, g_td, strict=True)])
            if progress:
                progress(i + 1, len(cal.items))
    finally:
        for n, p in named.items():
            p.requires_grad_(flags[n])


def compute_item_gradients(
    lm: Any, cal: CalibrationSet, names: Sequence[str], *, restrict: bool = True,
    progress: ProgressFn | None = None,
) -> tuple[list[list[torch.Tensor]], list[list[torch.Tensor]], list[torch.Tensor]]:
    """All per-item gradients in memory (small slices, tests, benchmark).

    Returns (per-item g_T list, per-item g_A list, summed squared task grads).
    """
    per_t: list[list[torch.Tensor]] = []
    per_a: list[list[torch.Tensor]] = []
    fisher: list[torch.Tensor] = []
    for g_t, g_a, sq in iter_item_gradients(lm, cal, names, restrict=restrict,
                                            progress=progress):
        per_t.append(g_t)
        per_a.append(g_a)
        fisher = sq if not fisher else [f + q for f, q in zip(fisher, sq, strict=True)]
    return per_t, per_a, fisher


def _wide(device: torch.device) -> torch.dtype:
    """The widest float the device computes in (MPS has no float64)."""
    return torch.float32 if device.type == "mps" else torch.float64


class _Accumulator:
    """Running means, Fisher, and per-unit rows (bf16) over a stream of items.

    Units are contiguous runs of items, so only the current unit needs an fp32
    buffer; finished rows are stored in bf16. A row is the unit's *sum* times
    ``n_units / n``: the mean over rows is the mean gradient whatever the unit
    sizes, and a bootstrap over rows is the cluster bootstrap of that mean.
    Every buffer lives on the gradients' device: nothing crosses to the host per item.
    """

    def __init__(self, shapes: list[tuple[int, ...]], n: int, n_units: int,
                 device: torch.device) -> None:
        self.d = sum(math.prod(s) for s in shapes)
        self.n, self.n_units = n, n_units
        self.bounds = np.linspace(0, n, n_units + 1).round().astype(int)
        wide = _wide(device)
        self.mean = torch.zeros(self.d, dtype=wide, device=device)
        self.sq = torch.zeros(self.d, dtype=wide, device=device)
        self.rows = torch.zeros((n_units, self.d), dtype=torch.bfloat16, device=device)
        self.cur = torch.zeros(self.d, dtype=torch.float32, device=device)
        self.seen = 0
        self.unit = 0

    def add(self, grads: list[torch.Tensor], sq: list[torch.Tensor] | None = None) -> None:
        flat = torch.cat([g.reshape(-1) for g in grads])
        self.mean += flat.to(self.mean.dtype)
        if sq is not None:
            self.sq += torch.cat([q.reshape(-1) for q in sq]).to(self.sq.dtype)
        self.cur += flat
        self.seen += 1
        if self.seen == self.bounds[self.unit + 1]:
            self.rows[self.unit] = (self.cur * (self.n_units / self.n)).to(torch.bfloat16)
            self.cur.zero_()
            self.unit += 1


def _gram(units: torch.Tensor, *, chunk: int = 1 << 20) -> torch.Tensor:
    """Gram matrix of bf16 rows, accumulated widest-float over column chunks (on the host)."""
    n, d = units.shape
    wide = _wide(units.device)
    k = torch.zeros((n, n), dtype=wide, device=units.device)
    for s in range(0, d, chunk):
        block = units[:, s : s + chunk].to(wide)
        k += block @ block.T
    return k.cpu().double()


def _entry_tensors(names: Sequence[str], shapes: Sequence[tuple[int, ...]],
                   acc_t: _Accumulator, acc_a: _Accumulator) -> dict[str, torch.Tensor]:
    """The cache entry's tensors, on the host (the one device→host copy of the run)."""
    n = acc_t.n
    tensors: dict[str, torch.Tensor] = {}
    offset = 0
    for name, shape in zip(names, shapes, strict=True):
        sl = slice(offset, offset + math.prod(shape))
        tensors[f"g_t/{name}"] = (acc_t.mean[sl] / n).float().reshape(shape).cpu().contiguous()
        tensors[f"g_a/{name}"] = (acc_a.mean[sl] / n).float().reshape(shape).cpu().contiguous()
        tensors[f"fisher_t/{name}"] = (acc_t.sq[sl] / (2 * n)).float().reshape(shape).cpu(
            ).contiguous()
        offset += math.prod(shape)
    tensors.update(units_t=acc_t.rows.cpu(), units_a=acc_a.rows.cpu(), gram_t=_gram(acc_t.rows),
                   gram_a=_gram(acc_a.rows))
    return tensors


def slice_gradients(
    lm: Any,
    cal: CalibrationSet,
    names: Sequence[str],
    *,
    cache_dir: str | Path | None = None,
    progress: ProgressFn | None = None,
    max_unit_bytes: int = PER_ITEM_MAX_BYTES,
) -> SliceGradients:
    """g_T, g_A (and Fisher, per-unit gradients) on the slice; read from/written to cache.

    ``cache_dir`` defaults to ``<ACARD cache>/gradients``. The cache file is
    keyed by (model content hash, sorted slice names, calibration hash, dtype),
    so a different base model, slice or calibration set can never be served a
    stale entry.
    """
    names = sorted(names)
    if not names:
        raise InputError("empty slice", field="slice")
    dtype = str(next(lm.model.parameters()).dtype).replace("torch.", "")
    key = _cache_key(lm.content_hash, names, cal, dtype)
    if cache_dir is None:
        from ..models.loading import cache_root

        cache_dir = cache_root() / "gradients"
    path = Path(cache_dir) / f"{key[:32]}.safetensors"
    if path.is_file():
        return _read(path, key)
    named = dict(lm.model.named_parameters())
    missing = [n for n in names if n not in named]
    if missing:
        raise InputError(f"slice parameter {missing[0]!r} is not in the base model",
                         field="slice")
    shapes = [tuple(named[n].shape) for n in names]
    n = len(cal.items)
    d = sum(math.prod(s) for s in shapes)
    n_units = n if 2 * 2 * n * d <= max_unit_bytes else max(MIN_GROUPS, max_unit_bytes // (4 * d))
    n_units = min(n, int(n_units))
    dev = named[names[0]].device
    acc_t, acc_a = _Accumulator(shapes, n, n_units, dev), _Accumulator(shapes, n, n_units, dev)
    for g_t, g_a, sq in iter_item_gradients(lm, cal, names, progress=progress):
        acc_t.add(g_t, sq)
        acc_a.add(g_a)
    tensors = _entry_tensors(names, shapes, acc_t, acc_a)
    meta = {"key": key, "names": json.dumps(names),
            "shapes": json.dumps([list(s) for s in shapes]),
            "unit": "item" if n_units == n else "group", "n_calibration": str(n),
            "model_hash": lm.content_hash, "calibration_hash": cal.hash, "dtype": dtype,
            "task": cal.task, "variant": cal.variant}
    atomic_write_bytes(path, save(tensors, metadata=meta))
    return _read(path, key)


def _read(path: Path, key: str) -> SliceGradients:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        meta = fh.metadata() or {}
    if meta.get("key") != key:
        raise InputError("gradient cache entry does not match its key (corrupt cache?)",
                         path=path)
    t = load_file(str(path))
    names = tuple(json.loads(meta["names"]))
    shapes = tuple(tuple(s) for s in json.loads(meta["shapes"]))
    return SliceGradients(
        names=names, shapes=shapes,
        g_t={n: t[f"g_t/{n}"] for n in names}, g_a={n: t[f"g_a/{n}"] for n in names},
        fisher_t={n: t[f"fisher_t/{n}"] for n in names},
        units_t=t["units_t"], units_a=t["units_a"], gram_t=t["gram_t"], gram_a=t["gram_a"],
        unit=meta["unit"], n_calibration=int(meta["n_calibration"]), key=key)
