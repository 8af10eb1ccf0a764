"""What keys each step: one function per kind, shared by the runner and the status report.

The status report recomputes keys to find finished steps without running any,
so both must build a step's inputs the same way; this module is that one way.
A key is the hash of the step's inputs plus the code version of the modules
that compute it (see :func:`with_code`).

Example:
    >>> from acceptance_cards.audit.run.config import AuditConfig
    >>> cfg = AuditConfig.model_validate({"models": [{"name": "m", "spec": "m"}],
    ...                                   "recipes": [{"name": "r"}]})
    >>> sorted(split_inputs(cfg)["split"])[:2]
    ['fresh_subject_fraction', 'mmlu_path']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import AuditConfig, RecipeSpec

__all__ = ["adapter_id", "eval_inputs", "mechanism_inputs", "split_inputs", "train_inputs",
           "with_code"]


def with_code(kind: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """``inputs`` plus the code version of the modules that compute a ``kind`` step."""
    from .steps import code_version

    return {**inputs, "code": code_version(kind)}


def split_inputs(cfg: AuditConfig) -> dict[str, Any]:
    """The split step's inputs: the ``[split]`` section."""
    return {"split": cfg.split.model_dump()}


def train_inputs(cfg: AuditConfig, model_in: dict[str, Any], recipe: RecipeSpec, seed: int,
                 task: str, split_hash: str) -> dict[str, Any]:
    """A fine-tune's inputs: model, recipe and its params, seed, task, training config, split."""
    return {"model": model_in, "recipe": recipe.recipe_id, "params": recipe.params, "seed": seed,
            "task": task, "train": cfg.train_for(task), "split": split_hash}


def adapter_id(adapter: Path) -> list[tuple[str, str]]:
    """An adapter's identity: its safetensors files with their sha256."""
    from ..._util.files import sha256_file

    return sorted((p.name, sha256_file(p)) for p in adapter.glob("*.safetensors"))


def eval_inputs(cfg: AuditConfig, model_in: dict[str, Any], adapter: Path | None, task: str,
                split_hash: str, split_name: str, cell_name: str, seed: int) -> dict[str, Any]:
    """An evaluation's inputs: model, adapter weights, task, split, ``[eval]``, record labels."""
    return {"model": model_in, "adapter": adapter_id(adapter) if adapter is not None else None,
            "task": task, "split": split_hash, "split_name": split_name,
            "eval": cfg.eval.model_dump(), "cell": cell_name, "seed": seed}


def mechanism_inputs(cfg: AuditConfig, model_in: dict[str, Any], adapter: Path,
                     split_hash: str) -> dict[str, Any]:
    """The mechanism step's inputs: model, the defense adapter's weights, ``[mechanism]``, split."""
    return {"model": model_in, "task": cfg.audit.primary_task, "adapter": adapter_id(adapter),
            "mechanism": cfg.mechanism, "split": split_hash}
