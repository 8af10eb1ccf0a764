"""One audited cell: its card plus the evidence it was built from.

The audit's outputs (matrix, progressive filter, figures, sensitivity tables,
report) read a sequence of :class:`CellResult`. Sensitivity analyses recompute
gates from the evidence under other settings, so the records and the mechanism
file travel with the card.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..build import build_card
from ..card import Card, CardOptions
from ..mechanism import MechanismFile
from ..records import RecordSet


@dataclass(frozen=True)
class CellResult:
    """A defense cell of the audit (model × recipe × seed × task)."""

    name: str
    model: str
    recipe: str
    seed: int
    task: str
    card: Card
    baseline: RecordSet | None = None
    defense: RecordSet | None = None
    cross_baseline: RecordSet | None = None
    cross_defense: RecordSet | None = None
    mechanism: MechanismFile | None = None
    positive_control: bool = False

    def rebuild(self, options: CardOptions) -> Card:
        """The same evidence under other options (for sensitivity analyses)."""
        if self.baseline is None or self.defense is None:
            raise ValueError(f"cell {self.name!r} carries no records to rebuild from")
        return build_card(
            self.baseline, self.defense,
            cross_baseline=self.cross_baseline, cross_defense=self.cross_defense,
            mechanism=self.mechanism, options=options,
        )


def positive_control_cell(*, seed: int = 0, n_resamples: int = 1000) -> CellResult:
    """The synthetic cell constructed to pass all four gates (SPEC §6)."""
    from ..example import example_mechanism, simulate_pair

    b, d = simulate_pair(seed=seed + 1)
    xb, xd = simulate_pair(seed=seed + 2, task="sycophancy")
    mech = example_mechanism()
    opts = CardOptions(seed=seed, n_resamples=n_resamples, claimed_class="attack-targeted")
    card = build_card(b, d, cross_baseline=xb, cross_defense=xd, mechanism=mech, options=opts)
    return CellResult(
        name="positive-control", model="synthetic", recipe="positive-control", seed=seed,
        task="sandbagging", card=card, baseline=b, defense=d, cross_baseline=xb,
        cross_defense=xd, mechanism=mech, positive_control=True,
    )
