"""Diagnostic (c): the parameter-space signature ρ_AT.

Blocks mechanism-label mismatch. From base-model gradients on the declared
slice: α_T = ⟨ΔW, g_T⟩/‖g_T‖, α_A = ⟨ΔW, g_A⟩/‖g_A‖, ρ_AT = α_A/α_T. The update
is **attack-targeted iff |ρ_AT| < τ**, else shrinkage; **pass iff the claimed
class equals the signed class** (``unstated`` never passes). Undefined (`n/a`)
when ‖g_T‖ = 0, ‖g_A‖ = 0, ΔW = 0 on the slice, or α_T = 0.

Example:
    >>> from acceptance_cards.mechanism import MechanismFile
    >>> m = MechanismFile(dot_t=2.0, dot_a=0.1, norm_gt=1.0, norm_ga=1.0, norm_dw=3.0,
    ...                   slice=["model.layers.15.self_attn.q_proj"], n_calibration=64)
    >>> run_parameter_signature(m, claimed_class="attack-targeted").verdict
    'pass'
"""

from __future__ import annotations

from pydantic import Field

from ..constants import TAU
from ..mechanism import MechanismFile
from ..vocab import ClaimedClass as ClaimedClass  # re-exported: public before `vocab` owned it
from ..vocab import MechanismClass as MechanismClass
from ._common import GateResult


class SignatureGate(GateResult):
    """Result of diagnostic (c)."""

    rho: float | None = Field(None, description="ρ_AT = α_A / α_T.")
    alpha_t: float | None = Field(None, description="⟨ΔW, g_T⟩/‖g_T‖.")
    alpha_a: float | None = Field(None, description="⟨ΔW, g_A⟩/‖g_A‖.")
    dot_t: float | None = None
    dot_a: float | None = None
    norm_gt: float | None = None
    norm_ga: float | None = None
    norm_dw: float | None = None
    signed_class: MechanismClass | None = Field(None, description="attack-targeted iff |ρ| < τ.")
    claimed_class: ClaimedClass = "unstated"
    tau: float = TAU
    slice: list[str] | None = Field(None, description="Declared parameter slice.")
    n_calibration: int | None = None
    rho_ci: tuple[float, float] | None = None
    rho_ci_level: float | None = None
    rule: str = "pass iff claimed class == signed class (|ρ| < τ ⇒ attack-targeted)"


def signed_class(rho: float, *, tau: float = TAU) -> MechanismClass:
    """The class the update's signature puts it in."""
    return "attack-targeted" if abs(rho) < tau else "shrinkage"


def run_parameter_signature(
    mechanism: MechanismFile | None,
    *,
    claimed_class: ClaimedClass = "unstated",
    tau: float = TAU,
) -> SignatureGate:
    """Run gate (c) from a mechanism file and the card's claimed class."""
    if mechanism is None:
        return SignatureGate(verdict="not run", reason="no mechanism file", claimed_class=claimed_class,
                             tau=tau)
    m = mechanism
    common = dict(
        dot_t=m.dot_t, dot_a=m.dot_a, norm_gt=m.norm_gt, norm_ga=m.norm_ga, norm_dw=m.norm_dw,
        claimed_class=claimed_class, tau=tau, slice=list(m.slice), n_calibration=m.n_calibration,
        rho_ci=m.rho_ci, rho_ci_level=m.rho_ci_level,
    )
    undefined = [
        why for cond, why in (
            (m.norm_gt == 0, "‖g_T‖ = 0"), (m.norm_ga == 0, "‖g_A‖ = 0"),
            (m.norm_dw == 0, "ΔW = 0 on the slice"),
            (m.norm_gt > 0 and m.dot_t == 0, "α_T = 0"),
        ) if cond
    ]
    if undefined:
        return SignatureGate(verdict="n/a", reason="ρ undefined: " + ", ".join(undefined),
                             alpha_t=m.alpha_t, alpha_a=m.alpha_a, **common)
    assert m.alpha_t is not None and m.alpha_a is not None
    rho = m.alpha_a / m.alpha_t
    cls = signed_class(rho, tau=tau)
    if claimed_class == "unstated":
        verdict, why = "fail", "no mechanism class was claimed (unstated never passes)"
    elif cls == claimed_class:
        verdict, why = "pass", f"claimed {claimed_class} matches the signature"
    else:
        verdict, why = "fail", f"claimed {claimed_class}, but the signature says {cls}"
    return SignatureGate(
        verdict=verdict,
        reason=f"ρ = {rho:+.4f}, |ρ| {'<' if abs(rho) < tau else '>='} τ = {tau:g}: {why}",
        rho=rho, alpha_t=m.alpha_t, alpha_a=m.alpha_a, signed_class=cls, **common,
    )
