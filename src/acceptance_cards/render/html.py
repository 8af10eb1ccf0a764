"""Render a card as one self-contained HTML page.

The page fetches nothing: the CSS is inline, there are no scripts, images,
external fonts or links to other origins, so it opens the same offline, in a
mail attachment or in a review system. Every value is HTML-escaped by Jinja2's
autoescaping. Verdicts carry a symbol and a label as well as a colour, so the
six gate states stay distinct in print and for colour-blind readers.

Example:
    >>> from acceptance_cards.synthetic import example_card
    >>> page = render_html(example_card())
    >>> page.startswith("<!DOCTYPE html>"), "http" in page
    (True, False)
"""

from __future__ import annotations

from functools import cache

import jinja2

from ..card.model import Card
from ._env import environment
from ._view import card_view


@cache
def _template() -> jinja2.Template:
    return environment(autoescape=True).get_template("card.html.j2")


def render_html(card: Card) -> str:
    """The card as a standalone HTML5 document (deterministic; no timestamps)."""
    return _template().render(v=card_view(card))


__all__ = ["render_html"]
