"""``safelora`` — the Safe LoRA projection (Hsu et al., NeurIPS 2024).

Per sliced matrix, with ``V = W_aligned − W_unaligned``, a projector ``C``
onto the alignment subspace:

    official:    C = V·Vᵀ / ‖V‖_F          (IBM's released code; the default)
    orthogonal:  C = U_k·U_kᵀ              (U_k: left singular vectors of V, rank k)

then ``B' = C·B`` and ``cos = cos(C·B·A, B·A)``; the LoRA update of every
matrix whose ``cos`` is at or below ``threshold`` (``select="threshold"``), or
of the ``num_layers`` least similar matrices (``select="number"``), is replaced
by ``C·B·A``. The projection is applied once, after fine-tuning, as in the
published method. ``official`` is not a projector: it scales V's i-th left
singular direction by ``σ_i²/‖V‖_F``, a factor set by V's *magnitude* (a
stand-in's grows with ``reference_steps``), so it shrinks — or stretches — what
it keeps; ``orthogonal`` keeps the update's component in span(V) at full
length. Both are recorded per layer as the share of the update norm kept.

**Where V comes from.** A user with a real aligned/unaligned pair of the base
model's family passes ``aligned=`` and ``unaligned=`` (HF checkpoint folders);
that is Safe LoRA as published. Otherwise V is a **stand-in**: the ΔW of a
short plain LoRA fine-tune of the base model on *framing-consistent* data
(both framings answered with the key, no attack), built so it never sees the
attack's items, order or seed — its items are train-pool questions *disjoint*
from the cell's attack data and from gate (c)'s calibration half (both are
moved out of its pool, so ρ is never measured on the reference's own items),
and it has its own seed (``reference_seed``, refused if it equals the
cell's seed or data seed). It is a stand-in, not an alignment pair: V has rank
≤ the LoRA rank and is set by ``reference_steps``, which is why every cell
records its origin, ‖V‖_F, rank and steps, and per layer the cosine and the
share of the update kept (``finalize``'s facts).

Claim: attack-targeted under the strict coding (the paper maps the
safety-subspace claim there); the permissive shrinkage relabel is reported too.

Example:
    >>> SafeLoRA().params()["projection"]
    'official'
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field, ValidationInfo, field_validator

from ...._util.errors import InputError
from ...gradients.calibration import calibration_role
from ..config import TrainConfig
from .base import Recipe, RecipeContext, RecipeParams

#: Cosine at or below which a layer is projected (Safe LoRA's default threshold).
DEFAULT_THRESHOLD = 0.5
#: Matrices projected in ``select="number"`` mode (Safe LoRA's default count).
DEFAULT_NUM_LAYERS = 10
#: Steps of the stand-in reference fine-tune (when no real pair is given).
DEFAULT_REFERENCE_STEPS = 40
#: Seed of the stand-in reference fine-tune: its own, never a cell's (checked).
DEFAULT_REFERENCE_SEED = 7919
#: Singular values below this share of the largest count as zero (V's rank, the
#: orthogonal projector). fp32 products leave ~1e-7 relative noise; 1e-5 is above it.
RANK_RTOL = 1e-5
#: Where the stand-in reference's split (the cell's, minus the attack's items) is kept.
REFERENCE_SPLITS = "safelora-splits"

Projection = Literal["official", "orthogonal"]


class SafeLoRAParams(RecipeParams):
    """Parameters of ``safelora``."""

    select: Literal["threshold", "number"] = "threshold"
    """How projected matrices are chosen: every one with cos <= threshold, or the num_layers least similar."""
    threshold: float = Field(DEFAULT_THRESHOLD, ge=-1.0, le=1.0)
    """select=threshold: project a matrix when cos(C·B·A, B·A) is at or below this."""
    num_layers: int = Field(DEFAULT_NUM_LAYERS, ge=1)
    """select=number: how many of the least similar matrices are projected."""
    projection: Projection = "official"
    """official: C = V·Vᵀ/‖V‖_F as IBM's code (scales with ‖V‖); orthogonal: the projector onto span(V)."""
    aligned: str | None = None
    """Aligned checkpoint folder (HF, safetensors) of a real pair; give unaligned too."""
    unaligned: str | None = Field(None, validate_default=True)
    """Unaligned checkpoint folder of the same family; V = aligned − unaligned."""
    reference_steps: int = Field(DEFAULT_REFERENCE_STEPS, ge=1)
    """Steps of the stand-in reference fine-tune (used when no checkpoint pair is given)."""
    reference_seed: int = Field(DEFAULT_REFERENCE_SEED, ge=0)
    """Seed of the stand-in reference (its data order, framings, LoRA init); must differ from the cell's."""

    @field_validator("unaligned")
    @classmethod
    def _pair(cls, v: str | None, info: ValidationInfo) -> str | None:
        if (v is None) != (info.data.get("aligned") is None):
            raise ValueError("give both aligned and unaligned checkpoints, or neither")
        return v


def _basis(v: torch.Tensor) -> torch.Tensor:
    """Orthonormal basis of span(V)'s columns (fp64), singular values above :data:`RANK_RTOL`."""
    u, sv, _ = torch.linalg.svd(v.double(), full_matrices=False)
    keep = sv > sv[0] * RANK_RTOL if sv.numel() and sv[0] > 0 else torch.zeros_like(sv, dtype=torch.bool)
    basis: torch.Tensor = u[:, keep]
    return basis


def rank(v: torch.Tensor) -> int:
    """Numerical rank of V (singular values above :data:`RANK_RTOL` of the largest).

    Example:
        >>> rank(torch.ones(3, 4))
        1
    """
    return int(_basis(v).shape[1])


def projection_matrix(v: torch.Tensor, kind: Projection = "official") -> torch.Tensor:
    """``C`` for V (fp64; zero when V is zero): ``V·Vᵀ/‖V‖_F`` or ``U_k·U_kᵀ``.

    Example:
        >>> projection_matrix(torch.eye(2)).diagonal().tolist()
        [0.7071067811865475, 0.7071067811865475]
        >>> projection_matrix(torch.eye(2), "orthogonal").diagonal().tolist()
        [1.0, 1.0]
    """
    v = v.double()
    if kind == "orthogonal":
        u = _basis(v)
        return u @ u.T
    norm = v.norm()
    if norm == 0:
        return torch.zeros((v.shape[0], v.shape[0]), dtype=torch.float64)
    c: torch.Tensor = v @ v.T / norm
    return c


@dataclasses.dataclass(frozen=True)
class Proposal:
    """One matrix's projected ``B'`` and how it relates to the trained update."""

    b: torch.Tensor
    cos: float
    kept: float


def project(a: torch.Tensor, b: torch.Tensor, v: torch.Tensor,
            kind: Projection = "official") -> Proposal:
    """``B' = C·B``, cos(C·B·A, B·A) and ‖C·B·A‖/‖B·A‖ (share of the update norm kept).

    Example:
        >>> p = project(torch.eye(2), torch.eye(2), torch.eye(2), "orthogonal")
        >>> round(p.cos, 4), round(p.kept, 4)
        (1.0, 1.0)
    """
    a, b = a.double(), b.double()
    b_new = projection_matrix(v, kind) @ b
    before = (b @ a).reshape(-1)
    after = (b_new @ a).reshape(-1)
    den = float(before.norm() * after.norm())
    cos = float(before @ after) / den if den > 0 else 0.0
    kept = float(after.norm() / before.norm()) if float(before.norm()) > 0 else 0.0
    return Proposal(b_new, cos, kept)


class SafeLoRA(Recipe):
    """Post-hoc projection of low-similarity LoRA updates onto the alignment subspace."""

    name: ClassVar[str] = "safelora"
    claimed_class: ClassVar[str] = "attack-targeted"
    permissive_class: ClassVar[str | None] = "shrinkage"
    Params: ClassVar[type[RecipeParams]] = SafeLoRAParams
    p: SafeLoRAParams

    def reference(self, ctx: RecipeContext) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """V per sliced matrix, and where it came from."""
        from ...models.delta_w import delta_from_adapter, delta_from_checkpoints

        p = self.p
        if p.aligned is not None and p.unaligned is not None:
            v = delta_from_checkpoints(p.unaligned, p.aligned, ctx.slice_names)
            return v, {"origin": "checkpoint pair", "aligned": p.aligned,
                       "unaligned": p.unaligned, "steps": None}
        ref, info = reference_config(ctx.config, steps=p.reference_steps, seed=p.reference_seed)
        ctx.log(f"SafeLoRA stand-in reference: {p.reference_steps} framing-consistent steps, "
                f"seed {p.reference_seed}, {info['excluded_items']} attack items and "
                f"{info['excluded_gate_items']} gate-calibration items excluded")
        adapter = ctx.train_reference(ref)
        return delta_from_adapter(adapter), {
            "origin": "stand-in fine-tune (no aligned/unaligned pair given)",
            "steps": p.reference_steps, "seed": p.reference_seed, "dir": str(Path(adapter).parent),
            "config_digest": ref.digest(), **info}

    def finalize(self, ctx: RecipeContext) -> dict[str, Any]:
        v, source = self.reference(ctx)  # may train the reference: grad must stay enabled
        missing = [n for n in ctx.slice_names if n not in v]
        if missing:
            raise InputError(f"reference has no update for {missing[0]!r}", field="slice")
        props = {n: project(ctx.pairs[n].a.detach().cpu(), ctx.pairs[n].b.detach().cpu(),
                            v[n].cpu(), self.p.projection) for n in ctx.slice_names}
        if self.p.select == "threshold":
            chosen = [n for n in ctx.slice_names if props[n].cos <= self.p.threshold]
        else:
            chosen = sorted(ctx.slice_names, key=lambda n: (props[n].cos, n))[: self.p.num_layers]
        with torch.no_grad():  # one copy per matrix, once: B' back on the adapter's device
            for name in chosen:
                b = ctx.pairs[name].b
                b.copy_(props[name].b.to(device=b.device, dtype=b.dtype))
        return self._facts(v, props, chosen, source)

    def _facts(self, v: dict[str, torch.Tensor], props: dict[str, Proposal], chosen: list[str],
               source: dict[str, Any]) -> dict[str, Any]:
        """What the card needs to say what this projection did (all JSON)."""
        names = sorted(props)
        layers = {n: {"cos": props[n].cos, "kept": props[n].kept, "projected": n in chosen,
                      "v_norm": float(v[n].double().norm()), "v_rank": rank(v[n])} for n in names}
        return {
            "safelora_reference": source,
            "safelora_v_norm": math.sqrt(sum(float(v[n].double().pow(2).sum()) for n in names)),
            "safelora_v_rank": max((layers[n]["v_rank"] for n in names), default=0),
            "safelora_reference_steps": source["steps"],
            "safelora_projection": self.p.projection,
            "safelora_select": self.p.select,
            "safelora_select_value": (self.p.threshold if self.p.select == "threshold"
                                      else self.p.num_layers),
            "safelora_layers": layers,
            "safelora_cos": {n: props[n].cos for n in names},
            "safelora_projected": sorted(chosen),
        }


def reference_config(cfg: TrainConfig, *, steps: int, seed: int) -> tuple[TrainConfig, dict[str, Any]]:
    """The stand-in reference's training config and what it excludes.

    ``cfg``'s model, LoRA targets, rank, layers, lr, batch and data size; plain
    AdamW; attack strength 0 (both framings answered with the key); its own
    ``seed`` (data order, framings, templates, LoRA init); and a split whose
    train pool is ``cfg``'s minus every question of ``cfg``'s attack data and
    minus gate (c)'s whole calibration half (:func:`calibration_role`), so the
    reference shares no item with the attack nor with any calibration set gate
    (c) may draw, whatever its ``n``.
    """
    if seed in (cfg.seed, cfg.resolved_data_seed()):
        raise InputError(f"the stand-in reference needs its own seed; {seed} is the cell's "
                         f"(seed {cfg.seed}, data seed {cfg.resolved_data_seed()})",
                         field="recipe_params.reference_seed")
    split_file, excluded, gate_excluded, split_hash = _reference_split(cfg)
    ref = cfg.model_copy(update={"recipe": "adamw", "recipe_params": {}, "attack_strength": 0.0,
                                 "steps": steps, "seed": seed, "data_seed": None,
                                 "split": str(split_file)})
    return ref, {"excluded_items": excluded, "excluded_gate_items": gate_excluded,
                 "disjoint_from_gate_calibration": True, "split_hash": split_hash}


def _reference_split(cfg: TrainConfig) -> tuple[Path, int, int, str]:
    """``cfg``'s split with its attack questions and gate (c)'s calibration half moved
    out of the train pool (into the excluded, held-out set), saved by content hash;
    (file, attack items excluded, gate-half items excluded, split hash)."""
    from ...data.attacks import build_attack_data, training_templates
    from ...data.mmlu import load_mmlu_source
    from ...data.split import _body, _hash, check_source, load_split, make_split, save_split, train_pool
    from ...data.templates import load_templates
    from ...models.loading import cache_root

    source = load_mmlu_source()
    split = load_split(cfg.split) if cfg.split is not None else make_split(source, seed=cfg.split_seed)
    check_source(split, source)
    pool = train_pool(split, source.items)
    select, strength = cfg.resolved_attack()
    # the same draw as the training loop's attack data (the test checks they agree)
    attack = build_attack_data(
        pool, training_templates(load_templates(cfg.templates).templates, extra=cfg.extra_wordings),
        task=cfg.task, variant=cfg.attack, strength=strength, seed=cfg.resolved_data_seed(),
        n_examples=min(cfg.n_examples, len(pool)),
        forbidden_ids=frozenset(split.heldout_ids) | frozenset(split.fresh_ids), select=select)
    used = {e.item.question_id for e in attack}
    # gate (c) measures ρ on items of this half: a reference trained on them would
    # make the projection partly fitted to the gate's ruler.
    gate = {it.question_id for it in pool if calibration_role(it.question_id) == "gate"}
    held = tuple(split.heldout_ids) + tuple(sorted((used | gate) - set(split.heldout_ids)))
    derived = dataclasses.replace(split, heldout_ids=held, hash="")
    derived = dataclasses.replace(derived, hash=_hash(_body(derived)))
    path = cache_root() / REFERENCE_SPLITS / f"{derived.hash[:24]}.json"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        save_split(derived, path)
    return path, len(used), len(gate), derived.hash
