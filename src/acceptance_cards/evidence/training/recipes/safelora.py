"""``safelora`` — the Safe LoRA projection (Hsu et al., NeurIPS 2024).

Per sliced matrix, with ``V = W_aligned − W_unaligned``:

    C = V·Vᵀ / ‖V‖_F,        B' = C·B,        cos = cos(B'·A, B·A)

and the LoRA update of every matrix whose ``cos`` is at or below
``threshold`` (``select="threshold"``), or of the ``num_layers`` least similar
matrices (``select="number"``), is replaced by ``C·B·A`` — an update inside
span(V). The projection is applied once, after fine-tuning, as in the
published method.

**Deviation (documented on every cell):** Safe LoRA builds V from a released
aligned/unaligned pair of one family (e.g. Llama-2-chat minus Llama-2-base). No
such pair ships here, so by default the aligned reference is built honestly
from the base model: a short LoRA fine-tune (same targets, rank and seed) on
*framing-consistent* train-pool data — both framings answered with the key, no
attack — and ``V`` is that fine-tune's ΔW (rank ≤ r). A user with a real pair
passes ``aligned=`` and ``unaligned=`` (HF checkpoint folders) and V is read
from them instead.

Claim: attack-targeted under the strict coding (the paper maps the
safety-subspace claim there); the permissive shrinkage relabel is reported too.

Example:
    >>> SafeLoRA().params()["threshold"]
    0.5
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field, ValidationInfo, field_validator

from ...._util.errors import InputError
from .base import Recipe, RecipeContext, RecipeParams

#: Cosine at or below which a layer is projected (Safe LoRA's default threshold).
DEFAULT_THRESHOLD = 0.5
#: Matrices projected in ``select="number"`` mode (Safe LoRA's default count).
DEFAULT_NUM_LAYERS = 10
#: Steps of the framing-consistent reference fine-tune (when no real pair is given).
DEFAULT_REFERENCE_STEPS = 40


def projection_matrix(v: torch.Tensor) -> torch.Tensor:
    """Safe LoRA's ``C = V·Vᵀ / ‖V‖_F`` (zero when V is zero).

    Example:
        >>> projection_matrix(torch.eye(2)).diagonal().tolist()
        [0.7071067690849304, 0.7071067690849304]
    """
    v = v.double()
    norm = v.norm()
    if norm == 0:
        return torch.zeros((v.shape[0], v.shape[0]), dtype=torch.float32)
    c: torch.Tensor = (v @ v.T / norm).float()
    return c


def project(a: torch.Tensor, b: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, float]:
    """(``C·B``, cos(C·B·A, B·A)) for one matrix.

    Example:
        >>> bp, cos = project(torch.eye(2), torch.eye(2), torch.eye(2))
        >>> round(cos, 4)
        1.0
    """
    c = projection_matrix(v)
    b_new = c @ b
    before = (b @ a).reshape(-1).double()
    after = (b_new @ a).reshape(-1).double()
    den = before.norm() * after.norm()
    cos = float(before @ after / den) if den > 0 else 0.0
    return b_new, cos


class SafeLoRAParams(RecipeParams):
    """Parameters of ``safelora``."""

    select: Literal["threshold", "number"] = "threshold"
    """How projected matrices are chosen: every one with cos <= threshold, or the num_layers least similar."""
    threshold: float = Field(DEFAULT_THRESHOLD, ge=-1.0, le=1.0)
    """select=threshold: project a matrix when cos(C·B·A, B·A) is at or below this."""
    num_layers: int = Field(DEFAULT_NUM_LAYERS, ge=1)
    """select=number: how many of the least similar matrices are projected."""
    aligned: str | None = None
    """Aligned checkpoint folder (HF, safetensors) of a real pair; give unaligned too."""
    unaligned: str | None = Field(None, validate_default=True)
    """Unaligned checkpoint folder of the same family; V = aligned − unaligned."""
    reference_steps: int = Field(DEFAULT_REFERENCE_STEPS, ge=1)
    """Steps of the stand-in reference fine-tune (used when no checkpoint pair is given)."""

    @field_validator("unaligned")
    @classmethod
    def _pair(cls, v: str | None, info: ValidationInfo) -> str | None:
        if (v is None) != (info.data.get("aligned") is None):
            raise ValueError("give both aligned and unaligned checkpoints, or neither")
        return v


class SafeLoRA(Recipe):
    """Post-hoc projection of low-similarity LoRA updates onto the alignment subspace."""

    name: ClassVar[str] = "safelora"
    claimed_class: ClassVar[str] = "attack-targeted"
    permissive_class: ClassVar[str | None] = "shrinkage"
    Params: ClassVar[type[RecipeParams]] = SafeLoRAParams
    p: SafeLoRAParams

    def reference(self, ctx: RecipeContext) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """V per sliced matrix, and where it came from."""
        p = self.p
        names = ctx.slice_names
        if p.aligned is not None and p.unaligned is not None:
            from ...mechanism.delta_w import delta_from_checkpoints

            v = delta_from_checkpoints(p.unaligned, p.aligned, names)
            return v, {"reference": "checkpoint pair", "aligned": p.aligned,
                       "unaligned": p.unaligned}
        v, info = reference_delta(ctx.config, steps=p.reference_steps, log=ctx.log)
        return v, {"reference": "framing-consistent fine-tune of the base model "
                                "(deviation: no aligned/unaligned pair ships here)", **info}

    def finalize(self, ctx: RecipeContext) -> dict[str, Any]:
        v, source = self.reference(ctx)  # may train the reference: grad must stay enabled
        missing = [n for n in ctx.slice_names if n not in v]
        if missing:
            raise InputError(f"reference has no update for {missing[0]!r}", field="slice")
        proposals = {}
        for name in ctx.slice_names:
            pair = ctx.pairs[name]
            proposals[name] = project(pair.a.detach().float(), pair.b.detach().float(),
                                      v[name].float())
        cos = {n: c for n, (_, c) in proposals.items()}
        if self.p.select == "threshold":
            chosen = [n for n in ctx.slice_names if cos[n] <= self.p.threshold]
        else:
            chosen = sorted(ctx.slice_names, key=lambda n: (cos[n], n))[: self.p.num_layers]
        with torch.no_grad():
            for name in chosen:
                ctx.pairs[name].b.copy_(proposals[name][0].to(ctx.pairs[name].b.dtype))
        return {"safelora_cos": cos, "safelora_projected": sorted(chosen), **source}


def reference_delta(cfg: Any, *, steps: int,
                    log: Callable[[str], None] | None = None) -> tuple[dict[str, torch.Tensor],
                                                                       dict[str, Any]]:
    """SafeLoRA's default aligned reference: ΔW of a framing-consistent fine-tune.

    Same model, LoRA targets, rank and seed as ``cfg``; attack strength 0 (both
    framings answered with the key); plain AdamW; ``steps`` steps. Cached under
    the ACARD cache by the reference config's digest and the model.
    """
    from ...mechanism.delta_w import delta_from_adapter
    from ...models.loading import cache_root, load_model
    from ..loop import train_cell

    ref = cfg.model_copy(update={"recipe": "adamw", "recipe_params": {}, "attack_strength": 0.0,
                                 "steps": steps})
    folder = cache_root() / "safelora_reference" / ref.digest()[:24]
    if not (folder / "adapter" / "adapter_model.safetensors").is_file():
        if log:
            log(f"building SafeLoRA reference ({steps} framing-consistent steps) in {folder}")
        train_cell(ref, folder, lm=load_model(ref.model, dtype=ref.dtype, eval_mode=False))
    return delta_from_adapter(folder / "adapter"), {"reference_dir": str(folder),
                                                    "reference_steps": steps,
                                                    "reference_config_digest": ref.digest()}
