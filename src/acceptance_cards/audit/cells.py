"""One audited cell: its card plus the evidence it was built from.

The audit's outputs (matrix, progressive filter, figures, sensitivity tables,
report) read a sequence of :class:`CellResult`. Sensitivity analyses recompute
gates from the evidence under other settings, so the records and the mechanism
file travel with the card.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ..card.build import ROLES, build_card, build_card_from_files
from ..card.metadata import CardMetadata
from ..card.model import Card, CardOptions
from ..constants import DEFAULT_SEED
from ..mechanism import MechanismFile
from ..records import RecordSet, load_records


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


#: Folder (beside the cards) that holds the positive control's synthetic inputs.
POSITIVE_CONTROL_INPUTS = "positive-control-inputs"

#: Bootstrap resamples of the positive control's gate (a): fewer than a real cell's
#: (:data:`~acceptance_cards.constants.N_RESAMPLES`) because its constructed reduction is
#: far from the threshold, and it is rebuilt with every audit report.
POSITIVE_CONTROL_RESAMPLES: Final = 1_000


#: What the positive control's card says it is: no model, no recipe, constructed records.
POSITIVE_CONTROL_METADATA: Final = CardMetadata(
    title="Positive control: synthetic records constructed to pass every gate",
    model={"family": "synthetic (no model)"}, recipe={"name": "positive-control"},
    notes=("Synthetic: its records are simulated and its mechanism file is constructed so that "
           "all four gates pass. It shows that this pipeline can produce a full-card pass; it "
           "measures no model and no recipe.",),
)


def positive_control_cell(*, seed: int = DEFAULT_SEED, n_resamples: int = POSITIVE_CONTROL_RESAMPLES,
                          card_dir: Path | None = None) -> CellResult:
    """The synthetic cell constructed to pass all four gates (SPEC §6).

    With ``card_dir`` (the folder its card will be written to), its synthetic
    records and mechanism file are written to ``card_dir/positive-control-inputs/``
    and the card records them (paths relative to ``card_dir``, sha256), so
    ``acard verify`` recomputes it like any other card.
    """
    from ..synthetic import example_mechanism, simulate_pair

    opts = CardOptions(seed=seed, n_resamples=n_resamples, claimed_class="attack-targeted")
    mech = example_mechanism()
    if card_dir is None:
        b, d = simulate_pair(seed=seed + 1)
        xb, xd = simulate_pair(seed=seed + 2, task="sycophancy")
        card = build_card(b, d, cross_baseline=xb, cross_defense=xd, mechanism=mech, options=opts,
                          metadata=POSITIVE_CONTROL_METADATA)
    else:
        files = _write_positive_control_inputs(Path(card_dir) / POSITIVE_CONTROL_INPUTS,
                                               seed=seed, mechanism=mech)
        card = build_card_from_files(
            files["baseline"], files["defense"], cross_baseline=files["cross_baseline"],
            cross_defense=files["cross_defense"], mechanism=files["mechanism"], options=opts,
            metadata=POSITIVE_CONTROL_METADATA, relative_to=card_dir)
        b, d, xb, xd = (load_records(files[r]) for r in ROLES[:4])
    return CellResult(
        name="positive-control", model="synthetic", recipe="positive-control", seed=seed,
        task="sandbagging", card=card, baseline=b, defense=d, cross_baseline=xb,
        cross_defense=xd, mechanism=mech, positive_control=True,
    )


def _write_positive_control_inputs(folder: Path, *, seed: int,
                                   mechanism: MechanismFile) -> dict[str, Path]:
    """The positive control's records (JSONL) and mechanism file, written atomically."""
    from .._util.writes import atomic_write_text
    from ..mechanism import save_mechanism
    from ..synthetic import simulate_rows

    rb, rd = simulate_rows(seed=seed + 1)
    xb, xd = simulate_rows(seed=seed + 2, task="sycophancy")
    files = {role: folder / f"{role}.jsonl" for role in ROLES[:4]}
    for role, rows in zip(ROLES[:4], (rb, rd, xb, xd), strict=True):
        atomic_write_text(files[role], "".join(json.dumps(r) + "\n" for r in rows))
    files["mechanism"] = folder / "mechanism.json"
    save_mechanism(mechanism, files["mechanism"])
    return files
