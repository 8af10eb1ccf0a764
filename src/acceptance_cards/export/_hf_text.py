"""Author text inside the HF section: one code span or one table cell, never more.

Part of :mod:`acceptance_cards.export.huggingface`. Titles, remarks, cell names,
paths, stand-in texts and SafeLoRA's reference origin come from the card's
author or records. Placed in Markdown as they are, a backtick would close a
code span early (the rest of the value would read as the section's own prose
and wording), a ``|`` would split a table row, and a copy of the section's
end marker would make the next export into the same README cut it in the
wrong place. So every such value passes through :func:`code` or :func:`cell`:
a backtick becomes a modifier grave accent (ˋ, U+02CB), ``|`` is escaped, and
the ``<!--`` / ``-->`` of an HTML comment get non-breaking hyphens (U+2011),
which read the same and match no marker.

Example:
    >>> code("a` solves safe fine-tuning")
    '`aˋ solves safe fine-tuning`'
    >>> cell("x | y <!-- acceptance-card:end -->")
    'x \\\\| y &lt;!‑‑ acceptance-card:end ‑‑>'
"""

from __future__ import annotations

import re
from typing import Final

#: A backtick in author text becomes this (it cannot end a code span).
GRAVE: Final = "\u02cb"
#: The hyphens of an HTML comment's delimiters in author text become this.
NB_HYPHEN: Final = "\u2011"


def _neutral(text: str) -> str:
    """One line, no backtick, no HTML comment delimiter."""
    flat = " ".join(text.split()).replace("`", GRAVE)
    return flat.replace("<!--", "<!" + NB_HYPHEN * 2).replace("-->", NB_HYPHEN * 2 + ">")


def code(text: object) -> str:
    """``text`` as one inline code span that no character of it can end or break."""
    flat = _neutral(str(text))
    return f"`{flat}`" if flat else "`(empty)`"  # "``" would be no code span at all


def cell(text: str) -> str:
    """Author text as one Markdown table cell (no row or column breaks, no marker, no HTML)."""
    # a backslash first: "\\|" would otherwise escape the escape and split the row
    return _neutral(text).replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")


def quoted_names(text: str) -> str:
    """A card note with each quoted name (``cell 'x'``) as a code span, and no marker.

    Notes are the card's own sentences around names taken from the records; a
    name ("safelora-defense-s42") is data, not the section's wording, so it is
    quoted where the section's self-lint skips it.

    Example:
        >>> quoted_names("every framing rate of cell 'safelora-defense-s42' is 0")
        'every framing rate of cell `safelora-defense-s42` is 0'
    """
    return re.sub(r"'([^'\n]+)'", lambda m: code(m.group(1)), _neutral(text))


__all__ = ["GRAVE", "NB_HYPHEN", "cell", "code", "quoted_names"]
