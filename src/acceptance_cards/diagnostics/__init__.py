"""The four diagnostics, one module each, named after what they test."""

from ._common import GATE_NAMES, GATE_VERDICTS, GATES, GateResult, GateVerdict
from .clustered_bootstrap import BootstrapGate, run_clustered_bootstrap
from .cross_task_transfer import TransferGate, run_cross_task_transfer
from .fresh_reevaluation import FreshGate, fresh_verdict, run_fresh_reevaluation
from .parameter_signature import (
    ClaimedClass,
    MechanismClass,
    SignatureGate,
    run_parameter_signature,
    signed_class,
)

__all__ = [
    "GATES", "GATE_NAMES", "GATE_VERDICTS", "BootstrapGate", "ClaimedClass", "FreshGate",
    "GateResult", "GateVerdict", "MechanismClass", "SignatureGate", "TransferGate",
    "fresh_verdict", "run_clustered_bootstrap", "run_cross_task_transfer",
    "run_fresh_reevaluation", "run_parameter_signature", "signed_class",
]
