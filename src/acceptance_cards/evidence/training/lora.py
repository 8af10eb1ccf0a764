"""LoRA on the base model: seeded factors and the (A, B, scaling) view recipes edit.

``attach_lora`` wraps the model with peft per the config (targets, rank, alpha,
layers) and redraws the factors from an explicit ``torch.Generator`` — peft's
own init uses the global RNG — as fp32 on the model's device: ``A`` uniform
(kaiming_uniform(a=√5), peft's default bound), ``B`` zero.

Example:
    >>> pm, pairs = attach_lora(lm.model, TrainConfig(layers=(2,)))   # doctest: +SKIP
    >>> sorted(pairs)[0]                                              # doctest: +SKIP
    'model.layers.2.self_attn.q_proj.weight'
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ..._util.errors import InputError
from .config import TrainConfig
from .recipes import LoraPair

__all__ = ["attach_lora", "lora_pairs"]

#: peft prefixes module names with this when wrapping the base model.
_PEFT_PREFIX = "base_model.model."


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
    gen = torch.Generator().manual_seed(cfg.seed)  # a host generator: the same draw on any device
    with torch.no_grad():
        for name in sorted(pairs):
            p = pairs[name]
            p.a.data = p.a.data.float()
            p.b.data = p.b.data.float()
            bound = 1.0 / math.sqrt(p.a.shape[1])  # = kaiming_uniform(a=√5), peft's default
            p.a.copy_(torch.rand(p.a.shape, generator=gen) * 2 * bound - bound)
            p.b.zero_()
    return pm, lora_pairs(pm)
