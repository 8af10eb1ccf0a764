"""ΔW, the merged fine-tune update on the declared slice (SPEC §2(c)).

Two sources:

* a peft LoRA adapter folder: per target matrix ``ΔW = B·A·scaling`` with
  ``scaling = lora_alpha / r`` (``lora_alpha / sqrt(r)`` under rsLoRA), read
  straight from ``adapter_model.safetensors`` — no model is loaded, which is
  what makes each further cell cost one adapter read plus dot products;
* two checkpoints (HF folders with safetensors): ``ΔW = W_tuned − W_base`` for
  the slice's parameters, read tensor by tensor with ``safe_open``.

Parameter names are the *base model's* names (``model.layers.15.self_attn.
q_proj.weight``), so ΔW lines up with the gradients of :mod:`..gradients.slices`.

Example:
    >>> dw = delta_from_adapter("cell/adapter")                     # doctest: +SKIP
    >>> sorted(dw)[:1]                                               # doctest: +SKIP
    ['model.layers.15.self_attn.q_proj.weight']
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open

from ..._util.errors import InputError
from ..._util.files import read_json_object

#: Prefix peft puts in front of the base model's module names when saving.
_PEFT_PREFIX = "base_model.model."
_LORA_KEY = re.compile(r"^(?P<module>.+)\.lora_(?P<which>A|B)(?:\.[^.]+)?\.weight$")


def _pattern_value(patterns: Mapping[str, Any], module: str, default: Any) -> Any:
    """peft's ``rank_pattern``/``alpha_pattern`` lookup: a key matches a module-name suffix."""
    for key, value in patterns.items():
        if re.match(rf"(.*\.)?{key}$", module):
            return value
    return default


def adapter_config(adapter: str | Path) -> dict[str, Any]:
    """The adapter's ``adapter_config.json``, checked for what ΔW needs.

    Raises :class:`InputError` for a missing folder/config, a non-LoRA adapter,
    or DoRA (whose update is not ``B·A·scaling``).
    """
    folder = Path(adapter)
    if not folder.is_dir():
        raise InputError("no such adapter folder", path=folder, field="adapter")
    cfg = read_json_object(folder / "adapter_config.json")
    if str(cfg.get("peft_type", "LORA")).upper() != "LORA":
        raise InputError(f"only LoRA adapters are supported, got {cfg.get('peft_type')!r}",
                         path=folder / "adapter_config.json", field="peft_type")
    if cfg.get("use_dora"):
        raise InputError("DoRA adapters are not B·A·scaling updates; not supported",
                         path=folder / "adapter_config.json", field="use_dora")
    for key in ("r", "lora_alpha"):
        if not isinstance(cfg.get(key), (int, float)) or cfg[key] <= 0:
            raise InputError("missing or not a positive number",
                             path=folder / "adapter_config.json", field=key)
    return cfg


def _adapter_weights(folder: Path) -> Path:
    path = folder / "adapter_model.safetensors"
    if not path.is_file():
        if (folder / "adapter_model.bin").is_file():
            raise InputError("adapter weights are a pickle (adapter_model.bin); only "
                             "safetensors are read", path=folder / "adapter_model.bin")
        raise InputError("no adapter_model.safetensors in the adapter folder", path=folder)
    return path


def delta_from_adapter(adapter: str | Path) -> dict[str, torch.Tensor]:
    """ΔW per base parameter name (fp32) from a peft LoRA adapter folder.

    Example:
        >>> dw = delta_from_adapter("cell/adapter")                 # doctest: +SKIP
        >>> dw["model.layers.15.self_attn.v_proj.weight"].shape     # doctest: +SKIP
        torch.Size([192, 576])
    """
    folder = Path(adapter)
    cfg = adapter_config(folder)
    weights = _adapter_weights(folder)
    pairs: dict[str, dict[str, torch.Tensor]] = {}
    with safe_open(str(weights), framework="pt") as fh:
        for key in fh.keys():  # noqa: SIM118 (safe_open has no __iter__)
            m = _LORA_KEY.match(key)
            if m is None:
                continue
            module = m["module"]
            if module.startswith(_PEFT_PREFIX):
                module = module[len(_PEFT_PREFIX):]
            pairs.setdefault(module, {})[m["which"]] = fh.get_tensor(key).float()
    if not pairs:
        raise InputError("adapter holds no LoRA A/B weights", path=weights)
    rank_pattern = cfg.get("rank_pattern") or {}
    alpha_pattern = cfg.get("alpha_pattern") or {}
    out: dict[str, torch.Tensor] = {}
    for module, ab in sorted(pairs.items()):
        if set(ab) != {"A", "B"}:
            raise InputError(f"module {module!r} has lora_{'A' if 'A' not in ab else 'B'} "
                             "missing", path=weights, field=module)
        a, b = ab["A"], ab["B"]
        if a.dim() != 2 or b.dim() != 2 or b.shape[1] != a.shape[0]:
            raise InputError(f"module {module!r}: lora_B {tuple(b.shape)} and lora_A "
                             f"{tuple(a.shape)} do not compose", path=weights, field=module)
        r = int(_pattern_value(rank_pattern, module, a.shape[0]))
        alpha = float(_pattern_value(alpha_pattern, module, cfg["lora_alpha"]))
        scaling = alpha / math.sqrt(r) if cfg.get("use_rslora") else alpha / r
        dw = (b @ a) * scaling
        if cfg.get("fan_in_fan_out"):  # Conv1D-style layers store W transposed
            dw = dw.T
        out[f"{module}.weight"] = dw.contiguous()
    return out


def adapter_modules(adapter: str | Path) -> list[str]:
    """Base parameter names an adapter updates (sorted), without building ΔW."""
    folder = Path(adapter)
    adapter_config(folder)
    names: set[str] = set()
    with safe_open(str(_adapter_weights(folder)), framework="pt") as fh:
        for key in fh.keys():  # noqa: SIM118
            m = _LORA_KEY.match(key)
            if m is not None:
                module = m["module"]
                if module.startswith(_PEFT_PREFIX):
                    module = module[len(_PEFT_PREFIX):]
                names.add(f"{module}.weight")
    return sorted(names)


def _safetensor_index(folder: Path) -> dict[str, Path]:
    """Map parameter name -> safetensors file for a (possibly sharded) HF folder."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        raw = read_json_object(index)
        weight_map = raw.get("weight_map")
        if not isinstance(weight_map, dict):
            raise InputError("missing `weight_map`", path=index, field="weight_map")
        return {k: folder / v for k, v in weight_map.items()}
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise InputError("no safetensors weights in the checkpoint folder", path=folder)
    out: dict[str, Path] = {}
    for f in files:
        with safe_open(str(f), framework="pt") as fh:
            for k in fh.keys():  # noqa: SIM118
                out[k] = f
    return out


def read_checkpoint_tensors(folder: str | Path, names: list[str]) -> dict[str, torch.Tensor]:
    """Read only ``names`` (fp32) from an HF safetensors checkpoint folder.

    Names may omit a leading ``model.`` that the checkpoint has, or vice versa;
    a missing name is an :class:`InputError` naming it.
    """
    root = Path(folder)
    if not root.is_dir():
        raise InputError("no such checkpoint folder", path=root)
    where = _safetensor_index(root)
    out: dict[str, torch.Tensor] = {}
    for name in names:
        key = name if name in where else next(
            (k for k in (f"model.{name}", name.removeprefix("model.")) if k in where), None)
        if key is None:
            raise InputError(f"checkpoint has no parameter {name!r}", path=root, field=name)
        with safe_open(str(where[key]), framework="pt") as fh:
            out[name] = fh.get_tensor(key).float()
    return out


def delta_from_checkpoints(
    base: str | Path | Mapping[str, torch.Tensor], tuned: str | Path, names: list[str]
) -> dict[str, torch.Tensor]:
    """ΔW = W_tuned − W_base on ``names``, from two checkpoints.

    ``base`` is a checkpoint folder or an in-memory ``{name: tensor}`` (e.g. the
    loaded base model's state dict). Shapes must agree.

    Example:
        >>> names = ["model.layers.0.mlp.up_proj.weight"]
        >>> dw = delta_from_checkpoints("base/", "tuned/", names)    # doctest: +SKIP
    """
    w_t = read_checkpoint_tensors(tuned, names)
    if isinstance(base, Mapping):
        missing = [n for n in names if n not in base]
        if missing:
            raise InputError(f"base model has no parameter {missing[0]!r}", field="slice")
        w_b = {n: base[n].detach().float() for n in names}
    else:
        w_b = read_checkpoint_tensors(base, names)
    out: dict[str, torch.Tensor] = {}
    for n in names:
        if w_t[n].shape != w_b[n].shape:
            raise InputError(f"{n}: tuned shape {tuple(w_t[n].shape)} != base shape "
                             f"{tuple(w_b[n].shape)} (checkpoints of different models?)",
                             path=str(tuned), field=n)
        out[n] = w_t[n] - w_b[n]
    return out


def check_against_base(delta: Mapping[str, torch.Tensor], base_shapes: Mapping[str, Any],
                       *, source: str) -> None:
    """Refuse a ΔW whose names or shapes do not exist in the base model.

    This is how an adapter trained on another base model is caught: its target
    names or its matrix shapes do not fit.
    """
    for name, t in delta.items():
        if name not in base_shapes:
            raise InputError(f"updates {name!r}, which the base model does not have "
                             "(adapter of another base model?)", path=source, field=name)
        if tuple(t.shape) != tuple(base_shapes[name]):
            raise InputError(f"{name}: update shape {tuple(t.shape)} != base shape "
                             f"{tuple(base_shapes[name])} (adapter of another base model?)",
                             path=source, field=name)
