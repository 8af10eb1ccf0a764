"""Power beside gates (a) and (b): the minimum detectable ΔG of this card's own design.

A gate that fails may simply be too small to see the effect. From the card's
own records (the clustered design: σ_d = sd over questions of the paired gap
difference d_q, SPEC §2b) each of (a) and (b) reports the minimum detectable
ΔG at :data:`~acceptance_cards.constants.POWER` (80 %) under the level its rule
uses, and how many questions would detect the observed ΔG
(:mod:`acceptance_cards.stats.power` has the formulas):

- (a) passes iff the upper ``ci_level`` bound is below 0, a one-sided test at
  α = (1 − ci_level)/2: MDE = −(z_{1−α} + z_power)·σ_d/√Q.
- (b) passes iff Δ + k·SE < 0 for both SE_paired and SE_ind (k = 2), i.e.
  Δ̂ < −k·max(SE_paired, SE_ind), with Δ̂'s sampling SE the paired one:
  MDE = −(k·max(SE_paired, SE_ind) + z_power·SE_paired); its one-sided level is
  α = 1 − Φ(k), the two-sided level 1 − 2α (95.45 % for k = 2).

A failed or borderline gate whose |ΔG| is below |MDE| is *underpowered*: its
reason says so, and the claim lint forbids "no effect" wording on it.

Example:
    >>> p = bootstrap_power(delta=-0.02, sd_d=0.30, n_questions=48, ci_level=0.95)
    >>> round(p.mde, 4), p.questions_to_detect, p.underpowered
    (-0.1213, 1766, True)
"""

from __future__ import annotations

import math
from statistics import NormalDist

from pydantic import BaseModel, ConfigDict, Field

from ..constants import POWER
from ..stats.power import minimum_detectable_effect, questions_for_power, questions_to_detect


class GatePower(BaseModel):
    """The power of one gate's design, from the card's own question-level variance."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    power: float = Field(description="Target power of the calculation (constants.POWER).")
    ci_level: float = Field(description="Two-sided level the gate's rule amounts to.")
    alpha: float = Field(description="One-sided level of the gate's signed test.")
    critical: float = Field(description="Multiplier of the rule's SE: z_{1-α} (a) or k (b).")
    sd_d: float = Field(description="sd over questions of d_q = g_q,defense − g_q,baseline.")
    se: float = Field(description="Sampling SE of ΔG: σ_d/√Q.")
    se_rule: float = Field(description="SE the rule multiplies: SE (a), max(SE_paired, SE_ind) (b).")
    n_questions: int = Field(description="Questions Q of the design.")
    observed: float = Field(description="Observed ΔG (a) or Δ (b).")
    mde: float = Field(description="Minimum detectable ΔG at `power` (negative).")
    questions_to_detect: int | None = Field(
        None, description="Questions that detect the observed ΔG with `power` (None: ΔG ≥ 0).")
    underpowered: bool = Field(description="|observed| < |mde|: this design cannot see it.")


def _result(*, observed: float, se: float, se_rule: float, critical: float, alpha: float,
            n_questions: int, power: float, questions: int | None) -> GatePower:
    mde = minimum_detectable_effect(se=se, critical=critical, power=power, se_rule=se_rule)
    return GatePower(
        power=power, ci_level=1.0 - 2.0 * alpha, alpha=alpha, critical=critical,
        sd_d=se * math.sqrt(n_questions), se=se, se_rule=se_rule, n_questions=n_questions,
        observed=observed, mde=mde, questions_to_detect=questions,
        underpowered=abs(observed) < abs(mde),
    )


def bootstrap_power(*, delta: float, sd_d: float, n_questions: int, ci_level: float,
                    power: float = POWER) -> GatePower | None:
    """Power of gate (a); None when σ_d is 0 or undefined (fewer than 2 questions)."""
    if n_questions < 2 or not (sd_d > 0 and math.isfinite(sd_d)):
        return None
    alpha = (1.0 - ci_level) / 2.0
    questions = (questions_for_power(effect=delta, sd_d=sd_d, power=power,
                                     ci_level=ci_level).n_questions if delta < 0 else None)
    return _result(observed=delta, se=sd_d / math.sqrt(n_questions),
                   se_rule=sd_d / math.sqrt(n_questions),
                   critical=NormalDist().inv_cdf(1.0 - alpha), alpha=alpha,
                   n_questions=n_questions, power=power, questions=questions)


def fresh_power(*, delta: float, se_paired: float, se_independent: float, n_questions: int,
                k: float, power: float = POWER) -> GatePower | None:
    """Power of gate (b); None when SE_paired is 0 or undefined."""
    if n_questions < 2 or not (se_paired > 0 and math.isfinite(se_paired)):
        return None
    se_rule = max(se_paired, se_independent)
    mde = minimum_detectable_effect(se=se_paired, critical=k, power=power, se_rule=se_rule)
    return _result(observed=delta, se=se_paired, se_rule=se_rule, critical=k,
                   alpha=1.0 - NormalDist().cdf(k), n_questions=n_questions, power=power,
                   questions=questions_to_detect(effect=delta, mde=mde, n_questions=n_questions))


def _pct(x: float) -> str:
    return f"{100 * x:.2f}".rstrip("0").rstrip(".") + "%"


def underpowered_note(p: GatePower | None, *, symbol: str = "ΔG") -> str:
    """The clause a failed or borderline gate adds to its reason ('' when not underpowered)."""
    if p is None or not p.underpowered:
        return ""
    more = (f"the observed {symbol} is not a reduction" if p.questions_to_detect is None
            else f"about {p.questions_to_detect} questions would detect the observed {symbol}")
    return (f"; underpowered: |{symbol}| = {abs(p.observed):.4f} < minimum detectable "
            f"{abs(p.mde):.4f} ({_pct(p.power)} power, {_pct(p.ci_level)} level, "
            f"{p.n_questions} questions): not evidence of no effect; {more}")


__all__ = ["GatePower", "bootstrap_power", "fresh_power", "underpowered_note"]
