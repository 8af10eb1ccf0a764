"""What a finished cell's files say its card must state: stand-ins, recipe facts, rulers.

The audit's card step reads a defense cell's training folder (``result.json``,
``config.json``) and its mechanism file — JSON only, no torch — and returns the
``evidence`` metadata of its card (:class:`~acceptance_cards.card.evidence.EvidenceProvenance`):

* **stand-ins** — always the abstain attack when the cell's attack is
  ``abstain`` (the paper's wrong-answer attack cannot install a gap on a
  near-chance model); SafeLoRA's reference when it is a stand-in fine-tune;
* **SafeLoRA's own facts** — from the recipe's record in ``result.json``
  (``recipe_info.safelora_*``);
* **calibration rulers** — gate (c)'s items (the mechanism file's
  ``calibration_hash``) and the recipe's base-model-gradient items
  (``result.json`` ``calibration.recipe``), and whether they are disjoint;
* the recipe's **permissive class** (mechanism file or ``config.json``), so
  the card carries the permissive relabel beside the strict verdict.

Keys a file lacks are simply not stated (older cells, other recipes).

Example:
    >>> import json, tempfile, pathlib
    >>> from acceptance_cards.audit.run.config import AuditConfig
    >>> cfg = AuditConfig.model_validate({"audit": {"name": "x", "seeds": [1]},
    ...     "models": [{"name": "m", "spec": "tiny"}],
    ...     "recipes": [{"name": "adamw"}, {"name": "d", "claimed_class": "shrinkage"}],
    ...     "train": {"attack": "abstain"}})
    >>> ev = evidence_metadata(cfg, "d")
    >>> [s["what"] for s in ev["stand_ins"]]
    ['abstain attack']
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from pydantic import ValidationError

from ..._util.errors import InputError
from ..._util.files import read_json_object, validation_error
from ...card.evidence import EvidenceProvenance
from ...vocab import MECHANISM_CLASSES
from .config import AuditConfig

__all__ = ["ABSTAIN_STAND_IN", "PAIR_ORIGIN", "TRAIN_FIELDS", "evidence_metadata", "fine_tune_facts",
           "safelora_facts"]

#: The stand-in every abstain-attack card states (issue 15: on the card, not only in logs).
ABSTAIN_STAND_IN: dict[str, str] = {
    "what": "abstain attack",
    "why": "the paper's wrong-answer attack needs a model well above chance; on a near-chance "
           "model it cannot install a measurable gap, so the gap is installed as abstention "
           "(answer E) under eval framing",
    "affects": "the installed gap and gates (a), (b), (d), ΔG and Δdeploy (the gap is "
               "abstention, not wrong answers); gate (c)'s attack gradient g_A is the abstain loss",
}


#: ``safelora_reference.origin`` of a V built from a real aligned/unaligned pair (the recipe's word).
PAIR_ORIGIN = "checkpoint pair"


def _read(path: Path | None) -> dict[str, Any]:
    """A JSON object file's content, or ``{}`` when there is no such file."""
    return read_json_object(path) if path is not None and path.is_file() else {}


def _train_dir(mech: dict[str, Any], mech_path: Path | None,
               train_dir: str | Path | None) -> Path | None:
    """The defense's training folder: given, or the parent of the adapter the mechanism names.

    In an audit the mechanism step records the adapter relative to the store
    (``train/<key>/adapter``, so the file's bytes do not depend on where the
    output folder is); that path is resolved against the store's ``steps/``
    folder (``<steps>/mechanism/<key>/mechanism.json``), never the CWD.
    """
    if train_dir is not None:
        return Path(train_dir)
    adapter = mech.get("adapter")
    if not isinstance(adapter, str) or not adapter:
        return None
    path = Path(adapter)
    if not path.is_absolute() and mech_path is not None and len(mech_path.parents) > 2:
        in_store = mech_path.resolve().parents[2] / path
        if in_store.exists() or not path.exists():
            path = in_store
    return path.parent


def _attack(cfg: AuditConfig, recipe: str, config: dict[str, Any]) -> str:
    """The cell's attack variant: as recorded by its training run, else as configured."""
    recorded = _obj(config, "config").get("attack")
    if isinstance(recorded, str):
        return recorded
    train = {**cfg.train_for(cfg.audit.primary_task), **cfg.recipe(recipe).params}
    return str(train.get("attack", "abstain"))  # TrainConfig's default


def safelora_facts(info: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, str] | None]:
    """SafeLoRA's facts from its ``recipe_info`` and its reference's stand-in entry (if one).

    Example:
        >>> facts, stand_in = safelora_facts({"safelora_reference": {
        ...     "origin": "checkpoint pair", "steps": None}, "safelora_layers": {}})
        >>> facts["reference_origin"], stand_in
        ('checkpoint pair', None)
    """
    ref = info.get("safelora_reference")
    if not isinstance(ref, dict):
        return None, None
    layers = info.get("safelora_layers") or {}
    facts = {
        "reference_origin": ref.get("origin", "unknown"),
        "v_norm": info.get("safelora_v_norm"), "v_rank": info.get("safelora_v_rank"),
        "reference_steps": info.get("safelora_reference_steps"),
        "selection": info.get("safelora_select"), "selection_value": info.get("safelora_select_value"),
        "projection": info.get("safelora_projection"), "n_matrices": len(layers),
        "layers": [{"name": n, "cos": v.get("cos"), "kept": v.get("kept"),
                    "projected": bool(v.get("projected", True))} for n, v in sorted(layers.items())],
    }
    if ref.get("aligned") is not None or ref.get("origin") == PAIR_ORIGIN:  # Safe LoRA as published
        return facts, None
    return facts, {
        "what": f"SafeLoRA reference V from a stand-in fine-tune ({ref.get('steps')} steps, seed "
                f"{ref.get('seed')}, attack items excluded"
                + (", gate (c)'s calibration half excluded" if ref.get("disjoint_from_gate_calibration")
                   else "") + ")",
        "why": "no aligned/unaligned checkpoint pair of this model was given; the stand-in never "
               "sees the attack's items, order or seed",
        "affects": "gate (c) and this cell's ΔG and Δdeploy: the projection is set by a stand-in V "
                   "(rank ≤ the LoRA rank, magnitude set by its steps); the share of the update "
                   "kept per matrix is stated below",
    }


#: ``[train]`` / ``config.json`` keys of the fine-tune as it ran → the card's ``recipe`` fields.
TRAIN_FIELDS: Final[Mapping[str, str]] = MappingProxyType({
    "lora_rank": "lora_rank", "lora_alpha": "lora_alpha", "target_modules": "target_modules",
    "lr": "learning_rate", "steps": "steps", "attack": "attack_variant"})
_TYPES: Final[Mapping[str, tuple[type, ...]]] = MappingProxyType({
    "lora_rank": (int,), "lora_alpha": (int, float), "target_modules": (list,),
    "lr": (int, float), "steps": (int,), "attack": (str,)})


def fine_tune_facts(train_dir: str | Path | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The base model and the fine-tune as a training folder's ``config.json`` recorded them.

    An audit config states only what it overrides; the card states what ran:
    LoRA rank, alpha and targets, learning rate, steps, attack, and the base
    checkpoint (its name, file and sha256, and the dtype it ran in). The
    recipe's parameters stay as configured (``acard results pack`` checks them
    against the config exactly). Returns ``(model, recipe)`` card
    fields; a value of another type, or a missing file, is simply not stated.

    Example:
        >>> fine_tune_facts(None)
        ({}, {})
    """
    from ...evidence.training.layout import CellLayout  # file names only: no torch

    if train_dir is None:
        return {}, {}
    rec = _read(CellLayout(Path(train_dir)).config)
    run, prov = _obj(rec, "config"), _obj(rec, "provenance")
    recipe = {field: run[key] for key, field in TRAIN_FIELDS.items()
              if isinstance(run.get(key), _TYPES[key]) and not isinstance(run.get(key), bool)}
    if not all(isinstance(t, str) for t in recipe.get("target_modules", [])):
        recipe.pop("target_modules")
    model: dict[str, Any] = {}
    name, digest = prov.get("model"), prov.get("model_hash")
    if isinstance(name, str) and name:
        # the file name only: where the package lives on the auditing machine is not a fact of the model
        source = Path(str(prov.get("model_source") or "")).name
        said = [s for s in (source, f"sha256 {digest}" if isinstance(digest, str) else "",
                            f"run in {prov['dtype']}" if isinstance(prov.get("dtype"), str) else "") if s]
        model["base_checkpoint"] = name + (f" ({', '.join(said)})" if said else "")
    return model, recipe


def _obj(parent: dict[str, Any], key: str) -> dict[str, Any]:
    """``parent[key]`` when it is a JSON object, else ``{}`` (absent or another shape)."""
    value = parent.get(key)
    return value if isinstance(value, dict) else {}


def _calibration(result: dict[str, Any], mech: dict[str, Any]) -> dict[str, Any] | None:
    """Gate (c)'s calibration hash (from the mechanism file) and the recipe's (training record first)."""
    used = _obj(result, "calibration")
    rec = _obj(used, "recipe")
    # gate (c)'s ruler only from the mechanism file: the training record's guess at it was
    # drawn with [train]'s n, which the mechanism step need not use (older cells carry it)
    has_gate = "calibration_hash" in mech
    out = {
        "gate_hash": mech.get("calibration_hash"),
        "gate_n": mech.get("n_calibration") if has_gate else None,
        "recipe_hash": rec.get("hash", mech.get("recipe_calibration_hash")),
        "recipe_n": rec.get("n", mech.get("recipe_n_calibration")),
        "disjoint": mech.get("calibration_disjoint", used.get("disjoint")),
    }
    return out if any(v is not None for v in out.values()) else None


def evidence_metadata(cfg: AuditConfig, recipe: str, *, mechanism: str | Path | None = None,
                      train_dir: str | Path | None = None) -> dict[str, Any] | None:
    """The ``evidence`` metadata of the card of ``recipe``'s cell (None: nothing to state).

    ``mechanism``: the cell's mechanism file; ``train_dir``: the defense's training
    folder (default: the folder of the adapter the mechanism file names, a
    relative one resolved against the store the mechanism file is in).
    Malformed files are an :class:`InputError` naming the file and field.
    """
    from ...evidence.training.layout import CellLayout  # file names only: no torch

    mech_path = Path(mechanism) if mechanism is not None else None
    mech = _read(mech_path)
    folder = _train_dir(mech, mech_path, train_dir)
    layout = CellLayout(folder) if folder is not None else None
    result = _read(layout.result if layout else None)
    config = _read(layout.config if layout else None)
    stand_ins: list[dict[str, str]] = []
    if _attack(cfg, recipe, config) == "abstain":
        stand_ins.append(dict(ABSTAIN_STAND_IN))
    facts, ref_stand_in = safelora_facts(_obj(result, "recipe_info"))
    if ref_stand_in is not None:
        stand_ins.append(ref_stand_in)
    permissive = mech.get("permissive_class") or _obj(config, "recipe").get("permissive_class")
    out: dict[str, Any] = {
        "stand_ins": stand_ins,
        "permissive_class": permissive if permissive in MECHANISM_CLASSES else None,
        "safelora": facts, "calibration": _calibration(result, mech)}
    out = {k: v for k, v in out.items() if v}
    if not out:
        return None
    try:
        EvidenceProvenance.model_validate(out)
    except ValidationError as exc:
        err = validation_error(exc)
        where = layout.result if layout and err.field and not err.field.startswith("stand") else mech_path
        raise InputError(err.message, path=where, field=f"evidence.{err.field}") from None
    return out
