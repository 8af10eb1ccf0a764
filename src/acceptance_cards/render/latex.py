"""Render a card as a LaTeX ``tabular`` (booktabs) in a ``table`` float.

The fragment needs ``\\usepackage{array,booktabs,amssymb}``
(:data:`LATEX_PACKAGES`); ``render_latex(card, standalone=True)`` wraps it in a
complete ``article`` that compiles with plain ``pdflatex``. Every value passes
through :func:`latex_escape`: LaTeX's special characters are escaped, the Greek
letters and symbols the card uses become math commands, and any other
character outside Latin-1 is written as ``[U+XXXX]`` (so an unexpected title
can never stop a paper from compiling).

Example:
    >>> latex_escape("50% of $x_1 & #2")
    '50\\\\% of \\\\$x\\\\_1 \\\\& \\\\#2'
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Final

import jinja2

from ..card.model import Card
from ._env import environment
from ._view import card_view

#: Packages the fragment uses (array: ragged columns; booktabs: rules; amssymb: check mark).
LATEX_PACKAGES: Final = ("array", "booktabs", "amssymb")

#: LaTeX's special characters, as text-mode commands.
LATEX_SPECIALS: Final[Mapping[str, str]] = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "<": r"\ensuremath{<}", ">": r"\ensuremath{>}", "|": r"\ensuremath{|}", '"': "''",
}

#: Non-ASCII symbols the card text uses, as commands pdflatex knows.
LATEX_SYMBOLS: Final[Mapping[str, str]] = {
    "\u0394": r"\ensuremath{\Delta}", "\u03c1": r"\ensuremath{\rho}",
    "\u03c4": r"\ensuremath{\tau}", "\u03b1": r"\ensuremath{\alpha}",
    "\u03c3": r"\ensuremath{\sigma}", "\u2264": r"\ensuremath{\le}",
    "\u2265": r"\ensuremath{\ge}", "\u00b7": r"\ensuremath{\cdot}", "\u2212": "-",
    "\u2016": r"\ensuremath{\|}", "\u27e8": r"\ensuremath{\langle}",
    "\u27e9": r"\ensuremath{\rangle}", "\u21d2": r"\ensuremath{\Rightarrow}",
    "\u2192": r"\ensuremath{\to}", "\u221a": r"\ensuremath{\surd}",
    "\u00b1": r"\ensuremath{\pm}", "\u00d7": r"\ensuremath{\times}",
    "\u2227": r"\ensuremath{\wedge}", "\u2713": r"\ensuremath{\checkmark}",
    "\u2717": r"\ensuremath{\times}", "\u2248": r"\ensuremath{\approx}",
    "\u2205": r"\ensuremath{\emptyset}", "\u25cb": r"\ensuremath{\circ}",
    "\u25d0": r"\ensuremath{\ominus}", "\u2014": "---", "\u2013": "--",
    "\u201c": "``", "\u201d": "''", "\u2018": "`", "\u2019": "'", "\u2026": r"\ldots{}",
    "\u00a7": r"\S{}", "\u00b2": r"\ensuremath{^2}", "\u00a0": "~",
}


def latex_escape(value: object) -> str:
    """Escape one value for LaTeX text mode (one pass, so nothing is escaped twice).

    Example:
        >>> latex_escape("\u0394G \u2264 0")
        '\\\\ensuremath{\\\\Delta}G \\\\ensuremath{\\\\le} 0'
    """
    text = str(value)
    out: list[str] = []
    for i, ch in enumerate(text):
        if ch in LATEX_SPECIALS:
            out.append(LATEX_SPECIALS[ch])
        elif ch in LATEX_SYMBOLS:
            out.append(LATEX_SYMBOLS[ch])
        elif ch in "\r\n":
            out.append(" ")
        elif ch == "-" and text[i + 1:i + 2] == "-":
            out.append("-{}")  # "--" would become an en dash
        elif ord(ch) > 0xFF:
            out.append(f"[U+{ord(ch):04X}]")
        else:
            out.append(ch)
    return "".join(out)


@cache
def _template() -> jinja2.Template:
    return environment(finalize=latex_escape).get_template("card.tex.j2")


def render_latex(card: Card, *, standalone: bool = False) -> str:
    """The card as a LaTeX table; ``standalone`` wraps it in a compilable document."""
    return _template().render(v=card_view(card), standalone=standalone,
                              packages=",".join(LATEX_PACKAGES))


__all__ = ["LATEX_PACKAGES", "LATEX_SPECIALS", "LATEX_SYMBOLS", "latex_escape", "render_latex"]
