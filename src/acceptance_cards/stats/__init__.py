"""Pure statistics: numpy only, explicit RNG, frozen results, no printing."""

from .bootstrap import (
    BootstrapDraws,
    Estimates,
    bootstrap_draws,
    check_resamples,
    min_resamples,
    percentile_ci,
    point_estimates,
    resample_counts,
)
from .power import PowerResult, questions_for_power
from .standard_errors import PairedSE, paired_standard_errors

__all__ = [
    "BootstrapDraws",
    "Estimates",
    "PairedSE",
    "PowerResult",
    "bootstrap_draws",
    "check_resamples",
    "min_resamples",
    "paired_standard_errors",
    "percentile_ci",
    "point_estimates",
    "questions_for_power",
    "resample_counts",
]
