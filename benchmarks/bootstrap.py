"""Benchmark: our paired cluster bootstrap vs scipy.stats.bootstrap vs a Python loop.

All three do the same work on the same data: resample question (cluster) ids
with replacement, the same ids for baseline and defense, and compute ΔG from
pooled rates, B = 5,000 times. Prints wall times and ratios (ours vs peer).

    python benchmarks/bootstrap.py [--quick]

Targets (issue 2): ≤ 20 ms at n = 960 (48 × 20); ≤ 2 s at 1e6 evaluations
(1e4 clusters); ≥ 20× scipy.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
from scipy import stats

from acceptance_cards.clusters import PairedTable
from acceptance_cards.stats.bootstrap import bootstrap_draws, percentile_ci


def make_table(n_clusters: int, per_cluster: int, seed: int = 0) -> PairedTable:
    """Simulated per-question sums with `per_cluster` evaluations per question and cell."""
    rng = np.random.default_rng(seed)
    half = per_cluster // 2
    p = rng.uniform(0.1, 0.9, size=(n_clusters, 2, 2))
    counts = np.full((n_clusters, 2, 2), float(half))
    sums = rng.binomial(half, p).astype(float)
    return PairedTable(tuple(f"q{i}" for i in range(n_clusters)), sums, counts, "question", "heldout")


def ours(t: PairedTable, b: int) -> tuple[float, float]:
    d = bootstrap_draws(t, n_resamples=b, rng=np.random.default_rng(0))
    return percentile_ci(d.delta_gap, level=0.95)


def _dg_from_idx(sums: np.ndarray, counts: np.ndarray, idx: np.ndarray) -> float:
    s = sums[idx].sum(axis=0)
    c = counts[idx].sum(axis=0)
    r = s / c
    return float((r[1, 1] - r[1, 0]) - (r[0, 1] - r[0, 0]))


def python_loop(t: PairedTable, b: int) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    q = t.n_clusters
    out = [_dg_from_idx(t.sums, t.counts, rng.integers(0, q, size=q)) for _ in range(b)]
    lo, hi = np.quantile(out, [0.025, 0.975])
    return float(lo), float(hi)


def scipy_boot(t: PairedTable, b: int, *, vectorized: bool = True) -> tuple[float, float]:
    """scipy.stats.bootstrap resampling cluster ids (the statistic maps ids to ΔG).

    ``vectorized=True`` is the strongest scipy usage (one fancy-indexed call per
    batch); ``False`` is scipy calling the statistic once per resample.
    """
    sums, counts = t.sums, t.counts

    def stat(ids: np.ndarray, axis: int = -1) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        s = sums[ids].sum(axis=-3)  # (..., 2, 2)
        c = counts[ids].sum(axis=-3)
        r = s / c
        return (r[..., 1, 1] - r[..., 1, 0]) - (r[..., 0, 1] - r[..., 0, 0])

    res = stats.bootstrap((np.arange(t.n_clusters),), stat, n_resamples=b, vectorized=vectorized,
                          method="percentile", batch=max(1, 4_000_000 // (t.n_clusters * 4)),
                          random_state=np.random.default_rng(0))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def timeit(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer repeats, skip the slow loop at 1e6")
    args = ap.parse_args()
    b = 5_000
    print(f"{'setting':22s} {'ours':>9s} {'scipy-vec':>10s} {'scipy':>10s} {'loop':>10s} "
          f"{'scipy-vec/ours':>15s} {'scipy/ours':>11s} {'loop/ours':>10s}")
    for label, q, per in (("n=960 (48q×20)", 48, 20), ("n=1e6 (1e4q×100)", 10_000, 100)):
        t = make_table(q, per)
        rep = 5 if q < 1000 else 2
        t_ours = timeit(lambda t=t: ours(t, b), rep)
        t_scipy = timeit(lambda t=t: scipy_boot(t, b), 1 if q >= 1000 else rep)
        if q >= 1000 and args.quick:
            t_loop = t_plain = float("nan")
        else:
            t_loop = timeit(lambda t=t: python_loop(t, b), 1)
            t_plain = timeit(lambda t=t: scipy_boot(t, b, vectorized=False), 1)
        print(f"{label:22s} {t_ours * 1e3:7.1f}ms {t_scipy * 1e3:8.1f}ms {t_plain * 1e3:8.1f}ms "
              f"{t_loop * 1e3:8.1f}ms {t_scipy / t_ours:14.1f}× {t_plain / t_ours:10.1f}× "
              f"{t_loop / t_ours:9.1f}×")
        ci_o, ci_s = ours(t, b), scipy_boot(t, b)
        print(f"{'':22s} CI ours {ci_o[0]:+.4f}..{ci_o[1]:+.4f}   scipy {ci_s[0]:+.4f}..{ci_s[1]:+.4f}")


if __name__ == "__main__":
    main()
