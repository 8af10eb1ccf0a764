"""The mechanism plane as a display: α_T vs α_A with the attack-targeted wedge |ρ| < τ.

Private: use :class:`acceptance_cards.audit.report.figures.MechanismPlaneDisplay`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, Self

from ..._util.lazy import require
from ...constants import SENSITIVITY_TAUS, TAU
from ...render.palette import CLAIMED_CLASS_COLOURS, FIGURE_COLOURS, PALETTE
from ..cells import CellResult
from ._figure_base import PointsDisplay, axes_for, draw_na, label_point, should_label

#: Marker of each (c) verdict on the mechanism plane.
C_MARKER: Final[dict[str, str]] = {"pass": "o", "fail": "X", "n/a": "D"}

_WEDGE: Final = FIGURE_COLOURS["attack-targeted"]


def _plane_tau(cells: Sequence[CellResult]) -> float:
    taus = {c.card.diagnostics.c.tau for c in cells if c.card.diagnostics.c.rho is not None}
    return taus.pop() if len(taus) == 1 else TAU


def _wedge(ax: Any, tau: float, lim: float) -> None:
    """The shaded |ρ| < τ wedge, its edges, and the other τ of the sweep (dotted)."""
    for side in (1, -1):
        ax.fill([0, side * lim, side * lim], [0, tau * lim, -tau * lim], color=_WEDGE,
                alpha=0.12, lw=0, label="attack-targeted: |ρ| < τ" if side == 1 else None)
    others = [t for t in SENSITIVITY_TAUS if t != tau]
    for t in (tau, *others):
        ls, lw = ("-", 1.0) if t == tau else (":", 0.8)
        name = f"τ = {t:g}" if t == tau else "τ = " + ", ".join(f"{o:g}" for o in others)
        for s in (1, -1):
            first = s == 1 and (t == tau or t == others[0])
            ax.plot([-lim, lim], [-s * t * lim, s * t * lim], ls=ls, lw=lw, color=_WEDGE,
                    label=name if first else None)


def _legends(ax: Any) -> None:
    line = require("matplotlib.lines").Line2D
    handles = [line([], [], ls="", marker="o", color=col, label=f"claimed {k}")
               for k, col in CLAIMED_CLASS_COLOURS.items()]
    handles += [line([], [], ls="", marker=m, color=FIGURE_COLOURS["marker-edge"],
                     markerfacecolor=PALETTE["paper"], label=f"(c) {k}")
                for k, m in C_MARKER.items()]
    first = ax.legend(loc="upper left", frameon=False, fontsize=7)
    ax.add_artist(first)
    ax.legend(handles=handles, loc="lower right", frameon=False, fontsize=7)


class MechanismPlaneDisplay(PointsDisplay):
    """α_T vs α_A of gate (c), the τ wedge shaded; colour = claimed class, marker = (c) verdict.

    A card without α_T and α_A (gate (c) not run or undefined) draws nothing;
    if no card has them the axes say ``n/a``.

    Example:
        >>> from acceptance_cards.synthetic import example_card
        >>> d = MechanismPlaneDisplay.from_card(example_card(n_resamples=200))
        >>> len(d.points), d.tau
        (1, 0.6)
    """

    def __init__(self, cells: Sequence[CellResult]) -> None:
        self.points = [(c, at, aa) for c in cells
                       if (at := c.card.diagnostics.c.alpha_t) is not None
                       and (aa := c.card.diagnostics.c.alpha_a) is not None]
        self.tau = _plane_tau([c for c, _, _ in self.points])

    def plot(self, ax: Any = None, *, labels: bool | None = None, title: str | None = None,
             legend: bool = True) -> Self:
        """Draw into ``ax`` (default: a new figure); returns ``self``."""
        self.figure_, self.ax_ = axes_for(ax, "mechanism_plane")
        ax, tau, shown = self.ax_, self.tau, self.points
        span = max([max(abs(at), abs(aa)) for _, at, aa in shown] + [1e-12])
        lim = 1.25 * span if shown else 1.0
        _wedge(ax, tau, lim)
        ax.axhline(0, color=FIGURE_COLOURS["zero-line"], lw=0.6)
        ax.axvline(0, color=FIGURE_COLOURS["zero-line"], lw=0.6)
        named = should_label(labels, len(shown))
        for i, (c, at, aa) in enumerate(shown):
            g = c.card.diagnostics.c
            ax.scatter([at], [aa], c=CLAIMED_CLASS_COLOURS.get(g.claimed_class,
                                                               FIGURE_COLOURS["unstated"]),
                       marker=C_MARKER.get(g.verdict, "o"), s=40,
                       edgecolors=FIGURE_COLOURS["marker-edge"], linewidths=0.5, zorder=3)
            if named:
                label_point(ax, c.name, at, aa, i)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_xlabel(r"$\alpha_T = \langle \Delta W, g_T \rangle / \|g_T\|$ (task content)")
        ax.set_ylabel(r"$\alpha_A = \langle \Delta W, g_A \rangle / \|g_A\|$ (attack)")
        ax.set_title(title if title is not None
                     else f"Mechanism plane (τ = {tau:g}; dotted: other τ of the sweep)")
        if not shown:
            draw_na(ax, "no gate (c) α_T, α_A to draw")
        if legend:
            _legends(ax)
        return self
