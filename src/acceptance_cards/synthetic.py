"""Synthetic, clearly labelled example evidence: simulated clustered evaluations.

**Synthetic.** Nothing here comes from a model. Each question q has a latent
difficulty b_q ~ N(0, σ_q²) shared by every cell (that is what makes the
paired, question-clustered design matter), each template a small offset, and
each (cell, framing) a target rate; an evaluation is correct with probability
sigmoid(logit(rate) + b_q + t_j). The scenarios let tests and ``make demo``
produce every verdict and every gate state from known ground truth, including
the positive control that must come out ``full-card pass``.

Example:
    >>> b, d = simulate_pair(seed=3, n_heldout=12, n_fresh=20)
    >>> len(b), b.cell, d.cell
    (320, 'adamw-s3', 'defense-s3')
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .constants import N_FRESH_QUESTIONS, N_HELDOUT_QUESTIONS
from .mechanism import MechanismFile
from .records import RecordSet, records_from_rows

#: MMLU subject names used as labels for the simulated pools (disjoint).
HELDOUT_SUBJECTS = ("anatomy", "astronomy", "college_biology", "high_school_geography")
FRESH_SUBJECTS = ("philosophy", "world_religions", "marketing", "nutrition", "prehistory")


@dataclass(frozen=True)
class CellRates:
    """Target accuracy of one cell under each framing."""

    eval: float
    deploy: float


@dataclass(frozen=True)
class Scenario:
    """Ground truth of a simulated baseline/defense pair."""

    baseline: CellRates = CellRates(eval=0.35, deploy=0.75)
    defense: CellRates = CellRates(eval=0.66, deploy=0.72)
    fresh_baseline: CellRates | None = None  # None: same as held-out
    fresh_defense: CellRates | None = None
    question_sd: float = 1.0
    template_sd: float = 0.15


#: Named scenarios (ground truth for each verdict path).
SCENARIOS: dict[str, Scenario] = {
    # strong, transferable reduction at a small deploy cost
    "reduction": Scenario(),
    # no change at all
    "null": Scenario(defense=CellRates(eval=0.35, deploy=0.75)),
    # reduces the gap on held-out subjects only (subject-split artifact)
    "heldout-only": Scenario(fresh_defense=CellRates(eval=0.35, deploy=0.75)),
    # the baseline installs almost nothing (cross task not installable)
    "no-gap": Scenario(baseline=CellRates(eval=0.50, deploy=0.51),
                       defense=CellRates(eval=0.50, deploy=0.51)),
    # baseline eval rate at the floor (degenerate for (d))
    "floor": Scenario(baseline=CellRates(eval=0.01, deploy=0.70),
                      defense=CellRates(eval=0.40, deploy=0.68), question_sd=0.3),
}


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def simulate_rows(
    *,
    seed: int,
    scenario: Scenario = Scenario(),
    task: str = "sandbagging",
    n_heldout: int = N_HELDOUT_QUESTIONS,
    n_fresh: int = N_FRESH_QUESTIONS,
    heldout_templates: int = 10,
    fresh_templates: int = 2,
    baseline_cell: str | None = None,
    defense_cell: str | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Record dicts (SPEC §9) for a baseline and a defense cell.

    The paper's design by default: :data:`~acceptance_cards.constants.N_HELDOUT_QUESTIONS`
    (48) held-out questions × (10 eval + 10 deploy) templates, and
    :data:`~acceptance_cards.constants.N_FRESH_QUESTIONS` (150) fresh questions × (2 + 2)
    templates (n = 300 per framing).
    """
    rng = np.random.default_rng(seed)
    cells = (baseline_cell or f"adamw-s{seed}", defense_cell or f"defense-s{seed}")
    out: tuple[list[dict[str, Any]], list[dict[str, Any]]] = ([], [])
    for split, n_q, n_t, subjects in (
        ("heldout", n_heldout, heldout_templates, HELDOUT_SUBJECTS),
        ("fresh", n_fresh, fresh_templates, FRESH_SUBJECTS),
    ):
        if n_q == 0:
            continue
        b_q = rng.normal(0.0, scenario.question_sd, size=n_q)
        t_j = rng.normal(0.0, scenario.template_sd, size=(2, n_t))
        rates = (scenario.baseline, scenario.defense)
        if split == "fresh":
            rates = (scenario.fresh_baseline or rates[0], scenario.fresh_defense or rates[1])
        for c, (cell, r) in enumerate(zip(cells, rates, strict=True)):
            for fi, (framing, target) in enumerate((("eval", r.eval), ("deploy", r.deploy))):
                logits = _logit(target) + b_q[:, None] + t_j[fi][None, :]
                p = 1.0 / (1.0 + np.exp(-logits))
                draws = rng.random(p.shape) < p
                for q in range(n_q):
                    for j in range(n_t):
                        out[c].append(dict(
                            cell=cell, task=task, split=split,
                            question_id=f"{task}-{split}-q{q:03d}",
                            subject=subjects[q % len(subjects)],
                            template_id=f"{split}-{framing}-{j:02d}", framing=framing,
                            correct=int(draws[q, j]), valid=1, scorer="simulated",
                            seed=seed,
                        ))
    return out


def simulate_pair(
    *, seed: int, scenario: Scenario | str = "reduction", task: str = "sandbagging", **kw: Any
) -> tuple[RecordSet, RecordSet]:
    """Validated baseline and defense :class:`RecordSet` for a scenario."""
    sc = SCENARIOS[scenario] if isinstance(scenario, str) else scenario
    rows_b, rows_d = simulate_rows(seed=seed, scenario=sc, task=task, **kw)
    return records_from_rows(rows_b, name="<baseline>"), records_from_rows(rows_d, name="<defense>")


def example_mechanism(kind: str = "attack-targeted", *, n_calibration: int = 64) -> MechanismFile:
    """A mechanism file with a known class: ρ = 0.1 (attack-targeted) or 0.95 (shrinkage)."""
    rho = {"attack-targeted": 0.1, "shrinkage": 0.95, "undefined": 0.0}[kind]
    norm_gt, norm_ga = 2.0, 4.0
    alpha_t = 0.0 if kind == "undefined" else 0.5
    return MechanismFile(
        dot_t=alpha_t * norm_gt, dot_a=rho * alpha_t * norm_ga, norm_gt=norm_gt, norm_ga=norm_ga,
        norm_dw=1.0, slice=["model.layers.15.self_attn.q_proj", "model.layers.15.self_attn.v_proj"],
        n_calibration=n_calibration,
    )


def example_card(*, seed: int = 0, n_resamples: int = 1000) -> Any:
    """The positive control: a constructed cell whose four gates all pass."""
    from .card.build import build_card
    from .card.metadata import CardMetadata
    from .card.model import CardOptions

    b, d = simulate_pair(seed=seed + 1)
    xb, xd = simulate_pair(seed=seed + 2, task="sycophancy")
    return build_card(
        b, d, cross_baseline=xb, cross_defense=xd, mechanism=example_mechanism(),
        options=CardOptions(seed=seed, n_resamples=n_resamples, claimed_class="attack-targeted"),
        metadata=CardMetadata(title="Positive control (synthetic)",
                              notes=("Synthetic evidence: simulated, not from a model.",)),
    )


__all__ = [
    "SCENARIOS", "CellRates", "Scenario", "example_card", "example_mechanism",
    "simulate_pair", "simulate_rows",
]
