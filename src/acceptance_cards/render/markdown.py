"""Render a card as Markdown (CommonMark / GitHub tables).

All values are escaped by :func:`md_escape`: Markdown punctuation is
backslash-escaped (so a title like ``<script>`` or ``*bold*`` shows literally)
and newlines become spaces (a value never breaks a table row).

Example:
    >>> from acceptance_cards.synthetic import example_card
    >>> render_markdown(example_card()).splitlines()[0]
    '# Acceptance Card: Positive control (synthetic)'
"""

from __future__ import annotations

import re
from functools import cache

import jinja2

from ..card.model import Card
from ._env import environment
from ._view import card_view

#: What CommonMark (and GFM tables) could read as markup, escaped with a backslash:
#: `\\`, code ticks, emphasis `*`, cell bars `|`, strike `~`; `<` only where it could
#: open a tag or autolink; `]` only where it could close a link or image; `&` only
#: where it could start an entity; `_` only where it could open or close emphasis
#: (intraword `_`, as in `se_paired`, stays readable).
_MARKUP = re.compile(
    r"[\\`*|~]|<(?=[A-Za-z/!?])|\](?=[(\[:])|&(?=[#A-Za-z])|(?<![^\W_])_|_(?![^\W_])"
)
_NEWLINES = re.compile(r"\s*[\r\n]+\s*")


def md_escape(value: object) -> str:
    """Escape one value for a Markdown line or table cell.

    Example:
        >>> print(md_escape("a|b <script> *x* se_paired _y_ [t](u) < 0"))
        a\\|b \\<script> \\*x\\* se_paired \\_y\\_ [t\\](u) < 0
    """
    text = _NEWLINES.sub(" ", str(value))
    return _MARKUP.sub(lambda m: "\\" + m.group(0), text)


@cache
def _template() -> jinja2.Template:
    return environment(finalize=md_escape).get_template("card.md.j2")


def render_markdown(card: Card) -> str:
    """The card as a Markdown document (deterministic; no timestamps)."""
    return _template().render(v=card_view(card))


__all__ = ["md_escape", "render_markdown"]
