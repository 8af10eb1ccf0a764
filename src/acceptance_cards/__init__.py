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

__version__ = "0.1.0"

from .build import build_card, build_card_from_files
from .card import Card, CardOptions, card_json_schema, card_to_json, load_card
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
from .errors import InputError, MissingExtraError
from .example import example_card, simulate_pair
from .mechanism import MechanismFile, load_mechanism, save_mechanism
from .metadata import CardMetadata
from .records import RecordSet, load_records, records_from_rows
from .stats import (
    bootstrap_draws,
    paired_standard_errors,
    percentile_ci,
    point_estimates,
    questions_for_power,
)
from .verdict import Conclusion, conclude

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
