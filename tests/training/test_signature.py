"""ρ on constructed updates (SPEC §2(c) intuitions), the bootstrap CI, and slice refusal."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from acceptance_cards._util.errors import InputError
from acceptance_cards.diagnostics.parameter_signature import run_parameter_signature
from acceptance_cards.evidence.mechanism.signature import (
    check_slice,
    resolve_slice,
    rho_bootstrap,
    signature_from_vectors,
)

GEN = torch.Generator().manual_seed(7)
G_T = torch.randn(500, generator=GEN)
G_A = torch.randn(500, generator=GEN) + 0.3 * G_T  # correlated, as real g_T and g_A are


def _orth(v: torch.Tensor, against: torch.Tensor) -> torch.Tensor:
    return v - (v @ against) / (against @ against) * against


def _mech(dw: torch.Tensor):  # type: ignore[no-untyped-def]
    return signature_from_vectors(dw, G_T, G_A, names=["w"], n_calibration=10)


def test_orthogonal_to_ga_and_aligned_with_gt_is_attack_targeted() -> None:
    dw = _orth(G_T, G_A)  # ⟂ g_A, positive projection on g_T
    m = _mech(dw)
    assert abs(m.model_extra["rho"]) < 1e-6
    gate = run_parameter_signature(m, claimed_class="attack-targeted")
    assert gate.signed_class == "attack-targeted" and gate.verdict == "pass"


@pytest.mark.parametrize("c", [1e-3, 0.5, 3.0, 1e4])
def test_uniform_shrinkage_keeps_rho(c: float) -> None:
    adamw = -(0.7 * G_T + 0.9 * G_A) + 0.05 * torch.randn(500, generator=GEN)
    rho = _mech(adamw).model_extra["rho"]
    assert _mech(c * adamw).model_extra["rho"] == pytest.approx(rho, rel=1e-6)  # fp32 scaling
    gate = run_parameter_signature(_mech(c * adamw), claimed_class="shrinkage")
    assert gate.signed_class == "shrinkage" and gate.verdict == "pass"


def test_aligned_with_ga_orthogonal_to_gt_diverges() -> None:
    dw = _orth(G_A, G_T)  # α_T = 0 up to fp32 rounding
    assert abs(_mech(dw).model_extra["rho"]) > 1e6
    near = _mech(dw + 1e-3 * G_T / G_T.norm())
    assert abs(near.model_extra["rho"]) > 1e3  # attack-amplifying: |ρ| blows up
    gate = run_parameter_signature(near, claimed_class="attack-targeted")
    assert gate.signed_class == "shrinkage" and gate.verdict == "fail"
    exact = signature_from_vectors(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 0.0]),
                                   torch.tensor([0.0, 1.0]), names=["w"], n_calibration=1)
    assert exact.model_extra["rho"] is None  # α_T = 0 exactly: undefined
    assert run_parameter_signature(exact, claimed_class="shrinkage").verdict == "n/a"


def test_zero_norms_are_undefined() -> None:
    z = torch.zeros(500)
    for m in (_mech(z), signature_from_vectors(G_T, z, G_A, names=["w"], n_calibration=1),
              signature_from_vectors(G_T, G_T, z, names=["w"], n_calibration=1)):
        assert m.model_extra["rho"] is None
        assert run_parameter_signature(m, claimed_class="shrinkage").verdict == "n/a"


def _sample(rng: np.random.Generator, n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    mu_t, mu_a = np.linspace(1.0, 0.0, d), np.linspace(0.0, 1.0, d)
    return rng.normal(size=(n, d)) * 2 + mu_t, rng.normal(size=(n, d)) * 2 + mu_a


def test_bootstrap_ci_reproduces_and_covers_the_true_rho() -> None:
    """Coverage of the population ρ over repeated calibration draws (BC percentile)."""
    rng = np.random.Generator(np.random.PCG64(0))
    n, d = 40, 60
    mu_t, mu_a = np.linspace(1.0, 0.0, d), np.linspace(0.0, 1.0, d)
    dw = -(mu_t + 0.8 * mu_a)
    true = ((dw @ mu_a) / np.linalg.norm(mu_a)) / ((dw @ mu_t) / np.linalg.norm(mu_t))
    hits = 0
    reps = 60
    for r in range(reps):
        gt_i, ga_i = _sample(rng, n, d)
        ci = rho_bootstrap(gt_i @ dw, ga_i @ dw, gt_i @ gt_i.T, ga_i @ ga_i.T, n_boot=500,
                           seed=r)
        assert ci is not None and ci[0] <= ci[1]
        hits += ci[0] <= true <= ci[1]
        if r == 0:  # same seed, same interval
            assert ci == rho_bootstrap(gt_i @ dw, ga_i @ dw, gt_i @ gt_i.T, ga_i @ ga_i.T,
                                       n_boot=500, seed=r)
    assert hits / reps >= 0.85  # nominal 0.95 (measured 0.95 with these seeds)
    assert rho_bootstrap(np.ones(1), np.ones(1), np.eye(1), np.eye(1)) is None
    assert math.isfinite(true)


def test_slice_must_equal_the_updated_blocks() -> None:
    updated = ["m.layers.2.q.weight", "m.layers.2.v.weight"]
    assert check_slice(list(reversed(updated)), updated, source="a") == updated
    with pytest.raises(InputError, match="leaves out updated blocks"):
        check_slice(updated[:1], updated, source="a")
    with pytest.raises(InputError, match="does not update"):
        check_slice([*updated, "m.layers.1.q.weight"], updated, source="a")
    names = [*updated, "m.layers.1.q.weight"]
    assert resolve_slice("m.layers.2.*", names) == updated
    with pytest.raises(InputError, match="matches no parameter"):
        resolve_slice("m.layers.9.q", names)
