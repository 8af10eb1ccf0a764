"""``ac-adamw`` — AdamW plus a curvature penalty on the top-k Fisher neurons (claim: shrinkage).

The diagonal empirical Fisher of the task loss, ``F = E[g_T²]``, is taken on
the base model over the calibration items (cached with g_T, g_A by
:mod:`..gradients`). A *neuron* is an output row of a sliced matrix; its score
is the row's summed Fisher. The top ``top_k_fraction`` of the slice's neurons
(ranked across all sliced matrices) are penalised each step by

    (alpha / 2) · Σ_n  F̃_n · ‖ΔW_n‖²,      F̃_n = F_n / mean(F over the chosen rows)

(``ΔW_n`` = row n of ``B·A·scaling``). Normalising F to mean 1 makes ``alpha``
scale-free across models. This shrinks the update along high-curvature rows
— task and attack directions alike — which is why it claims *shrinkage*.

Reconstructed choices (the paper names the family, not these details): the
row as neuron unit, the empirical Fisher, ``top_k_fraction = 0.1``.

Example:
    >>> ACAdamW().params()
    {'alpha': 10.0, 'top_k_fraction': 0.1}
"""

from __future__ import annotations

from typing import ClassVar

import torch
from pydantic import Field

from ...._util.errors import InputError
from .base import Recipe, RecipeContext, RecipeParams

#: Penalty strength α (issue default).
DEFAULT_ALPHA = 10.0
#: Share of the slice's output neurons penalised.
DEFAULT_TOP_K_FRACTION = 0.1


class ACAdamWParams(RecipeParams):
    """Parameters of ``ac-adamw``."""

    alpha: float = Field(DEFAULT_ALPHA, ge=0.0)
    """Penalty strength α on the Fisher-weighted squared update of the chosen rows (0 = AdamW)."""
    top_k_fraction: float = Field(DEFAULT_TOP_K_FRACTION, gt=0.0, le=1.0)
    """Share of the slice's output rows (neurons), by summed Fisher, that are penalised."""


class ACAdamW(Recipe):
    """AdamW + Fisher-weighted L2 on the update of the top-k Fisher rows."""

    name: ClassVar[str] = "ac-adamw"
    claimed_class: ClassVar[str] = "shrinkage"
    Params: ClassVar[type[RecipeParams]] = ACAdamWParams
    p: ACAdamWParams

    def setup(self, ctx: RecipeContext) -> None:
        grads = ctx.gradients()
        scores = []  # (score, name, row)
        for name in ctx.slice_names:
            f = grads.fisher_t.get(name)
            if f is None:
                raise InputError(f"no Fisher for slice block {name!r}", field="slice")
            for row, s in enumerate(f.sum(dim=1).tolist()):
                scores.append((s, name, row))
        k = max(1, round(self.p.top_k_fraction * len(scores)))
        top = sorted(scores, key=lambda t: (-t[0], t[1], t[2]))[:k]
        mean = sum(s for s, _, _ in top) / k
        self._rows: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        by_name: dict[str, list[tuple[int, float]]] = {}
        for s, name, row in top:
            by_name.setdefault(name, []).append((row, s / mean if mean > 0 else 1.0))
        for name, rows in by_name.items():
            # Built once on the adapter's device: extra_loss multiplies them with
            # the pair every step (a CPU index against CUDA weights fails).
            dev = ctx.pairs[name].b.device
            idx = torch.tensor([r for r, _ in rows], dtype=torch.long, device=dev)
            w = torch.tensor([v for _, v in rows], dtype=torch.float32, device=dev)
            self._rows[name] = (idx, w)
        ctx.info["ac_adamw_top_k"] = k
        ctx.info["ac_adamw_rows_per_block"] = {n: len(r) for n, r in by_name.items()}

    def extra_loss(self, ctx: RecipeContext) -> torch.Tensor | None:
        if self.p.alpha == 0:
            return None
        total: torch.Tensor | None = None
        for name, (idx, w) in self._rows.items():
            pair = ctx.pairs[name]
            rows = (pair.b[idx] @ pair.a) * pair.scaling  # ΔW restricted to the chosen rows
            term = (w * rows.pow(2).sum(dim=1)).sum()
            total = term if total is None else total + term
        return None if total is None else 0.5 * self.p.alpha * total
