"""acceptance-cards: the four-diagnostic Acceptance Card standard for safe fine-tuning
defense claims (records → gates → verdict → card).

The core is torch-free. The evidence path (evaluation, training, gradients)
lives in :mod:`acceptance_cards.evidence` and needs the ``[models]`` extra.

Example:
    >>> import acceptance_cards as ac
    >>> card = ac.example_card()
    >>> card.verdict
    'full-card pass'
"""

from ._util.errors import InputError, MissingExtraError
from ._version import __version__
from .card.build import build_card, build_card_from_files
from .card.metadata import CardMetadata
from .card.model import Card, CardOptions, card_json_schema, card_to_json, load_card
from .card.verdict import Conclusion, conclude
from .clusters import PairedTable, paired_table
from .diagnostics import (
    BootstrapGate,
    FreshGate,
    SignatureGate,
    TransferGate,
    run_clustered_bootstrap,
    run_cross_task_transfer,
    run_fresh_reevaluation,
    run_parameter_signature,
)
from .mechanism import MechanismFile, load_mechanism, save_mechanism
from .records import RecordSet, load_records, records_from_rows
from .stats import (
    bootstrap_draws,
    paired_standard_errors,
    percentile_ci,
    point_estimates,
    questions_for_power,
)
from .synthetic import example_card, simulate_pair

__all__ = [
    "BootstrapGate",
    "Card",
    "CardMetadata",
    "CardOptions",
    "Conclusion",
    "FreshGate",
    "InputError",
    "MechanismFile",
    "MissingExtraError",
    "PairedTable",
    "RecordSet",
    "SignatureGate",
    "TransferGate",
    "__version__",
    "bootstrap_draws",
    "build_card",
    "build_card_from_files",
    "card_json_schema",
    "card_to_json",
    "conclude",
    "example_card",
    "load_card",
    "load_mechanism",
    "load_records",
    "paired_standard_errors",
    "paired_table",
    "percentile_ci",
    "point_estimates",
    "questions_for_power",
    "records_from_rows",
    "run_clustered_bootstrap",
    "run_cross_task_transfer",
    "run_fresh_reevaluation",
    "run_parameter_signature",
    "save_mechanism",
    "simulate_pair",
]
