"""Named, documented thresholds and defaults of the standard (SPEC §2–§3).

Where the paper's extracted text lost a number, SPEC.md marks it
*reconstructed*; those values live here as configurable defaults so a card
always records the value it was computed with.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

#: Number of bootstrap resamples for diagnostic (a) (paper: B = 5,000).
N_RESAMPLES: Final = 5_000

#: Confidence level of the percentile CI for (a).
CI_LEVEL: Final = 0.95

#: Fewest held-out question clusters for which gate (a) is defined; below it
#: (a) is ``n/a`` (SPEC §10). A percentile CI of a mean over n clusters is too
#: narrow by two factors: the bootstrap variance is (n−1)/n of the unbiased
#: one, and it uses normal quantiles where Student's t_(n−1) applies. A nominal
#: 95 % interval therefore covers P(|t_(n−1)| < 1.96·√((n−1)/n)): about 60 %
#: at 2 clusters, 84 % at 5, 89.8 % at 9 and 90.4 % at 10. Ten is the smallest
#: n at which the shortfall stays within 5 points (coverage ≥ 90 %); the paper
#: uses 48. (A test recomputes these coverages from the t distribution.)
MIN_QUESTION_CLUSTERS: Final = 10

#: Fewest bootstrap draws that must lie in each tail beyond a percentile CI
#: endpoint. With fewer, the endpoint is (close to) the sample extreme of the
#: draws, and one resample more or less moves it; at 1 or 2 resamples the "CI"
#: is just the draws themselves. The minimum resample count for CI level L is
#: B_min(L) = ⌈MIN_TAIL_DRAWS · 2 / (1 − L)⌉: 100 at 90 %, 200 at 95 %,
#: 1,000 at 99 % (see ``stats.bootstrap.min_resamples``).
MIN_TAIL_DRAWS: Final = 5

#: Most bootstrap resamples accepted (200 × the paper's B = 5,000). The draws
#: are kept in memory for the quantiles (about 64 bytes per resample, beside one
#: count-matrix chunk of about 100 MB: 160 MB peak at this cap, measured with
#: 48 clusters); beyond it the Monte Carlo error of the endpoints is long
#: negligible against the sampling error, so a larger request is refused as an
#: input error before anything is allocated.
MAX_RESAMPLES: Final = 1_000_000

#: CI levels swept in the sensitivity analysis.
SENSITIVITY_CI_LEVELS: Final = (0.90, 0.95, 0.99)

#: Number of standard errors in the signed checks of (b) and (d) ("2-SE").
SE_MULTIPLIER: Final = 2.0

#: One-SE paired-only screen for (b), reported in the sensitivity analysis only.
SCREEN_SE_MULTIPLIER: Final = 1.0

#: |ρ_AT| < τ ⇒ attack-targeted, else shrinkage. Reconstructed: the shrinkage
#: cluster sits near the AdamW baseline's ρ, the oracle attack-targeted limit is
#: ρ → 0, and τ sits at about the midpoint.
TAU: Final = 0.6

#: τ values swept in the sensitivity analysis.
SENSITIVITY_TAUS: Final = (0.4, 0.6, 0.8)

#: Degenerate framing rate (d): a baseline rate below the floor or above the
#: ceiling leaves no room to measure a reduction. Reconstructed default.
DEGENERATE_FLOOR: Final = 0.05
DEGENERATE_CEILING: Final = 0.95

#: Default seed when the user gives none (a card always records its seed).
DEFAULT_SEED: Final = 0

#: Target power: of ``acard power``, and of the minimum detectable ΔG every card reports
#: beside (a) and (b) (a failed gate whose |ΔG| is below it is "underpowered").
POWER: Final = 0.80

#: Decision margins below these are near-ties, per scorer: within the numeric
#: noise between bf16 kernels (CPU vendors, thread counts) and fp32, so such a
#: decision may flip from one machine to another. A record's `margin` is the
#: fp32 lead of the chosen answer's score over the runner-up's (letter scorer:
#: next-token logits, "no letter" counted as an outcome; option scorer: mean
#: log-prob per token, a smaller scale). A scorer not listed gets the largest.
#: Measured by ``benchmarks/margin_noise.py`` (SmolLM2-135M-Instruct, 48
#: held-out MMLU questions x 3 + 3 framing templates = 288 prompts per scorer,
#: bf16 vs fp32 on an Intel Xeon with AMX-BF16): letter, 9 of 288 decisions
#: differ, largest flip margin 0.25 (one bf16 step of a logit in [32, 64): bf16
#: logits tie exactly, margin 0, in 7 of the 9), largest shift of a margin 0.32;
#: option, 8 of 288 differ, largest flip margin 0.041, largest shift 0.139.
#: Bound = max(2 x largest flip margin, largest shift), rounded up: 0.5 and 0.15.
NEAR_TIE_MARGIN: Final[Mapping[str, float]] = MappingProxyType({"letter": 0.5, "option": 0.15})

#: The paper's evaluation design (SPEC §2): held-out questions for gate (a) and
#: fresh-subject questions for gates (b) and (d).
N_HELDOUT_QUESTIONS: Final = 48
N_FRESH_QUESTIONS: Final = 150

#: Share of MMLU subjects held out as *fresh* (never in the train pool) by the
#: seeded split. One value for `acard data split` and for audit configs (they
#: once differed: 0.25 vs 0.3); 0.3 is what every reference audit used.
FRESH_SUBJECT_FRACTION: Final = 0.3
