"""The mechanism file: what computing diagnostic (c) produces (SPEC §9).

The evidence layer (torch) computes base-model gradients g_T and g_A on a
declared parameter slice and the merged fine-tune update ΔW on the same slice,
then writes only the scalars the gate needs. Building a card reads this file;
the core never touches tensors.

Example:
    >>> m = MechanismFile(dot_t=2.0, dot_a=0.5, norm_gt=1.0, norm_ga=1.0,
    ...                   norm_dw=3.0, slice=["layers.15.self_attn.q_proj"],
    ...                   n_calibration=64)
    >>> round(m.alpha_a / m.alpha_t, 3)
    0.25
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ._util.files import read_json_object, validation_error


class MechanismFile(BaseModel):
    """Scalars of the parameter-space signature, computed on the base model."""

    model_config = ConfigDict(extra="allow", frozen=True)

    dot_t: float = Field(description="⟨ΔW, g_T⟩ on the slice (task-content gradient).")
    dot_a: float = Field(description="⟨ΔW, g_A⟩ on the slice (attack-loss gradient).")
    norm_gt: float = Field(ge=0, description="‖g_T‖ on the slice.")
    norm_ga: float = Field(ge=0, description="‖g_A‖ on the slice.")
    norm_dw: float = Field(ge=0, description="‖ΔW‖ on the slice (merged update).")
    slice: list[str] = Field(
        min_length=1, description="Parameter names of the declared slice (recorded on the card)."
    )
    n_calibration: int = Field(ge=1, description="Calibration items the gradients were taken over.")
    rho_ci: tuple[float, float] | None = Field(
        default=None, description="Optional bootstrap CI on ρ over calibration items (low ≤ high)."
    )
    rho_ci_level: float | None = Field(default=None, gt=0, lt=1, description="Level of `rho_ci`.")

    @field_validator("dot_t", "dot_a", "norm_gt", "norm_ga", "norm_dw", "n_calibration",
                     "rho_ci_level", mode="before")
    @classmethod
    def _typed_number(cls, v: Any) -> Any:
        # JSON has numbers: `true` or "1.5" is a mistake pydantic's lax mode would accept
        if isinstance(v, bool | str):
            raise ValueError(f"expected a number, got {type(v).__name__} {v!r}")
        return v

    @field_validator("dot_t", "dot_a", "norm_gt", "norm_ga", "norm_dw", "rho_ci_level")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError("must be a finite number")
        return v

    @field_validator("slice")
    @classmethod
    def _names(cls, v: list[str]) -> list[str]:
        if any(not name.strip() for name in v):
            raise ValueError("parameter names must not be empty")
        return v

    @field_validator("rho_ci", mode="before")
    @classmethod
    def _ci_numbers(cls, v: Any) -> Any:
        if isinstance(v, list | tuple) and any(isinstance(x, bool | str) for x in v):
            raise ValueError("expected two numbers")
        return v

    @field_validator("rho_ci")
    @classmethod
    def _ci_order(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        if v is not None:
            lo, hi = v
            if not (math.isfinite(lo) and math.isfinite(hi)):
                raise ValueError("must hold two finite numbers")
            if lo > hi:
                raise ValueError(f"is reversed: low {lo} > high {hi}")
        return v

    @property
    def alpha_t(self) -> float | None:
        """α_T = ⟨ΔW, g_T⟩ / ‖g_T‖, or None when ‖g_T‖ = 0."""
        return self.dot_t / self.norm_gt if self.norm_gt > 0 else None

    @property
    def alpha_a(self) -> float | None:
        """α_A = ⟨ΔW, g_A⟩ / ‖g_A‖, or None when ‖g_A‖ = 0."""
        return self.dot_a / self.norm_ga if self.norm_ga > 0 else None


def load_mechanism(path: str | Path) -> MechanismFile:
    """Read and validate a mechanism JSON file; errors name the file and field."""
    raw = read_json_object(path)
    try:
        return MechanismFile.model_validate(raw)
    except ValidationError as exc:
        raise validation_error(exc, path=path) from None


def save_mechanism(mech: MechanismFile, path: str | Path) -> None:
    """Write a mechanism file atomically."""
    from ._util.writes import atomic_write_text

    atomic_write_text(Path(path), mech.model_dump_json(indent=2) + "\n")
