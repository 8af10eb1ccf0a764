"""The one colour palette: HTML cards, the audit report and the audit's figures.

Every colour the package draws comes from here. The pages get it through the
Jinja environment (:func:`install`): ``_page.css`` writes its ``:root`` custom
properties from :data:`CSS_VARIABLES` (``{{ palette_root }}``), and the few
literal colours left in the CSS read ``{{ palette.<name> }}``. The figures read
:data:`CARD_VERDICT_COLOURS`, :data:`CLAIMED_CLASS_COLOURS` and
:data:`FIGURE_COLOURS`. So a badge in a page and a point in a figure with the
same verdict can never disagree.

Colour is never the only signal: badges carry a symbol and a label, figure
markers differ in shape (see ``card/formatting.py`` and the figure modules).

Example:
    >>> CARD_VERDICT_COLOURS["full-card pass"] == PALETTE["pass"]
    True
    >>> str(root_block()).splitlines()[0]
    '  --ink: #1b1b1b; --muted: #404040; --rule: #ccc; --cell-rule: #d0d0d0; --head-bg: #f3f3f3;'
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

import jinja2
from markupsafe import Markup

from ..vocab import CardVerdict, ClaimedClass

#: The page's CSS custom properties (``--name: colour``), one group per line of ``:root``:
#: text and rules; pass / fail; borderline (and near miss); n/a and caveat; not run and
#: undefined; the deploy cost and the positive-control row.
CSS_VARIABLES: Final[tuple[Mapping[str, str], ...]] = (
    {"ink": "#1b1b1b", "muted": "#404040", "rule": "#ccc", "cell-rule": "#d0d0d0",
     "head-bg": "#f3f3f3"},
    {"pass": "#135c23", "pass-bg": "#dff3e2", "fail": "#8a1111", "fail-bg": "#fbe0e0"},
    {"border": "#b07a00", "border-ink": "#6b4a00", "border-bg": "#fff1cc"},
    {"na": "#808080", "na-bg": "#ececec", "caveat": "#0d4a7a", "caveat-bg": "#e3f0fb"},
    {"notrun": "#9a9a9a", "notrun-ink": "#5a5a5a", "undefined": "#606060"},
    {"cost": "#4a4ab0", "cost-bg": "#f6f6ff", "control-bg": "#f4f8ff"},
)

#: Colours the figures draw beyond the verdict colours: the funnel's "with a result"
#: bars and their edges, the zero lines, marker edges, and the claimed-class hues of
#: the mechanism plane.
FIGURE_COLOURS: Final[Mapping[str, str]] = MappingProxyType({
    "bar": "#d9d9d9", "bar-edge": "#7a7a7a", "zero-line": "#444444", "marker-edge": "#000000",
    "attack-targeted": "#1f5fa8", "shrinkage": "#d9730d", "unstated": "#7a7a7a",
})

#: Every named colour: the CSS variables, ``paper`` (white: text on a filled badge,
#: the face of a hollow marker) and the figure colours.
PALETTE: Final[Mapping[str, str]] = MappingProxyType({
    **{k: v for group in CSS_VARIABLES for k, v in group.items()},
    "paper": "#fff",
    **{f"figure-{k}": v for k, v in FIGURE_COLOURS.items()},
})

#: The palette entry of each card verdict (the CSS ``.c-*`` badge classes use the same).
CARD_VERDICT_VARIABLE: Final[Mapping[CardVerdict, str]] = MappingProxyType({
    "full-card pass": "pass", "near miss": "border", "missing evidence": "na",
    "fail": "fail", "undefined": "undefined",
})

#: The colour of each card verdict, in pages and figures alike.
CARD_VERDICT_COLOURS: Final[Mapping[CardVerdict, str]] = MappingProxyType(
    {v: PALETTE[k] for v, k in CARD_VERDICT_VARIABLE.items()})

#: The colour of each claimed mechanism class on the mechanism plane.
CLAIMED_CLASS_COLOURS: Final[Mapping[ClaimedClass, str]] = MappingProxyType({
    "attack-targeted": FIGURE_COLOURS["attack-targeted"],
    "shrinkage": FIGURE_COLOURS["shrinkage"],
    "unstated": FIGURE_COLOURS["unstated"],
})


def root_block() -> Markup:
    """The declarations inside the pages' ``:root { }`` (one line per group, two-space indent)."""
    lines = ("  " + " ".join(f"--{k}: {v};" for k, v in group.items()) for group in CSS_VARIABLES)
    return Markup("\n".join(lines))  # noqa: S704 - our own constants, not user text


def install(env: jinja2.Environment) -> jinja2.Environment:
    """Expose the palette to ``env``'s templates (``palette``, ``palette_root``); returns ``env``."""
    env.globals["palette"] = PALETTE
    env.globals["palette_root"] = root_block()
    return env


__all__ = [
    "CARD_VERDICT_COLOURS", "CARD_VERDICT_VARIABLE", "CLAIMED_CLASS_COLOURS", "CSS_VARIABLES",
    "FIGURE_COLOURS", "PALETTE", "install", "root_block",
]
