"""``python -m acceptance_cards`` runs the ``acard`` CLI."""

from .cli import main

main()
