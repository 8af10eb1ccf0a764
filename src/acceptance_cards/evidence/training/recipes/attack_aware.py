"""``attack-aware`` — remove a fraction α of each update's component along g_A (claim: attack-targeted).

g_A is the base model's attack-loss gradient on the slice, taken on the
*recipe's* calibration half (cached); gate (c) measures ρ with its own,
disjoint half, so the projection never removes the very vector ρ is measured
against (``gradients.calibration``). LoRA trains factors (A, B), not W, so the projection is done
where the update happens: after each AdamW step the factor change δθ is
projected against ``J = ∇_θ ⟨B·A·s, ĝ_A⟩`` (``J_B = s·ĝ_A·Aᵀ``,
``J_A = s·Bᵀ·ĝ_A`` at the pre-step factors, jointly over the slice):

    δθ ← δθ − α · (⟨δθ, J⟩ / ‖J‖²) · J

To first order this removes the fraction α of the step's change of
⟨ΔW, ĝ_A⟩: α = 1 freezes ΔW's g_A component, α = 2 reverses it, α = 0.5 halves
it. (The second-order term δB·δA is not projected; it is small per step.)
The step's statistics stay on the device (no host sync inside the step).

Example:
    >>> AttackAware(alpha=2).params()
    {'alpha': 2.0}
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from pydantic import Field

from ..layout import CellLayout
from .base import Recipe, RecipeContext, RecipeParams

#: Fraction of the g_A component removed (issue grid: 0.5, 1, 2).
DEFAULT_ALPHA = 1.0


class AttackAwareParams(RecipeParams):
    """Parameters of ``attack-aware``."""

    alpha: float = Field(DEFAULT_ALPHA, ge=0.0, le=4.0)
    """Share of each step's first-order g_A component removed (0 = AdamW, 1 = frozen, 2 = reversed)."""


class AttackAware(Recipe):
    """AdamW whose every step has its first-order g_A component scaled by (1 − α)."""

    name: ClassVar[str] = "attack-aware"
    claimed_class: ClassVar[str] = "attack-targeted"
    needs_snapshot: ClassVar[bool] = True
    Params: ClassVar[type[RecipeParams]] = AttackAwareParams
    p: AttackAwareParams

    def setup(self, ctx: RecipeContext) -> None:
        grads = ctx.gradients()
        norm = grads.norm("a")
        # A zero g_A leaves nothing to remove; the recipe then equals AdamW (recorded).
        self._ghat = {n: (grads.g_a[n] / norm if norm > 0 else torch.zeros_like(grads.g_a[n]))
                      for n in ctx.slice_names}
        ctx.info["attack_aware_norm_ga"] = norm
        first = next(iter(ctx.pairs.values()))
        # Projected steps, counted on the device (read once, in finalize).
        self._projected = torch.zeros((), dtype=torch.long, device=first.a.device)
        self._resumed = _steps_already_projected(ctx, norm)

    @torch.no_grad()
    def after_step(self, ctx: RecipeContext, before: Mapping[str, torch.Tensor]) -> None:
        first = next(iter(ctx.pairs.values()))
        num = torch.zeros((), dtype=torch.float32, device=first.a.device)
        den = torch.zeros_like(num)
        jac: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        for name, pair in ctx.pairs.items():
            a0, b0 = before[f"{name}:A"], before[f"{name}:B"]
            g = self._ghat[name]
            j_b = pair.scaling * (g @ a0.T)
            j_a = pair.scaling * (b0.T @ g)
            jac[name] = (j_a, j_b)
            num += (pair.a - a0).mul(j_a).sum() + (pair.b - b0).mul(j_b).sum()
            den += j_a.pow(2).sum() + j_b.pow(2).sum()
        # den = 0 (nothing to project against) gives c = 0, decided on the device
        done = den > 0
        c = torch.where(done, self.p.alpha * num / den.clamp_min(torch.finfo(den.dtype).tiny),
                        torch.zeros_like(num))
        for name, pair in ctx.pairs.items():
            j_a, j_b = jac[name]
            pair.a.sub_(c.to(pair.a.dtype) * j_a)
            pair.b.sub_(c.to(pair.b.dtype) * j_b)
        self._projected += done.long()

    def finalize(self, ctx: RecipeContext) -> dict[str, Any]:
        return {"attack_aware_steps_projected": self._resumed + int(self._projected)}


def _steps_already_projected(ctx: RecipeContext, norm: float) -> int:
    """Steps a resumed run projected before its checkpoint, recomputed from the train log.

    The loop truncates the log to the checkpoint's steps before ``setup``; every
    logged step was projected unless g_A is zero (the Jacobian is then zero; with
    g_A ≠ 0, J_B = s·ĝ_A·Aᵀ vanishes only if ĝ_A is orthogonal to every row of
    the randomly initialised A — not met in practice).
    """
    log = CellLayout(ctx.cell_dir).train_log
    if norm <= 0 or not log.is_file():
        return 0
    return sum(1 for ln in log.read_text(encoding="utf-8").splitlines()
               if ln.strip() and isinstance(json.loads(ln).get("step"), int))
