"""The audit's figures, each as PNG and SVG, byte-for-byte reproducible.

- **funnel**: audited cells surviving (a), (a)∧(b), (a)∧(b)∧(c), all four, with
  the cells that had a result for each stage behind the survivors;
- **bootstrap scatter**: Δdeploy vs ΔG, one point per cell with both CIs as
  error bars and zero lines (left of the vertical line = gap reduced; below
  the horizontal line = deploy accuracy lost);
- **mechanism plane**: α_T vs α_A with the attack-targeted wedge |ρ| < τ shaded
  (ρ = α_A/α_T, so the wedge is |α_A| < τ·|α_T|), points coloured by the claimed
  class and shaped by the (c) verdict.

Matplotlib is reached through :func:`acceptance_cards._util.lazy.require` (the
``[plots]`` extra) and drawn on an explicit Agg canvas — no pyplot, no global
backend switch. Reproducibility: the SVG hash salt is fixed per figure, text is
kept as ``<text>`` (``svg.fonttype = none``: searchable, and ids cannot clash
when several SVGs are inlined in one page), and no date or software string is
written into either file.

Example:
    >>> from acceptance_cards.audit.cells import positive_control_cell
    >>> figs = render_figures([positive_control_cell(n_resamples=200)])
    >>> sorted(figs), figs["funnel"].png[:4]
    (['bootstrap_scatter', 'funnel', 'mechanism_plane'], b'\\x89PNG')
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ..._util.lazy import require
from ..._util.writes import atomic_write_bytes, atomic_write_text
from ...constants import SENSITIVITY_TAUS, TAU
from ..cells import CellResult
from .filter import funnel

#: Figure names, in report order (file stems under ``figures/``).
FIGURES: Final = ("funnel", "bootstrap_scatter", "mechanism_plane")

#: Raster resolution of the PNG files.
PNG_DPI: Final = 150

#: Points are labelled with their cell name up to this many cells (beyond, labels clutter).
MAX_LABELLED: Final = 24

#: Colour and marker of each card verdict (never colour alone: the marker differs too).
VERDICT_STYLE: Final[dict[str, tuple[str, str]]] = {
    "full-card pass": ("#135c23", "o"), "near miss": ("#b07a00", "s"),
    "missing evidence": ("#7a7a7a", "^"), "fail": ("#8a1111", "X"),
    "undefined": ("#404040", "D"),
}

#: Colour of each claimed mechanism class on the mechanism plane.
CLASS_COLOUR: Final[dict[str, str]] = {
    "attack-targeted": "#1f5fa8", "shrinkage": "#d9730d", "unstated": "#7a7a7a",
}

#: Marker of each (c) verdict on the mechanism plane.
C_MARKER: Final[dict[str, str]] = {"pass": "o", "fail": "X", "n/a": "D"}

_RC: Final[dict[str, Any]] = {
    "svg.fonttype": "none", "font.size": 9, "axes.titlesize": 10, "axes.spines.top": False,
    "axes.spines.right": False, "figure.dpi": 100,
}


@dataclass(frozen=True)
class RenderedFigure:
    """One figure in both formats."""

    name: str
    png: bytes
    svg: str


def _figure(size: tuple[float, float]) -> Any:
    figure = require("matplotlib.figure").Figure(figsize=size, layout="constrained")
    require("matplotlib.backends.backend_agg").FigureCanvasAgg(figure)
    return figure


def _render(name: str, draw: Callable[[Any], None], size: tuple[float, float]) -> RenderedFigure:
    mpl = require("matplotlib")
    with mpl.rc_context({**_RC, "svg.hashsalt": f"acard-{name}"}):
        fig = _figure(size)
        draw(fig)
        png, svg = io.BytesIO(), io.StringIO()
        fig.savefig(png, format="png", dpi=PNG_DPI, metadata={"Software": None})
        fig.savefig(svg, format="svg", metadata={"Date": None, "Creator": None})
    return RenderedFigure(name=name, png=png.getvalue(), svg=svg.getvalue())


def _funnel(cells: Sequence[CellResult]) -> Callable[[Any], None]:
    f = funnel(cells)

    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        rows = list(f.rows)
        ys = list(range(len(rows)))[::-1]
        labels = ["all audited cells" if not r.gates else f"pass {r.label}" for r in rows]
        ax.barh(ys, [r.with_result for r in rows], color="#d9d9d9", edgecolor="#7a7a7a",
                label="cells with a result")
        ax.barh(ys, [r.passing for r in rows], color="#135c23", height=0.5,
                label="cells passing (surviving)")
        for y, r in zip(ys, rows, strict=True):
            ax.text(max(r.with_result, r.passing) + 0.03 * max(f.n_cells, 1), y,
                    f"{r.passing} pass of {r.with_result}", va="center")
        ax.set_yticks(ys, labels)
        ax.set_xlim(0, max(f.n_cells, 1) * 1.3)
        ax.xaxis.set_major_locator(require("matplotlib.ticker").MaxNLocator(integer=True))
        ax.set_xlabel("cells")
        ax.set_title(f"Cells surviving each gate ({f.n_cells} audited cells)")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)

    return draw


#: Label offsets (points) cycled through by point index, so coinciding points stay readable.
_OFFSETS: Final = ((5, 5, "left"), (5, -11, "left"), (-5, 5, "right"), (-5, -11, "right"))


def _label(ax: Any, text: str, x: float, y: float, i: int) -> None:
    dx, dy, ha = _OFFSETS[i % len(_OFFSETS)]
    ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=7, ha=ha)


def _err(point: float, lo: float | None, hi: float | None) -> tuple[float, float]:
    return (point - lo if lo is not None else 0.0, hi - point if hi is not None else 0.0)


def _scatter(cells: Sequence[CellResult]) -> Callable[[Any], None]:
    shown = [c for c in cells if c.card.diagnostics.a.delta_gap is not None
             and c.card.deploy_cost.point is not None]
    levels = sorted({c.card.diagnostics.a.ci_level or 0.95 for c in shown}) or [0.95]

    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        ax.axhline(0, color="#444444", lw=0.8)
        ax.axvline(0, color="#444444", lw=0.8)
        seen: set[str] = set()
        for i, c in enumerate(shown):
            a, cost = c.card.diagnostics.a, c.card.deploy_cost
            assert a.delta_gap is not None and cost.point is not None
            x, y = 100 * a.delta_gap, 100 * cost.point
            xe = [100 * v for v in _err(a.delta_gap, a.ci_low, a.ci_high)]
            ye = [100 * v for v in _err(cost.point, cost.ci_low, cost.ci_high)]
            colour, marker = VERDICT_STYLE[c.card.verdict]
            ax.errorbar([x], [y], xerr=[[xe[0]], [xe[1]]], yerr=[[ye[0]], [ye[1]]],
                        fmt=marker, color=colour, ecolor=colour, elinewidth=1, capsize=2,
                        markersize=6, markerfacecolor="white" if c.positive_control else colour,
                        label=None if c.card.verdict in seen else c.card.verdict)
            seen.add(c.card.verdict)
            if len(shown) <= MAX_LABELLED:
                _label(ax, c.name, x, y, i)
        lv = "/".join(f"{100 * v:g}%" for v in levels)
        ax.set_xlabel(f"ΔG = G(defense) − G(baseline) (pp, {lv} CI); < 0: gap reduced")
        ax.set_ylabel(f"Δdeploy (pp, {lv} CI); < 0: deploy accuracy lost")
        missing = len(cells) - len(shown)
        ax.set_title("Bootstrap: gap change vs deploy cost"
                     + (f" ({missing} cell(s) without (a) not shown)" if missing else ""))
        if shown:
            ax.legend(title="card verdict", frameon=False, fontsize=8)

    return draw


def _plane_tau(cells: Sequence[CellResult]) -> float:
    taus = {c.card.diagnostics.c.tau for c in cells if c.card.diagnostics.c.rho is not None}
    return taus.pop() if len(taus) == 1 else TAU


def _mechanism(cells: Sequence[CellResult]) -> Callable[[Any], None]:
    shown = [(c, at, aa) for c in cells
             if (at := c.card.diagnostics.c.alpha_t) is not None
             and (aa := c.card.diagnostics.c.alpha_a) is not None]
    tau = _plane_tau([c for c, _, _ in shown])

    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        span = max([max(abs(at), abs(aa)) for _, at, aa in shown] + [1e-12])
        lim = 1.25 * span if shown else 1.0
        for side in (1, -1):
            ax.fill([0, side * lim, side * lim], [0, tau * lim, -tau * lim], color="#1f5fa8",
                    alpha=0.12, lw=0, label="attack-targeted: |ρ| < τ" if side == 1 else None)
        others = [t for t in SENSITIVITY_TAUS if t != tau]
        for t in (tau, *others):
            ls, lw = ("-", 1.0) if t == tau else (":", 0.8)
            name = f"τ = {t:g}" if t == tau else "τ = " + ", ".join(f"{o:g}" for o in others)
            for s in (1, -1):
                first = s == 1 and (t == tau or t == others[0])
                ax.plot([-lim, lim], [-s * t * lim, s * t * lim], ls=ls, lw=lw, color="#1f5fa8",
                        label=name if first else None)
        ax.axhline(0, color="#444444", lw=0.6)
        ax.axvline(0, color="#444444", lw=0.6)
        for i, (c, at, aa) in enumerate(shown):
            g = c.card.diagnostics.c
            colour = CLASS_COLOUR.get(g.claimed_class, "#7a7a7a")
            marker = C_MARKER.get(g.verdict, "o")
            ax.scatter([at], [aa], c=colour, marker=marker, s=40,
                       edgecolors="black", linewidths=0.5, zorder=3)
            if len(shown) <= MAX_LABELLED:
                _label(ax, c.name, at, aa, i)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_xlabel(r"$\alpha_T = \langle \Delta W, g_T \rangle / \|g_T\|$ (task content)")
        ax.set_ylabel(r"$\alpha_A = \langle \Delta W, g_A \rangle / \|g_A\|$ (attack)")
        ax.set_title(f"Mechanism plane (τ = {tau:g}; dotted: other τ of the sweep)")
        handles = [require("matplotlib.lines").Line2D(
            [], [], ls="", marker="o", color=col, label=f"claimed {k}")
            for k, col in CLASS_COLOUR.items()]
        handles += [require("matplotlib.lines").Line2D(
            [], [], ls="", marker=m, color="black", markerfacecolor="white", label=f"(c) {k}")
            for k, m in C_MARKER.items()]
        first = ax.legend(loc="upper left", frameon=False, fontsize=7)
        ax.add_artist(first)
        ax.legend(handles=handles, loc="lower right", frameon=False, fontsize=7)

    return draw


def render_figures(cells: Sequence[CellResult]) -> dict[str, RenderedFigure]:
    """All figures of an audit, in memory (name → PNG bytes and SVG text)."""
    draws = {"funnel": (_funnel(cells), (6.4, 3.2)),
             "bootstrap_scatter": (_scatter(cells), (6.4, 4.8)),
             "mechanism_plane": (_mechanism(cells), (5.6, 5.6))}
    return {name: _render(name, *draws[name]) for name in FIGURES}


def write_figures(figures: dict[str, RenderedFigure], folder: Path) -> tuple[Path, ...]:
    """Write each figure as ``<name>.png`` and ``<name>.svg`` (atomic); returns the paths."""
    out: list[Path] = []
    for name, fig in figures.items():
        png, svg = folder / f"{name}.png", folder / f"{name}.svg"
        atomic_write_bytes(png, fig.png)
        atomic_write_text(svg, fig.svg)
        out += [png, svg]
    return tuple(out)


__all__ = [
    "C_MARKER", "CLASS_COLOUR", "FIGURES", "MAX_LABELLED", "PNG_DPI", "VERDICT_STYLE",
    "RenderedFigure", "render_figures", "write_figures",
]
