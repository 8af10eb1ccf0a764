"""The paired cluster bootstrap of ΔG and Δdeploy (SPEC §2a).

Each resample draws ``n_clusters`` cluster indices with replacement — the same
draw for baseline and defense (paired) — and recomputes every framing rate as a
pooled ratio Σ correct / Σ evaluations over the drawn clusters. All resamples
are computed at once: the draw becomes a (resamples × clusters) count matrix,
and one matrix product with the per-cluster sums gives every resample's rates.
No Python loop runs over resamples (only over memory-bounded chunks of them).

Example:
    >>> import numpy as np
    >>> from acceptance_cards.clusters import PairedTable
    >>> sums = np.array([[[0, 1], [0, 0]], [[1, 1], [1, 1]]], dtype=float)
    >>> t = PairedTable(ids=("q1", "q2"), sums=sums, counts=np.ones_like(sums),
    ...                 unit="question", split="heldout")
    >>> d = bootstrap_draws(t, n_resamples=200, rng=np.random.default_rng(0))
    >>> point_estimates(t).delta_gap
    -0.5
    >>> lo, hi = percentile_ci(d.delta_gap, level=0.95)
    >>> bool(lo <= -0.5 <= hi)
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .._util.errors import InputError
from ..clusters import BASELINE, DEFENSE, DEPLOY, EVAL, PairedTable
from ..constants import MAX_RESAMPLES, MIN_TAIL_DRAWS

#: Upper bound on resamples × clusters held in memory at once (count matrix
#: entries); keeps 1e4 clusters × 5,000 resamples within a few hundred MB.
_CHUNK_ENTRIES = 4_000_000

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Estimates:
    """Gap quantities of a pooled (cell × framing) rate table."""

    rates: FloatArray  # [cell, framing]
    gap_baseline: float
    gap_defense: float
    delta_gap: float
    deploy_cost: float


@dataclass(frozen=True)
class BootstrapDraws:
    """Resampled statistics, one entry per resample (NaN where undefined)."""

    delta_gap: FloatArray
    deploy_cost: FloatArray
    gap_baseline: FloatArray
    gap_defense: FloatArray
    n_resamples: int
    n_degenerate: int


def _gaps(rates: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """(gap_b, gap_d, ΔG, Δdeploy) from rates shaped [..., cell, framing]."""
    gap_b = rates[..., BASELINE, DEPLOY] - rates[..., BASELINE, EVAL]
    gap_d = rates[..., DEFENSE, DEPLOY] - rates[..., DEFENSE, EVAL]
    cost = rates[..., DEFENSE, DEPLOY] - rates[..., BASELINE, DEPLOY]
    return gap_b, gap_d, gap_d - gap_b, cost


def point_estimates(table: PairedTable) -> Estimates:
    """ΔG = G_defense − G_baseline and Δdeploy on the full data."""
    rates = table.rates()
    gb, gd, dg, cost = _gaps(rates)
    return Estimates(rates, float(gb), float(gd), float(dg), float(cost))


def min_resamples(level: float) -> int:
    """Fewest resamples for a percentile CI at ``level``: each tail holds ``MIN_TAIL_DRAWS``.

    B·(1 − level)/2 draws fall beyond each endpoint, so B ≥ 2·MIN_TAIL_DRAWS/(1 − level).

    Example:
        >>> min_resamples(0.90), min_resamples(0.95), min_resamples(0.99)
        (100, 200, 1000)
    """
    if not 0.0 < level < 1.0:
        raise ValueError("level must be in (0, 1)")
    # round first: 0.95 is not exact in binary and 10/0.05 would ceil to 201
    return math.ceil(round(2 * MIN_TAIL_DRAWS / (1.0 - level), 6))


def resample_problem(n_resamples: int, level: float) -> str | None:
    """Why ``n_resamples`` is unusable at CI ``level`` (None when it is fine).

    Example:
        >>> resample_problem(2, 0.95)
        '2 resamples are too few for a 95% percentile CI: at least 200 are needed (5 draws in each tail)'
        >>> resample_problem(5000, 0.95) is None
        True
    """
    if n_resamples > MAX_RESAMPLES:
        return (f"{n_resamples} resamples exceed the maximum of {MAX_RESAMPLES:,} "
                "(the draws are held in memory; more adds no precision)")
    need = min_resamples(level)
    if n_resamples < need:
        return (f"{n_resamples} resamples are too few for a {round(level * 100, 4):g}% "
                f"percentile CI: at least {need} are needed ({MIN_TAIL_DRAWS} draws in each tail)")
    return None


def check_resamples(n_resamples: int, level: float, *, field: str = "n_resamples") -> None:
    """Raise :class:`InputError` (naming ``field``) if ``n_resamples`` is unusable at ``level``."""
    why = resample_problem(n_resamples, level)
    if why is not None:
        raise InputError(why, field=field)


def resample_counts(
    n_clusters: int, n_resamples: int, rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    """How often each cluster is drawn in each resample: shape (resamples, clusters).

    Row r is the multiplicity vector of ``n_clusters`` draws with replacement.
    """
    idx = rng.integers(0, n_clusters, size=(n_resamples, n_clusters), dtype=np.int64)
    idx += (np.arange(n_resamples, dtype=np.int64) * n_clusters)[:, None]
    counts = np.bincount(idx.ravel(), minlength=n_resamples * n_clusters)
    return counts.reshape(n_resamples, n_clusters).astype(np.float64)


def bootstrap_draws(
    table: PairedTable, *, n_resamples: int, rng: np.random.Generator
) -> BootstrapDraws:
    """Paired cluster-bootstrap draws of ΔG, Δdeploy and both gaps.

    The same cluster multiplicities weight baseline and defense, so the two
    cells are resampled together. Resamples in which a (cell, framing) has no
    evaluations (possible only for item clusters) are NaN and counted.
    """
    if not 1 <= n_resamples <= MAX_RESAMPLES:
        raise ValueError(f"n_resamples must be in [1, {MAX_RESAMPLES}]")
    q = table.n_clusters
    stacked = np.concatenate(
        [table.sums.reshape(q, 4), table.counts.reshape(q, 4)], axis=1
    )  # (Q, 8): four sums then four counts, in [cell, framing] order
    # memory: one (chunk × Q) count matrix at a time, plus 8 floats per resample
    chunk = max(1, _CHUNK_ENTRIES // max(q, 1))
    tot = np.empty((n_resamples, 8), dtype=np.float64)
    for start in range(0, n_resamples, chunk):
        stop = min(start + chunk, n_resamples)
        tot[start:stop] = resample_counts(q, stop - start, rng) @ stacked
    sums, counts = tot[:, :4], tot[:, 4:]
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = np.where(counts > 0, sums / counts, np.nan).reshape(-1, 2, 2)
    gb, gd, dg, cost = _gaps(rates)
    return BootstrapDraws(
        delta_gap=dg,
        deploy_cost=cost,
        gap_baseline=gb,
        gap_defense=gd,
        n_resamples=n_resamples,
        n_degenerate=int(np.isnan(dg).sum()),
    )


def percentile_ci(draws: FloatArray, *, level: float) -> tuple[float, float]:
    """Percentile CI: the (1−level)/2 and (1+level)/2 quantiles (linear interpolation)."""
    if not 0.0 < level < 1.0:
        raise ValueError("level must be in (0, 1)")
    lo, hi = np.nanquantile(draws, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return float(lo), float(hi)
