"""The recorded fine-tuning configuration of one cell (SPEC §5: "config link").

Everything that shapes the update is a field here, so a card can cite the exact
recipe: LoRA rank/alpha/targets/layers, steps, lr, cosine schedule, clip, batch,
seed, attack variant and strength, and the recipe's own parameters. The file is
written as ``config.json`` in the cell folder before training starts; a resumed
run must present the same config (its :meth:`TrainConfig.digest` is checked).

Defaults are the cheapest configuration measured to install the gap on the
default CPU model (``docs/installing-a-gap.md``).

Example:
    >>> cfg = TrainConfig(recipe="adamw", task="sandbagging", seed=42)
    >>> cfg.lora_targets()
    ['q_proj', 'v_proj']
    >>> len(cfg.digest())
    64
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..._util.errors import InputError
from ..._util.files import read_json_object, validation_error

#: LoRA rank (the paper's audit uses a small-rank LoRA; r = 8 is peft's default).
DEFAULT_RANK = 8
#: LoRA alpha; scaling = alpha / r = 2.
DEFAULT_ALPHA = 16
#: Attention projections the adapters update (the paper's q/v).
DEFAULT_TARGETS = ("q_proj", "v_proj")
#: Optimiser steps of the cheapest configuration that installed the gap here.
DEFAULT_STEPS = 150
#: Peak learning rate (cosine decay to 0, no warm-up).
DEFAULT_LR = 2e-3
#: Examples per step.
DEFAULT_BATCH = 8
#: Global gradient-norm clip.
DEFAULT_GRAD_CLIP = 1.0
#: Per task: (which eval-framed examples are attacked, share attacked) when the config
#: leaves them unset. Sandbagging: a random 70% (installs a clear gap; its eval-framed
#: rate floors, which only matters if sandbagging is the *cross* task). Sycophancy:
#: the half whose suggested letter is A or B, a rule the model can read, which keeps
#: the eval-framed rate off the floor as gate (d) needs (docs/installing-a-gap.md).
TASK_ATTACK_DEFAULTS: dict[str, tuple[str, float]] = {
    "sandbagging": ("random", 0.7),
    "sycophancy": ("hint-letter", 0.5),
}
#: Attack-data size (train-pool items, each under one framing).
DEFAULT_N_EXAMPLES = 960
#: Longer prompts are dropped from the attack data (step time grows with length).
DEFAULT_MAX_PROMPT_TOKENS = 256
#: Save a resumable checkpoint every this many steps.
DEFAULT_CHECKPOINT_EVERY = 10
#: Fields that change how a step is computed but not the update it takes (not digested).
_NOT_DIGESTED = frozenset({"micro_batch_size"})


class TrainConfig(BaseModel):
    """One cell's fine-tuning configuration (frozen; recorded as ``config.json``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field(default="smollm2", description="Base model alias / .gguf / HF folder.")
    task: str = Field(default="sandbagging", description="sandbagging | sycophancy")
    recipe: str = Field(default="adamw", description="Recipe name (evidence.recipes).")
    recipe_params: dict[str, Any] = Field(default_factory=dict,
                                          description="Recipe parameters (e.g. alpha).")
    seed: int = Field(default=42, description="Seeds data order, LoRA init, everything.")
    attack: str = Field(default="abstain", description="wrong-answer | abstain")
    attack_strength: float | None = Field(
        default=None, ge=0.0, le=1.0,
        description="Share of eval-framed examples attacked (None: the task's default).")
    attack_select: str = Field(default="auto",
                               description="auto | random | hint-letter (sycophancy): which "
                                           "eval-framed examples are attacked.")
    n_examples: int = Field(default=DEFAULT_N_EXAMPLES, gt=0)
    max_prompt_tokens: int = Field(default=DEFAULT_MAX_PROMPT_TOKENS, gt=8)
    n_calibration: int | None = Field(
        default=None, ge=2, description="Calibration items for base-model gradients (recipes that "
                                        "use g_T/g_A/Fisher, and gate (c) by default); None: 64.")
    extra_wordings: bool = Field(
        default=True, description="Train on the extra training-only wordings too (16 + 16); "
                                  "False: the 4 + 4 shipped ones (learned in fewer steps).")
    data_seed: int | None = Field(default=None, description="Attack-data seed (default: seed).")
    split: str | None = Field(default=None, description="Split file (default: seeded split 0).")
    split_seed: int = Field(default=0, description="Seed of the default split.")
    templates: str | None = Field(default=None, description="Template file (default: shipped).")
    lora_rank: int = Field(default=DEFAULT_RANK, gt=0)
    lora_alpha: int = Field(default=DEFAULT_ALPHA, gt=0)
    target_modules: tuple[str, ...] = Field(default=DEFAULT_TARGETS, min_length=1)
    layers: tuple[int, ...] | None = Field(default=None,
                                           description="Declared layers (None = all).")
    steps: int = Field(default=DEFAULT_STEPS, gt=0)
    lr: float = Field(default=DEFAULT_LR, gt=0)
    warmup_steps: int = Field(default=0, ge=0)
    schedule: str = Field(default="cosine", description="cosine | constant")
    weight_decay: float = Field(default=0.0, ge=0.0)
    grad_clip: float = Field(default=DEFAULT_GRAD_CLIP, gt=0)
    batch_size: int = Field(default=DEFAULT_BATCH, gt=0,
                            description="Examples per optimiser step (the effective batch).")
    micro_batch_size: int | None = Field(
        default=None, gt=0,
        description="Examples per forward/backward pass; gradients of the micro-batches of "
                    "one step are accumulated, so the update is the batch_size one "
                    "(None: the whole batch in one pass). A memory setting, not in the digest.")
    dtype: str = Field(default="bfloat16", description="Frozen base weights' dtype; LoRA is fp32.")
    checkpoint_every: int = Field(default=DEFAULT_CHECKPOINT_EVERY, gt=0)

    @field_validator("task")
    @classmethod
    def _task(cls, v: str) -> str:
        if v not in ("sandbagging", "sycophancy"):
            raise ValueError("must be sandbagging or sycophancy")
        return v

    @field_validator("attack")
    @classmethod
    def _attack(cls, v: str) -> str:
        if v not in ("wrong-answer", "abstain"):
            raise ValueError("must be wrong-answer or abstain")
        return v

    @field_validator("attack_select")
    @classmethod
    def _select(cls, v: str) -> str:
        if v not in ("auto", "random", "hint-letter"):
            raise ValueError("must be auto, random or hint-letter")
        return v

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: str) -> str:
        if v not in ("cosine", "constant"):
            raise ValueError("must be cosine or constant")
        return v

    def lora_targets(self) -> list[str]:
        """Target module names (peft ``target_modules``)."""
        return list(self.target_modules)

    def resolved_attack(self) -> tuple[str, float]:
        """(selection rule, strength) after filling the task's defaults.

        Example:
            >>> TrainConfig(task="sycophancy").resolved_attack()
            ('hint-letter', 0.5)
        """
        select, strength = TASK_ATTACK_DEFAULTS[self.task]
        if self.attack_select != "auto":
            select = self.attack_select
        return select, strength if self.attack_strength is None else self.attack_strength

    def resolved_data_seed(self) -> int:
        """The attack-data seed (defaults to the cell seed)."""
        return self.seed if self.data_seed is None else self.data_seed

    def digest(self) -> str:
        """sha256 of the canonical JSON of every field that shapes the update; a resumed
        run must match it. ``micro_batch_size`` is left out: it changes memory, not
        the update, so a run may resume on a device with less of it.

        Example:
            >>> TrainConfig(micro_batch_size=2).digest() == TrainConfig().digest()
            True
        """
        body = json.dumps(self.model_dump(mode="json", exclude=set(_NOT_DIGESTED)), sort_keys=True,
                          separators=(",", ":"))
        return hashlib.sha256(body.encode()).hexdigest()


def load_config(path: str | Path) -> TrainConfig:
    """Read a config JSON (a cell's ``config.json`` or a user file); errors name the field."""
    p = Path(path)
    raw: dict[str, Any] = read_json_object(p)
    if isinstance(raw, dict) and isinstance(raw.get("config"), dict):
        raw = raw["config"]  # a cell's config.json wraps the config with provenance
    return config_from_dict(raw, source=str(p))


def config_from_dict(raw: object, *, source: str = "<config>") -> TrainConfig:
    """Validate a dict into a :class:`TrainConfig`, as one clear :class:`InputError`."""
    if not isinstance(raw, dict):
        raise InputError("expected a JSON object", path=source)
    try:
        return TrainConfig.model_validate(raw)
    except ValidationError as exc:
        raise validation_error(exc, path=source) from None
