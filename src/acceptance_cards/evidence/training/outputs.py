"""What a training run writes into its cell folder besides the log and checkpoints:
the recorded config (refusing a folder that holds another one) and the adapter.

Both are written atomically; the adapter folder is swapped in whole, so a
reader never sees half an adapter.

Example:
    >>> write_config(CellLayout(Path("c")), cfg, recipe, lm, prov, names, info)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from ..._util.errors import InputError
from ..._util.writes import atomic_write_text
from .config import TrainConfig
from .layout import CellLayout
from .recipes import Recipe

__all__ = ["save_adapter", "write_config"]


def write_config(layout: CellLayout, cfg: TrainConfig, recipe: Recipe, lm: Any,
                  prov: dict[str, Any], slice_names: list[str], data_info: dict[str, Any]) -> None:
    """Record ``cfg`` (its digest, recipe, slice, data summary, provenance) as ``config.json``."""
    path = layout.config
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


def save_adapter(pm: Any, layout: CellLayout, cfg: TrainConfig, recipe: Recipe, lm: Any,
                  slice_names: list[str]) -> Path:
    """Write the peft adapter (safetensors) + our sidecar, atomically as a folder."""
    final = layout.adapter
    tmp = layout.root / f".adapter.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    pm.save_pretrained(str(tmp), safe_serialization=True)
    side = {"base_model": lm.name, "base_model_hash": lm.content_hash,
            "slice": slice_names, "recipe": recipe.name,
            "claimed_class": recipe.claimed_class, "permissive_class": recipe.permissive_class,
            "config_digest": cfg.digest(), "task": cfg.task, "attack": cfg.attack,
            "seed": cfg.seed}
    atomic_write_text(tmp / layout.adapter_sidecar.name, json.dumps(side, indent=2) + "\n")
    if final.exists():
        old = layout.root / f".adapter.old{os.getpid()}"
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)
    return final
