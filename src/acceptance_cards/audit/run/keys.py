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

__all__ = ["adapter_id", "eval_inputs", "mechanism_inputs", "recipe_source", "split_inputs",
           "train_inputs", "with_code"]

#: The entry-point group plug-in recipes register under (the registry's ``ENTRY_POINT_GROUP``;
#: repeated here because the registry imports torch and keys must not).
_RECIPE_GROUP = "acceptance_cards.recipes"


def with_code(kind: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """``inputs`` plus the code version of the modules that compute a ``kind`` step."""
    from .steps import code_version

    return {**inputs, "code": code_version(kind)}


def split_inputs(cfg: AuditConfig) -> dict[str, Any]:
    """The split step's inputs: the ``[split]`` section."""
    return {"split": cfg.split.model_dump()}


def train_inputs(cfg: AuditConfig, model_in: dict[str, Any], recipe: RecipeSpec, seed: int,
                 task: str, split_hash: str) -> dict[str, Any]:
    """A fine-tune's inputs: model, recipe and its params, seed, task, training config, split.

    A plug-in recipe adds ``recipe_source`` (its module file's sha256), so editing
    it re-trains; a built-in's code is already in the step's code version.
    """
    inputs = {"model": model_in, "recipe": recipe.recipe_id, "params": recipe.params,
              "seed": seed, "task": task, "train": cfg.train_for(task), "split": split_hash}
    source = recipe_source(recipe.recipe_id)
    return {**inputs, "recipe_source": source} if source is not None else inputs


def recipe_source(recipe_id: str) -> str | None:
    """sha256 of a plug-in recipe's module file, found without importing it (no torch).

    ``module:Class`` names its module; an installed plug-in name its entry
    point's. ``None`` for a built-in, a name that is neither (the config check
    reports it), or a module inside this package (its code is in the step's
    code version already).

    Example:
        >>> recipe_source("adamw") is None
        True
    """
    import hashlib
    import importlib.util
    from importlib.metadata import entry_points

    if ":" in recipe_id:
        module = recipe_id.partition(":")[0]
    else:
        eps = [ep for ep in entry_points(group=_RECIPE_GROUP) if ep.name == recipe_id]
        if not eps:
            return None
        module = eps[0].module
    if not module or module.split(".")[0] == __name__.split(".")[0]:
        return None
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    origin = spec.origin if spec is not None else None
    if origin is None or not Path(origin).is_file():
        return None
    return hashlib.sha256(Path(origin).read_bytes()).hexdigest()


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
