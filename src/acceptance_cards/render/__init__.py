"""Render a card as Markdown, self-contained HTML, or a LaTeX table.

Example:
    >>> from acceptance_cards.synthetic import example_card
    >>> render(example_card(), "md").startswith("# Acceptance Card")
    True
"""

from __future__ import annotations

from .._util.errors import InputError
from ..card.model import Card
from ..vocab import RENDER_FORMATS, RenderFormat
from .html import render_html
from .latex import render_latex
from .markdown import render_markdown

#: Public names kept from before the vocabulary had one owner (:mod:`acceptance_cards.vocab`).
Format = RenderFormat
#: The formats :func:`render` accepts, in the order the CLI lists them.
FORMATS: tuple[Format, ...] = RENDER_FORMATS


def render(card: Card, fmt: Format) -> str:
    """Render ``card`` in format ``fmt`` (``md``, ``html`` or ``tex``)."""
    if fmt == "md":
        return render_markdown(card)
    if fmt == "html":
        return render_html(card)
    if fmt == "tex":
        return render_latex(card)
    raise InputError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}", field="format")


__all__ = ["FORMATS", "Format", "render", "render_html", "render_latex", "render_markdown"]
