"""What the figure displays share: cards as cells, axes on demand, labels, 'n/a'.

Private: the public names are re-exported by :mod:`acceptance_cards.audit.report.figures`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, Self

from ..._util.lazy import require
from ...card.model import Card
from ...render.palette import CARD_VERDICT_COLOURS, PALETTE
from ...vocab import CardVerdict
from ..cells import CellResult

#: Points are labelled with their cell name up to this many cells (beyond, labels clutter).
MAX_LABELLED: Final = 24

#: Marker of each card verdict (never colour alone: the marker differs too).
VERDICT_MARKER: Final[dict[CardVerdict, str]] = {
    "full-card pass": "o", "near miss": "s", "missing evidence": "^", "fail": "X",
    "undefined": "D",
}

#: Colour and marker of each card verdict (colours: :mod:`acceptance_cards.render.palette`).
VERDICT_STYLE: Final[dict[CardVerdict, tuple[str, str]]] = {
    v: (CARD_VERDICT_COLOURS[v], m) for v, m in VERDICT_MARKER.items()
}

#: Figure size (inches) of each display when it makes its own figure (``ax=None``).
DEFAULT_SIZES: Final[dict[str, tuple[float, float]]] = {
    "funnel": (6.4, 3.2), "bootstrap_scatter": (6.4, 4.8), "mechanism_plane": (5.6, 5.6),
}

#: Label offsets (points) cycled through by point index, so coinciding points stay readable.
_OFFSETS: Final = ((5, 5, "left"), (5, -11, "left"), (-5, 5, "right"), (-5, -11, "right"))


def card_name(card: Card, index: int) -> str:
    """What a point of ``card`` is labelled: its defense cell, else its title, else ``card N``."""
    return card.defense_gap.cell or card.title or f"card {index + 1}"


def cells_of(cards: Sequence[Card], names: Sequence[str] | None = None) -> list[CellResult]:
    """Cards as audit cells (no evidence attached), so one code path draws both.

    Example:
        >>> from acceptance_cards.synthetic import example_card
        >>> [c.name for c in cells_of([example_card(n_resamples=200)], ["mine"])]
        ['mine']
    """
    if names is not None and len(names) != len(cards):
        raise ValueError(f"{len(names)} names for {len(cards)} cards")
    return [
        CellResult(name=names[i] if names is not None else card_name(c, i),
                   model=c.model.family or "", recipe=c.recipe.name or "", seed=0,
                   task=c.task.primary or "", card=c)
        for i, c in enumerate(cards)
    ]


def axes_for(ax: Any, name: str) -> tuple[Any, Any]:
    """``(figure, axes)``: ``ax`` and its figure, or a new pyplot figure of the display's size."""
    if ax is not None:
        return ax.figure, ax
    fig, new = require("matplotlib.pyplot").subplots(figsize=DEFAULT_SIZES[name],
                                                     layout="constrained")
    return fig, new


def label_point(ax: Any, text: str, x: float, y: float, i: int) -> None:
    """Annotate one point, the offset cycling with ``i`` so neighbours do not overprint."""
    dx, dy, ha = _OFFSETS[i % len(_OFFSETS)]
    ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=7, ha=ha)


def draw_na(ax: Any, what: str) -> None:
    """Say in the axes that nothing could be drawn (a card without that gate's result)."""
    ax.text(0.5, 0.5, f"n/a: {what}", transform=ax.transAxes, ha="center", va="center",
            color=PALETTE["muted"])


def should_label(labels: bool | None, n: int) -> bool:
    """``labels=None``: label points when there are at most :data:`MAX_LABELLED` of them."""
    return n <= MAX_LABELLED if labels is None else labels


class PointsDisplay:
    """What the one-point-per-cell displays share: the ``from_cells / from_cards / from_card``
    constructors (each draws at once, like scikit-learn's ``*Display.from_*``).

    A subclass takes the cells in ``__init__`` and draws in :meth:`plot`.

    Example:
        >>> from acceptance_cards.audit.report.figures import BootstrapScatterDisplay
        >>> issubclass(BootstrapScatterDisplay, PointsDisplay)
        True
    """

    ax_: Any
    figure_: Any

    def __init__(self, cells: Sequence[CellResult]) -> None:
        raise NotImplementedError

    def plot(self, ax: Any = None, *, labels: bool | None = None, title: str | None = None,
             legend: bool = True) -> Self:
        """Draw into ``ax`` (default: a new figure); returns ``self``."""
        raise NotImplementedError

    @classmethod
    def from_cells(cls, cells: Sequence[CellResult], *, ax: Any = None, labels: bool | None = None,
                   title: str | None = None) -> Self:
        """One point per audit cell that has what the display plots; the rest are counted."""
        return cls(cells).plot(ax=ax, labels=labels, title=title)

    @classmethod
    def from_cards(cls, cards: Sequence[Card], *, names: Sequence[str] | None = None,
                   ax: Any = None, labels: bool | None = None, title: str | None = None) -> Self:
        """One point per card, labelled with ``names`` (default: each card's defense cell)."""
        return cls.from_cells(cells_of(cards, names), ax=ax, labels=labels, title=title)

    @classmethod
    def from_card(cls, card: Card, *, name: str | None = None, ax: Any = None,
                  labels: bool | None = None, title: str | None = None) -> Self:
        """One card's point."""
        return cls.from_cards([card], names=None if name is None else [name], ax=ax,
                              labels=labels, title=title)
