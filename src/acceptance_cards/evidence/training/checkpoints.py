"""Resumable training checkpoints: LoRA factors + AdamW state in one safetensors file.

``cell/checkpoints/step-NNNNNN.safetensors`` holds every LoRA factor and its
AdamW moments and step count; metadata records the step, the config digest
(a checkpoint of another config is refused), and the training seconds and
tokens so far. Files are written atomically; the last ``KEEP_CHECKPOINTS``
are kept. Batch order is a pure function of (seed, step), so factors +
optimiser state are all a resumed run needs.

File names come from :class:`~.layout.CellLayout`. Tensors are written from
and restored to the device the LoRA factors live on (optimiser moments beside
their parameter; AdamW's step counter stays a host tensor, as torch keeps it).

Example:
    >>> latest(CellLayout(Path("cells/adamw-s42")))           # doctest: +SKIP
    PosixPath('cells/adamw-s42/checkpoints/step-000080.safetensors')
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save

from ..._util.errors import InputError
from ..._util.writes import atomic_write_bytes, atomic_write_text
from .layout import CellLayout, checkpoint_step
from .recipes import LoraPair

#: Checkpoints kept on disk (older ones are deleted after a new one is written).
KEEP_CHECKPOINTS = 2


def latest(cell: CellLayout) -> Path | None:
    """The newest checkpoint of a cell folder, if any."""
    files = sorted(cell.checkpoint_files(), key=checkpoint_step)
    return files[-1] if files else None


def save_checkpoint(cell: CellLayout, step: int, pairs: dict[str, LoraPair],
                     opt: torch.optim.Optimizer, digest: str, seconds: float, tokens: int) -> None:
    """Write the step's checkpoint atomically and prune old ones."""
    tensors: dict[str, torch.Tensor] = {}
    for name in sorted(pairs):
        for tag, p in (("A", pairs[name].a), ("B", pairs[name].b)):
            tensors[f"param/{name}:{tag}"] = p.detach().cpu().contiguous()
            st = opt.state.get(p, {})
            for key in ("exp_avg", "exp_avg_sq"):
                if key in st:
                    tensors[f"opt/{name}:{tag}/{key}"] = st[key].cpu().contiguous()
            if "step" in st:
                tensors[f"opt/{name}:{tag}/step"] = torch.as_tensor(st["step"]).reshape(1).float(
                    ).cpu()
    meta = {"step": str(step), "config_digest": digest, "seconds": repr(seconds),
            "tokens": str(tokens)}
    cell.checkpoints.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(cell.checkpoint(step), save(tensors, metadata=meta))
    for old in sorted(cell.checkpoint_files(), key=checkpoint_step)[:-KEEP_CHECKPOINTS]:
        old.unlink(missing_ok=True)


def load_checkpoint(cell: CellLayout, pairs: dict[str, LoraPair], opt: torch.optim.Optimizer,
                     digest: str) -> tuple[int, float, int] | None:
    """Restore factors and optimiser state; return (step, seconds, tokens) or None."""
    path = latest(cell)
    if path is None:
        return None
    with safe_open(str(path), framework="pt") as fh:
        meta = fh.metadata() or {}
    if meta.get("config_digest") != digest:
        raise InputError("checkpoint was written by a different config", path=path,
                         field="config_digest")
    t = load_file(str(path))
    with torch.no_grad():
        for name in sorted(pairs):
            for tag, p in (("A", pairs[name].a), ("B", pairs[name].b)):
                key = f"param/{name}:{tag}"
                if key not in t or t[key].shape != p.shape:
                    raise InputError(f"checkpoint lacks {key!r} or its shape differs", path=path)
                p.copy_(t[key])
                if f"opt/{name}:{tag}/exp_avg" in t:
                    opt.state[p] = {"step": t[f"opt/{name}:{tag}/step"].reshape(()).clone(),
                                    "exp_avg": t[f"opt/{name}:{tag}/exp_avg"].to(p.device),
                                    "exp_avg_sq": t[f"opt/{name}:{tag}/exp_avg_sq"].to(p.device)}
    return int(meta["step"]), float(meta.get("seconds", "0")), int(meta.get("tokens", "0"))


def truncate_log(path: Path, upto: int) -> None:
    """Keep log rows of steps < ``upto`` (a resumed run re-logs later steps)."""
    if not path.is_file():
        return
    keep = [ln for ln in path.read_text(encoding="utf-8").splitlines()
            if ln.strip() and json.loads(ln)["step"] < upto]
    atomic_write_text(path, "".join(ln + "\n" for ln in keep))
