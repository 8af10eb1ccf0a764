"""Steps of ``make demo`` that need more than one shell line.

``lint-example CARD CLAIM`` runs ``acard lint-claim`` on a claim that over-reaches
on purpose and shows its exit 1 as the expected result: it prints the lint's
findings, then ``lint-claim found N forbidden phrases (expected: this claim
over-reaches)``, and exits 0 — but exits 1 itself if the lint did *not* exit 1
(a lint that lets the claim through is a broken demo).

``summary --card CARD [--audit OUTDIR]`` prints the demo's closing three lines:
the verdicts produced and which files to open.

    python scripts/demo.py lint-example out/demo/card.json "A deployable defense."
    python scripts/demo.py summary --card out/demo/card.json --audit out/quick
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections import Counter
from pathlib import Path

from acceptance_cards.card.model import Card, load_card


def lint_example(card: Path, claim: str) -> int:
    """Run the lint on an over-reaching claim; 0 when it flags it (exit 1), else 1."""
    proc = subprocess.run([sys.executable, "-m", "acceptance_cards", "lint-claim", str(card),
                           "--text", claim], capture_output=True, text=True)
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    n = sum(line.startswith("✗") for line in proc.stdout.splitlines())
    if proc.returncode != 1 or n == 0:
        print(f"demo: FAILED: lint-claim exited {proc.returncode} with {n} finding(s) on a claim "
              "that over-reaches; expected exit 1 and at least one finding", file=sys.stderr)
        return 1
    print(f"lint-claim found {n} forbidden phrase{'s' if n != 1 else ''} "
          "(expected: this claim over-reaches; exit 1 is the lint's answer)")
    return 0


def _verdicts(cards: dict[str, Card]) -> str:
    by = Counter(c.verdict for c in cards.values())
    parts = []
    for verdict, k in sorted(by.items(), key=lambda kv: (-kv[1], kv[0])):
        names = ", ".join(sorted(n for n, c in cards.items() if c.verdict == verdict))
        parts.append(f"{verdict}: {k} ({names})")
    return "; ".join(parts)


def summary(card: Path, audit: Path | None) -> list[str]:
    """The three closing lines: the example's verdict, the audit's verdicts, files to open."""
    c = load_card(card)
    html = card.with_suffix(".html")
    lines = [f"demo done: synthetic example → {c.verdict} ({c.summary})"]
    opened = [str(html if html.is_file() else card)]
    if audit is None:
        lines.append("           quick audit not run here (`make demo` runs it)")
    else:
        cards = {p.stem: load_card(p) for p in sorted((audit / "cards").glob("*.json"))}
        if not cards:
            raise SystemExit(f"demo: no cards in {audit / 'cards'}: did the audit finish?")
        n = f"{len(cards)} card{'s' if len(cards) != 1 else ''}"
        lines.append(f"           quick audit ({n}) → {_verdicts(cards)}")
        report = audit / "report.html"
        opened.append(str(report) if report.is_file() else str(audit / "cards"))
    lines.append(f"open:      {' and '.join(opened)}")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    le = sub.add_parser("lint-example", help="show lint-claim's expected exit 1")
    le.add_argument("card", type=Path)
    le.add_argument("claim")
    su = sub.add_parser("summary", help="the demo's closing three lines")
    su.add_argument("--card", type=Path, required=True)
    su.add_argument("--audit", type=Path)
    args = ap.parse_args(argv)
    if args.cmd == "lint-example":
        return lint_example(args.card, args.claim)
    print("\n".join(summary(args.card, args.audit)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
