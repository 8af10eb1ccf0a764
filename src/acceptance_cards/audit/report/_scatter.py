"""The bootstrap scatter as a display: Δdeploy vs ΔG with both CIs, one point per card.

Private: use :class:`acceptance_cards.audit.report.figures.BootstrapScatterDisplay`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

from ...constants import CI_LEVEL
from ...render.palette import FIGURE_COLOURS, PALETTE
from ..cells import CellResult
from ._figure_base import VERDICT_STYLE, PointsDisplay, axes_for, draw_na, label_point, should_label

#: The legend entry of the ΔG = Δdeploy diagonal.
DIAGONAL_LABEL = "ΔG = Δdeploy (eval-framed rate unchanged)"


def _err(point: float, lo: float | None, hi: float | None) -> tuple[float, float]:
    return (point - lo if lo is not None else 0.0, hi - point if hi is not None else 0.0)


def _has_point(c: CellResult) -> bool:
    return c.card.diagnostics.a.delta_gap is not None and c.card.deploy_cost.point is not None


class BootstrapScatterDisplay(PointsDisplay):
    """Δdeploy vs ΔG, both with their question-clustered CIs (gate (a)), one point per cell.

    Left of the vertical line the gap shrank; below the horizontal line deploy
    accuracy was lost; on the dashed diagonal ΔG = Δdeploy (the eval-framed rate
    did not move), so a cell on it left of zero narrowed the gap only by losing
    deploy accuracy.
    Colour and marker: the card verdict; hollow: a positive
    control. A card without an (a) result is counted in the title (``n/a``
    when nothing can be drawn) instead of failing.

    Example:
        >>> from acceptance_cards.synthetic import example_card
        >>> d = BootstrapScatterDisplay.from_card(example_card(n_resamples=200))
        >>> len(d.cells), d.n_hidden, d.ci_levels
        (1, 0, (0.95,))
    """

    def __init__(self, cells: Sequence[CellResult], *, n_hidden: int = 0) -> None:
        self.cells = [c for c in cells if _has_point(c)]
        self.n_hidden = n_hidden + len(cells) - len(self.cells)
        self.ci_levels: tuple[float, ...] = tuple(sorted(
            {c.card.diagnostics.a.ci_level or CI_LEVEL for c in self.cells})) or (CI_LEVEL,)

    def plot(self, ax: Any = None, *, labels: bool | None = None, title: str | None = None,
             legend: bool = True) -> Self:
        """Draw into ``ax`` (default: a new figure); ``labels``: name the points (default:
        up to ``MAX_LABELLED`` points); returns ``self``."""
        self.figure_, self.ax_ = axes_for(ax, "bootstrap_scatter")
        ax = self.ax_
        ax.axhline(0, color=FIGURE_COLOURS["zero-line"], lw=0.8)
        ax.axvline(0, color=FIGURE_COLOURS["zero-line"], lw=0.8)
        # ΔG = Δdeploy − Δeval: on this line the eval-framed rate did not move, so a point
        # on it left of zero narrowed the gap only by losing deploy accuracy
        ax.axline((0, 0), slope=1, color=FIGURE_COLOURS["zero-line"], lw=0.8, ls=(0, (4, 3)),
                  label=DIAGONAL_LABEL)
        seen: set[str] = set()
        named = should_label(labels, len(self.cells))
        for i, c in enumerate(self.cells):
            a, cost = c.card.diagnostics.a, c.card.deploy_cost
            assert a.delta_gap is not None and cost.point is not None
            x, y = 100 * a.delta_gap, 100 * cost.point
            xe = [100 * v for v in _err(a.delta_gap, a.ci_low, a.ci_high)]
            ye = [100 * v for v in _err(cost.point, cost.ci_low, cost.ci_high)]
            colour, marker = VERDICT_STYLE[c.card.verdict]
            ax.errorbar([x], [y], xerr=[[xe[0]], [xe[1]]], yerr=[[ye[0]], [ye[1]]],
                        fmt=marker, color=colour, ecolor=colour, elinewidth=1, capsize=2,
                        markersize=6,
                        markerfacecolor=PALETTE["paper"] if c.positive_control else colour,
                        label=None if c.card.verdict in seen else c.card.verdict)
            seen.add(c.card.verdict)
            if named:
                label_point(ax, c.name, x, y, i)
        lv = "/".join(f"{100 * v:g}%" for v in self.ci_levels)
        ax.set_xlabel(f"ΔG = G(defense) − G(baseline) (pp, {lv} CI); < 0: gap reduced")
        ax.set_ylabel(f"Δdeploy (pp, {lv} CI); < 0: deploy accuracy lost")
        missing = self.n_hidden
        ax.set_title(title if title is not None else "Bootstrap: gap change vs deploy cost"
                     + (f" ({missing} cell(s) without (a) not shown)" if missing else ""))
        if not self.cells:
            draw_na(ax, "no gate (a) result to draw")
        elif legend:
            ax.legend(frameon=False, fontsize=8)  # the verdicts and the diagonal: no one title
        return self
