"""Benchmark: the claim lint's time against the claim's length (issue 12: linear time).

Lints claims of 32 KB and 256 KB (8× longer) made of a paragraph dense in
forbidden phrases, negations, sentence boundaries and dodges (look-alike
letters, soft hyphens, dashes) against a card that forbids most of them, and
prints the times and their ratio: ≈ 8 for linear work, ≈ 64 for quadratic.

    python benchmarks/claims.py [--quick]

Target: ratio ≤ 12 (today's 32 KB claim took 11.6 s before the fix).
"""

from __future__ import annotations

import argparse
import time

from acceptance_cards.card.build import build_card
from acceptance_cards.card.claims import lint_claim
from acceptance_cards.card.model import CardOptions
from acceptance_cards.synthetic import simulate_pair

PARAGRAPH = ("Our method is a robust defense, not a defense in name only. It is not. "
             "A d\u0435fense that generalizes; utility\u2013preserving and an accepted "
             "de\u00adfense. ")


def best_of(text: str, repeats: int) -> float:
    b, d = simulate_pair(seed=3, scenario="null")
    card = build_card(b, d, options=CardOptions(seed=0, n_resamples=200))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        lint_claim(card, text)
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="4 KB vs 32 KB, one repeat")
    args = ap.parse_args()
    small_kb, repeats = (4, 1) if args.quick else (32, 3)
    rows = []
    for kb in (small_kb, 8 * small_kb):
        text = (PARAGRAPH * (kb * 1024 // len(PARAGRAPH) + 1))[: kb * 1024]
        rows.append((kb, best_of(text, repeats)))
    for kb, t in rows:
        print(f"{kb:4d} KB claim: {t:8.3f} s")
    print(f"ratio {rows[1][0] // rows[0][0]}x longer: {rows[1][1] / rows[0][1]:.1f}x time "
          "(linear ≈ 8, quadratic ≈ 64)")


if __name__ == "__main__":
    main()
