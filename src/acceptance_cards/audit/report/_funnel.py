"""The funnel figure as a display: cells surviving (a), (a)∧(b), (a)∧(b)∧(c), all four.

Private: use :class:`acceptance_cards.audit.report.figures.FunnelDisplay`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

from ..._util.lazy import require
from ...card.model import Card
from ...render.palette import CARD_VERDICT_COLOURS, FIGURE_COLOURS
from ..cells import CellResult
from ._figure_base import axes_for, cells_of
from .filter import ProgressiveFilter, funnel


class FunnelDisplay:
    """Funnel: cells with a result (grey) and cells passing (green) at each added gate.

    Build it with :meth:`from_cells` (an audit), :meth:`from_cards` or
    :meth:`from_card`; each draws at once (``ax``: your axes, else a new figure)
    and returns the display, whose ``ax_`` and ``figure_`` are the drawing.

    Example:
        >>> from acceptance_cards.synthetic import example_card
        >>> d = FunnelDisplay.from_card(example_card(n_resamples=200))
        >>> [r.passing for r in d.funnel.rows]
        [1, 1, 1, 1, 1]
    """

    ax_: Any
    figure_: Any

    def __init__(self, funnel: ProgressiveFilter) -> None:
        self.funnel = funnel

    @classmethod
    def from_cells(cls, cells: Sequence[CellResult], *, include_controls: bool = False,
                   ax: Any = None, title: str | None = None) -> Self:
        """The funnel of an audit's cells (positive controls left out unless included)."""
        return cls(funnel(cells, include_controls=include_controls)).plot(ax=ax, title=title)

    @classmethod
    def from_cards(cls, cards: Sequence[Card], *, names: Sequence[str] | None = None,
                   ax: Any = None, title: str | None = None) -> Self:
        """The funnel of any cards (each counted, whatever its origin)."""
        return cls.from_cells(cells_of(cards, names), ax=ax, title=title)

    @classmethod
    def from_card(cls, card: Card, *, name: str | None = None, ax: Any = None,
                  title: str | None = None) -> Self:
        """One card's funnel: the gates it survives, in order."""
        return cls.from_cards([card], names=None if name is None else [name], ax=ax, title=title)

    def plot(self, ax: Any = None, *, title: str | None = None, legend: bool = True) -> Self:
        """Draw into ``ax`` (default: a new figure); returns ``self``."""
        self.figure_, self.ax_ = axes_for(ax, "funnel")
        ax = self.ax_
        f = self.funnel
        rows = list(f.rows)
        ys = list(range(len(rows)))[::-1]
        labels = ["all audited cells" if not r.gates else f"pass {r.label}" for r in rows]
        ax.barh(ys, [r.with_result for r in rows], color=FIGURE_COLOURS["bar"],
                edgecolor=FIGURE_COLOURS["bar-edge"], label="cells with a result")
        # the first row is the audit itself: no gate, so nothing passes there, it is counted
        gated = [r.passing if r.gates else 0 for r in rows]
        ax.barh(ys, gated, color=CARD_VERDICT_COLOURS["full-card pass"],
                height=0.5, label="cells passing (surviving)")
        for y, r in zip(ys, rows, strict=True):
            ax.text(max(r.with_result, r.passing) + 0.03 * max(f.n_cells, 1), y,
                    f"{r.passing} pass of {r.with_result}" if r.gates else f"{r.with_result} cells",
                    va="center")
        ax.set_yticks(ys, labels)
        ax.set_xlim(0, max(f.n_cells, 1) * 1.3)
        ax.xaxis.set_major_locator(require("matplotlib.ticker").MaxNLocator(integer=True))
        ax.set_xlabel("cells")
        ax.set_title(title if title is not None
                     else f"Cells surviving each gate ({f.n_cells} audited cells)")
        if legend:
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
        return self
