"""The parameter-space signature ρ_AT and the mechanism file (SPEC §2(c), §9).

α_T = ⟨ΔW, g_T⟩/‖g_T‖, α_A = ⟨ΔW, g_A⟩/‖g_A‖, ρ = α_A/α_T, all on the declared
slice. The slice must equal the parameter blocks the adapter updates: a slice
that differs (a subset, a superset, other layers) is refused, so slice-shopping
is impossible. The written file holds the scalars the gate reads plus, when
per-unit gradients are cached, a percentile bootstrap CI on ρ over calibration
items (or groups of items, as recorded).

Example:
    >>> import torch
    >>> from acceptance_cards.evidence.mechanism.signature import signature_from_vectors
    >>> g_t, g_a = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    >>> m = signature_from_vectors(torch.tensor([2.0, 0.0]), g_t, g_a, names=["w"], n_calibration=1)
    >>> m.dot_a / m.norm_ga / (m.dot_t / m.norm_gt)
    0.0
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..._util.errors import InputError
from ..._util.files import read_json_object
from ...mechanism import MechanismFile, save_mechanism
from ..gradients.calibration import CalibrationSet, TrainPool, calibration_for, train_pool_for
from ..gradients.slices import SliceGradients, slice_gradients
from ..models.delta_w import check_against_base, delta_from_adapter, delta_from_checkpoints
from ..training.config import TrainConfig, load_config
from ..training.layout import ADAPTER_SIDECAR, CellLayout

#: Bootstrap resamples for the CI on ρ.
DEFAULT_BOOT = 2000
#: CI level on ρ.
DEFAULT_CI_LEVEL = 0.95


def resolve_slice(spec: str | Sequence[str], param_names: Iterable[str]) -> list[str]:
    """Expand a slice spec (names, module names or glob patterns) to parameter names.

    ``model.layers.15.self_attn.q_proj`` means its ``.weight``; ``*`` patterns
    match against the base model's parameter names. Unmatched entries are an
    :class:`InputError`.

    Example:
        >>> resolve_slice("m.l.1.q", ["m.l.1.q.weight", "m.l.2.q.weight"])
        ['m.l.1.q.weight']
        >>> resolve_slice("m.l.*.q", ["m.l.1.q.weight", "m.l.2.q.weight"])
        ['m.l.1.q.weight', 'm.l.2.q.weight']
    """
    parts = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec)]
    parts = [p for p in parts if p]
    if not parts:
        raise InputError("empty slice", field="slice")
    names = list(param_names)
    known = set(names)
    out: set[str] = set()
    for p in parts:
        if p in known:
            out.add(p)
        elif f"{p}.weight" in known:
            out.add(f"{p}.weight")
        else:
            hits = [n for n in names if fnmatch.fnmatchcase(n, p) or fnmatch.fnmatchcase(n, f"{p}.weight")]
            if not hits:
                raise InputError(f"slice entry {p!r} matches no parameter of the base model",
                                 field="slice")
            out.update(hits)
    return sorted(out)


def check_slice(declared: Sequence[str], updated: Sequence[str], *, source: str) -> list[str]:
    """Return the slice if it equals the updated blocks; else one clear error.

    Example:
        >>> check_slice(["a.weight"], ["a.weight"], source="x")
        ['a.weight']
    """
    d, u = set(declared), set(updated)
    if d != u:
        extra, missing = sorted(d - u), sorted(u - d)
        parts = []
        if missing:
            parts.append(f"leaves out updated blocks {missing[:3]}{'…' if len(missing) > 3 else ''}")
        if extra:
            parts.append(f"includes blocks the adapter does not update "
                         f"{extra[:3]}{'…' if len(extra) > 3 else ''}")
        raise InputError("declared slice differs from the adapter's targets: "
                         + "; ".join(parts) + " (the slice must equal the updated blocks)",
                         path=source, field="slice")
    return sorted(d)


def rho_bootstrap(
    d_t: np.ndarray, d_a: np.ndarray, gram_t: np.ndarray, gram_a: np.ndarray, *,
    n_boot: int = DEFAULT_BOOT, level: float = DEFAULT_CI_LEVEL, seed: int = 0,
) -> tuple[float, float] | None:
    """Bias-corrected percentile CI on ρ, resampling calibration units with replacement.

    ``d_t[i] = ⟨ΔW, g_T,i⟩`` and ``gram_t[i, j] = ⟨g_T,i, g_T,j⟩`` (same for A):
    a resample with weights ``w`` has ``α_T = wᵀd_T / sqrt(wᵀ K_T w)``, so no
    gradient is recomputed. Why bias-corrected (BC): the norm of a resampled
    mean gradient is inflated by its noise (``E‖ḡ*‖² = ‖ḡ‖² + tr Σ / n``), more
    for the noisier direction, which shifts the plain percentile interval off
    the point estimate; BC re-centres it on the median bias. ``None`` when
    fewer than 2 units or no resample is defined.

    Example:
        >>> k = np.eye(3)
        >>> rho_bootstrap(np.ones(3), np.zeros(3), k, k, n_boot=50)
        (0.0, 0.0)
    """
    from statistics import NormalDist

    n = len(d_t)
    if n < 2:
        return None
    rng = np.random.Generator(np.random.PCG64(seed))
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float64) / n

    def rho_of(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        num_t, num_a = w @ d_t, w @ d_a
        den_t = np.sqrt(np.maximum(np.einsum("bi,ij,bj->b", w, gram_t, w), 0.0))
        den_a = np.sqrt(np.maximum(np.einsum("bi,ij,bj->b", w, gram_a, w), 0.0))
        ok = (den_t > 0) & (den_a > 0) & (num_t != 0)
        out = np.full(len(w), np.nan)
        out[ok] = (num_a[ok] / den_a[ok]) / (num_t[ok] / den_t[ok])
        return out, ok

    point, pok = rho_of(np.full((1, n), 1.0 / n))
    rho, ok = rho_of(counts)
    if not ok.any() or not pok[0]:
        return None
    rho = rho[ok]
    nd = NormalDist()
    frac = (np.sum(rho < point[0]) + 0.5 * np.sum(rho == point[0])) / len(rho)
    frac = min(max(frac, 1.0 / (len(rho) + 1)), len(rho) / (len(rho) + 1))
    z0 = nd.inv_cdf(frac)
    z = nd.inv_cdf(0.5 + level / 2)
    lo_q, hi_q = nd.cdf(2 * z0 - z) * 100, nd.cdf(2 * z0 + z) * 100
    lo, hi = np.percentile(rho, [lo_q, hi_q])
    return float(lo), float(hi)


def signature_from_vectors(
    delta: torch.Tensor, g_t: torch.Tensor, g_a: torch.Tensor, *, names: Sequence[str],
    n_calibration: int, rho_ci: tuple[float, float] | None = None,
    rho_ci_level: float | None = None, extra: Mapping[str, Any] | None = None,
) -> MechanismFile:
    """The mechanism scalars from flat ΔW, g_T, g_A (fp64 dot products)."""
    if not (delta.shape == g_t.shape == g_a.shape):
        raise InputError(f"ΔW {tuple(delta.shape)} and gradients {tuple(g_t.shape)} / "
                         f"{tuple(g_a.shape)} differ in size", field="slice")
    dw, gt, ga = delta.double(), g_t.double(), g_a.double()
    dot_t, dot_a = float(dw @ gt), float(dw @ ga)
    norm_gt, norm_ga, norm_dw = float(gt.norm()), float(ga.norm()), float(dw.norm())
    fields: dict[str, Any] = dict(extra or {})
    a_t = dot_t / norm_gt if norm_gt > 0 else None
    a_a = dot_a / norm_ga if norm_ga > 0 else None
    rho = a_a / a_t if (a_t not in (None, 0.0) and a_a is not None and norm_dw > 0) else None
    fields.update(alpha_t=a_t, alpha_a=a_a, rho=rho,
                  cos_gt_ga=float(gt @ ga / (norm_gt * norm_ga)) if norm_gt * norm_ga > 0 else None)
    return MechanismFile(dot_t=dot_t, dot_a=dot_a, norm_gt=norm_gt, norm_ga=norm_ga,
                         norm_dw=norm_dw, slice=list(names), n_calibration=n_calibration,
                         rho_ci=rho_ci, rho_ci_level=rho_ci_level if rho_ci else None, **fields)


def signature(
    grads: SliceGradients, delta: Mapping[str, torch.Tensor], *, n_boot: int = DEFAULT_BOOT,
    ci_level: float = DEFAULT_CI_LEVEL, seed: int = 0, extra: Mapping[str, Any] | None = None,
) -> MechanismFile:
    """ρ's scalars for one cell: ΔW (by base parameter name) against cached gradients.

    ``delta`` must cover exactly ``grads.names`` (the declared slice).
    """
    check_slice(list(grads.names), list(delta), source="ΔW")
    for name, shape in zip(grads.names, grads.shapes, strict=True):
        if tuple(delta[name].shape) != tuple(shape):
            raise InputError(f"{name}: ΔW shape {tuple(delta[name].shape)} != gradient shape "
                             f"{tuple(shape)}", field=name)
    flat = torch.cat([delta[n].reshape(-1).float() for n in grads.names])
    ci = None
    if grads.units_t.shape[0] >= 2 and n_boot > 0:
        d_t = (grads.units_t.float() @ flat).double().numpy()
        d_a = (grads.units_a.float() @ flat).double().numpy()
        ci = rho_bootstrap(d_t, d_a, grads.gram_t.numpy(), grads.gram_a.numpy(),
                           n_boot=n_boot, level=ci_level, seed=seed)
    info = {"bootstrap_unit": grads.unit, "n_units": int(grads.units_t.shape[0]),
            "n_boot": n_boot if ci else 0, "bootstrap_seed": seed, "gradient_key": grads.key}
    return signature_from_vectors(flat, grads.flat("t"), grads.flat("a"), names=grads.names,
                                  n_calibration=grads.n_calibration, rho_ci=ci,
                                  rho_ci_level=ci_level if ci else None,
                                  extra={**info, **dict(extra or {})})


def write_signature(mech: MechanismFile, out: str | Path) -> Path:
    """Write the mechanism file atomically (SPEC §9 layout) and return its path."""
    path = Path(out)
    if not all(math.isfinite(v) for v in (mech.dot_t, mech.dot_a)):
        raise InputError("non-finite dot product; not written", path=path, field="dot_t")
    save_mechanism(mech, path)
    return path


def _cell_config(folder: Path, config: TrainConfig | None) -> TrainConfig:
    """The training config of the adapter's cell (``config.json`` beside ``adapter/``)."""
    if config is not None:
        return config
    layout = CellLayout(folder.parent)
    if not layout.config.is_file():
        raise InputError("no cell config.json next to the adapter; pass the training "
                         "config (--config) so task, attack and split are known",
                         path=layout.config)
    return load_config(layout.config)


def _adapter_sidecar(folder: Path, lm: Any) -> dict[str, Any]:
    """What trained the adapter; refused when it names another base model."""
    path = folder / ADAPTER_SIDECAR
    if not path.is_file():
        return {}
    side = read_json_object(path)
    want = side.get("base_model_hash")
    if want and want != lm.content_hash:
        raise InputError(f"adapter was trained on base {side.get('base_model')!r} "
                         f"(hash {want[:12]}…), not on {lm.name!r} ({lm.content_hash[:12]}…)",
                         path=path, field="base_model_hash")
    return side


def calibration_provenance(cal: CalibrationSet, config: TrainConfig, pool: TrainPool,
                           cell: Path | None) -> dict[str, Any]:
    """Gate (c)'s calibration hash, and — when the cell's recipe read base-model
    gradients — the recipe's set hash with a check that the two share no item.

    Keys: ``calibration_hash`` (gate), ``calibration_role`` (``"gate"``) and,
    for such recipes, ``recipe_calibration_hash``, ``recipe_n_calibration``,
    ``calibration_disjoint``.
    """
    out: dict[str, Any] = {"calibration_hash": cal.hash, "calibration_role": "gate"}
    result = CellLayout(cell).result if cell is not None else None
    used = read_json_object(result).get("calibration") if result and result.is_file() else None
    if not isinstance(used, dict) or not isinstance(used.get("recipe"), dict):
        return out
    recipe = calibration_for(config, role="recipe", n=used["recipe"].get("n"), pool=pool)
    if recipe.hash != used["recipe"].get("hash"):
        raise InputError("the recipe's calibration set cannot be rebuilt from this config "
                         "(another split, task or attack?)", path=result, field="calibration")
    ids = {c.item.question_id for c in cal.items}
    shared = sorted(ids & {c.item.question_id for c in recipe.items})
    if shared:  # pragma: no cover - the partition makes this impossible
        raise InputError(f"gate (c) calibration shares {shared[0]!r} with the recipe's",
                         path=result, field="calibration")
    return out | {"recipe_calibration_hash": recipe.hash,
                  "recipe_n_calibration": len(recipe.items), "calibration_disjoint": True}


def mechanism_for_adapter(
    adapter: str | Path,
    out: str | Path,
    *,
    base: str | None = None,
    slice_spec: str | None = None,
    config: TrainConfig | None = None,
    n_calibration: int | None = None,
    n_boot: int = DEFAULT_BOOT,
    ci_level: float = DEFAULT_CI_LEVEL,
    seed: int = 0,
    progress: Any = None,
    device: str | None = None,
) -> MechanismFile:
    """Compute and write one cell's mechanism file from its peft adapter.

    The cell's ``config.json`` (next to ``adapter/``) supplies task, attack and
    split unless ``config`` (a :class:`~..training.config.TrainConfig`) is given.
    The base defaults to the config's model. Refused with an
    :class:`InputError`: an adapter trained on another base (hash or shapes), a
    declared slice that is not exactly the adapter's targets.
    """
    folder = Path(adapter)
    delta = delta_from_adapter(folder)
    config = _cell_config(folder, config)
    lm = _load_fp32(base or config.model, device)
    side = _adapter_sidecar(folder, lm)
    shapes = {n: tuple(p.shape) for n, p in lm.model.named_parameters()}
    check_against_base(delta, shapes, source=str(folder))
    updated = sorted(delta)
    declared = resolve_slice(slice_spec, shapes) if slice_spec else updated
    names = check_slice(declared, updated, source=str(folder))
    pool = train_pool_for(config)
    cal = calibration_for(config, role="gate", n=n_calibration, pool=pool)
    grads = slice_gradients(lm, cal, names, progress=progress)
    mech = signature(grads, delta, n_boot=n_boot, ci_level=ci_level, seed=seed, extra={
        "adapter": str(folder), "base_model": lm.name, "base_model_hash": lm.content_hash,
        "task": cal.task, "attack": cal.variant,
        **calibration_provenance(cal, config, pool, folder.parent),
        "recipe": side.get("recipe"), "claimed_class": side.get("claimed_class"),
        "permissive_class": side.get("permissive_class")})
    write_signature(mech, out)
    return mech


def _load_fp32(spec: str, device: str | None) -> Any:
    """The base model in fp32 on ``device`` (``load_model``'s default when None)."""
    from ..models.loading import load_model

    where: dict[str, Any] = {} if device is None or str(device) == "cpu" else {"device": device}
    return load_model(spec, dtype="float32", **where)


def mechanism_for_checkpoints(
    tuned: str | Path,
    out: str | Path,
    *,
    config: TrainConfig,
    slice_spec: str,
    base: str | None = None,
    n_calibration: int | None = None,
    n_boot: int = DEFAULT_BOOT,
    ci_level: float = DEFAULT_CI_LEVEL,
    seed: int = 0,
    progress: Any = None,
    device: str | None = None,
) -> MechanismFile:
    """Mechanism file for a fine-tune given as a full checkpoint (ΔW = W_tuned − W_base).

    The declared slice must equal the set of base parameters the checkpoint
    changed (compared exactly), as for adapters.
    """
    lm = _load_fp32(base or config.model, device)
    state = dict(lm.model.named_parameters())
    all_names = sorted(state)
    full = delta_from_checkpoints({n: p for n, p in state.items()}, tuned, all_names)
    updated = sorted(n for n, d in full.items() if bool((d != 0).any()))
    if not updated:
        raise InputError("the checkpoint equals the base model on every parameter", path=str(tuned))
    names = check_slice(resolve_slice(slice_spec, all_names), updated, source=str(tuned))
    pool = train_pool_for(config)
    cal = calibration_for(config, role="gate", n=n_calibration, pool=pool)
    grads = slice_gradients(lm, cal, names, progress=progress)
    mech = signature(grads, {n: full[n] for n in names}, n_boot=n_boot, ci_level=ci_level,
                     seed=seed, extra={"tuned_checkpoint": str(tuned), "base_model": lm.name,
                                       "base_model_hash": lm.content_hash, "task": cal.task,
                                       "attack": cal.variant,
                                       **calibration_provenance(cal, config, pool, None)})
    write_signature(mech, out)
    return mech
