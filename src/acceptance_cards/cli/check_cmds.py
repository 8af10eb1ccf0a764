"""A gate for pipelines: ``acard check CARD --require LEVEL`` and ``acard card … --require``.

Exit codes, as a CI job reads them: 0 the card's verdict is at or above the
required level; 1 it is below (the reason — the verdict, the gates unmet and
why — goes to stderr); 2 bad input (an unreadable card, an unknown level).
The order of levels is :data:`acceptance_cards.card.verdict.VERDICT_ORDER`.

Example (a shell step of a CI job):
    acard card -b adamw.jsonl -d ours.jsonl -o card.json --require near-miss
    acard check card.json --require full-card
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ..card.model import Card, load_card
from ..card.verdict import LEVEL_NAMES, meets
from ..vocab import REQUIRE_LEVELS, RequireLevel

#: Help text of ``--require`` (shared by ``card`` and ``check``).
REQUIRE_HELP = ("Exit 1 unless the card's verdict is at least this level "
                f"({' > '.join(REQUIRE_LEVELS)}).")


def requirement_lines(card: Card, level: RequireLevel) -> tuple[bool, list[str]]:
    """Whether ``card`` meets ``level``, and the lines that say why.

    Example:
        >>> from acceptance_cards.synthetic import example_card
        >>> requirement_lines(example_card(n_resamples=200), "full-card")[0]
        True
    """
    required = LEVEL_NAMES[level]
    if meets(card.verdict, required):
        return True, [f"requirement met: verdict '{card.verdict}' ({card.summary}) is at least "
                      f"'{required}'"]
    lines = [f"requirement not met: verdict '{card.verdict}' ({card.summary}) is below the "
             f"required '{required}'"]
    for g in card.unmet:
        gate = getattr(card.diagnostics, g)
        lines.append(f"  unmet ({g}) {gate.verdict}: {gate.reason}")
    return False, lines


def enforce(card: Card, level: RequireLevel | None) -> None:
    """Print the requirement's outcome; exit 1 when ``card`` is below ``level`` (None: no check)."""
    if level is None:
        return
    ok, lines = requirement_lines(card, level)
    typer.echo("\n".join(lines), file=sys.stdout if ok else sys.stderr)
    if not ok:
        raise typer.Exit(1)


def check(
    card_path: Annotated[Path, typer.Argument(metavar="CARD", help="Card JSON.")],
    require: Annotated[RequireLevel, typer.Option(help=REQUIRE_HELP)] = "full-card",
) -> None:
    """Gate a pipeline on a card: exit 1 when its verdict is below --require (default full-card).

    Exit 0: at or above the level; 1: below it (why on stderr: the verdict and
    each unmet gate with its reason); 2: bad input.
    """
    enforce(load_card(card_path), require)


def register(app: typer.Typer) -> None:
    app.command("check")(check)
