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
from pathlib import Path
from typing import Any, ClassVar

import torch

from ...._util.errors import InputError
from .base import Recipe, RecipeContext, number

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


class SafeLoRA(Recipe):
    """Post-hoc projection of low-similarity LoRA updates onto the alignment subspace."""

    name: ClassVar[str] = "safelora"
    claimed_class: ClassVar[str] = "attack-targeted"
    permissive_class: ClassVar[str | None] = "shrinkage"
    defaults: ClassVar[dict[str, Any]] = {
        "select": "threshold", "threshold": DEFAULT_THRESHOLD, "num_layers": DEFAULT_NUM_LAYERS,
        "aligned": None, "unaligned": None, "reference_steps": DEFAULT_REFERENCE_STEPS,
    }

    def validate(self) -> None:
        p = self._params
        if p["select"] not in ("threshold", "number"):
            raise InputError("must be threshold or number", field="recipe_params.select")
        number(p, "threshold", low=-1.0, high=1.0)
        if int(number(p, "num_layers", low=1)) != p["num_layers"]:
            raise InputError("must be a whole number", field="recipe_params.num_layers")
        if int(number(p, "reference_steps", low=1)) != p["reference_steps"]:
            raise InputError("must be a whole number", field="recipe_params.reference_steps")
        if (p["aligned"] is None) != (p["unaligned"] is None):
            raise InputError("give both aligned and unaligned checkpoints, or neither",
                             field="recipe_params.aligned")

    def reference(self, ctx: RecipeContext) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """V per sliced matrix, and where it came from."""
        p = self._params
        names = ctx.slice_names
        if p["aligned"] is not None:
            from ...models.delta_w import delta_from_checkpoints

            v = delta_from_checkpoints(p["unaligned"], p["aligned"], names)
            return v, {"reference": "checkpoint pair", "aligned": str(p["aligned"]),
                       "unaligned": str(p["unaligned"])}
        v, info = reference_delta(ctx.config, steps=int(p["reference_steps"]),
                                  train=ctx.train_reference, log=ctx.log)
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
        if self._params["select"] == "threshold":
            chosen = [n for n in ctx.slice_names if cos[n] <= self._params["threshold"]]
        else:
            chosen = sorted(ctx.slice_names, key=lambda n: (cos[n], n))[
                : int(self._params["num_layers"])]
        with torch.no_grad():
            for name in chosen:
                ctx.pairs[name].b.copy_(proposals[name][0].to(ctx.pairs[name].b.dtype))
        return {"safelora_cos": cos, "safelora_projected": sorted(chosen), **source}


def reference_delta(cfg: Any, *, steps: int, train: Callable[[Any], Path],
                    log: Callable[[str], None] | None = None) -> tuple[dict[str, torch.Tensor],
                                                                       dict[str, Any]]:
    """SafeLoRA's default aligned reference: ΔW of a framing-consistent fine-tune.

    Same model, LoRA targets, rank and seed as ``cfg``; attack strength 0 (both
    framings answered with the key); plain AdamW; ``steps`` steps. Cached under
    the ACARD cache by the reference config's digest and the model (``train``:
    the context's ``train_reference``).
    """
    from ...models.delta_w import delta_from_adapter

    ref = cfg.model_copy(update={"recipe": "adamw", "recipe_params": {}, "attack_strength": 0.0,
                                 "steps": steps})
    if log:
        log(f"SafeLoRA reference: {steps} framing-consistent steps (trained once, then cached)")
    folder = train(ref).parent
    return delta_from_adapter(folder / "adapter"), {"reference_dir": str(folder),
                                                    "reference_steps": steps,
                                                    "reference_config_digest": ref.digest()}
