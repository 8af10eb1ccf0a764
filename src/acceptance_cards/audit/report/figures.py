"""The audit's figures as display objects, and their PNG/SVG files.

Each figure is a scikit-learn-style display: build it from one card
(``from_card``), several (``from_cards``) or an audit's cells (``from_cells``);
it draws at once, into ``ax=`` when given (your own figure and subplots; the
figure's size is yours) or into a new pyplot figure, and returns the display
with ``ax_`` and ``figure_``. ``plot(ax=...)`` draws the same data again
elsewhere. A card without the gate a figure shows is skipped (counted in the
title, ``n/a`` in the axes when nothing is left), never an error.

- **funnel**: audited cells surviving (a), (a)∧(b), (a)∧(b)∧(c), all four, with
  the cells that had a result for each stage behind the survivors;
- **bootstrap scatter**: Δdeploy vs ΔG, one point per cell with both CIs as
  error bars and zero lines (left of the vertical line = gap reduced; below
  the horizontal line = deploy accuracy lost);
- **mechanism plane**: α_T vs α_A with the attack-targeted wedge |ρ| < τ shaded
  (ρ = α_A/α_T, so the wedge is |α_A| < τ·|α_T|), points coloured by the claimed
  class and shaped by the (c) verdict.

The audit's files (:func:`render_figures`) are the same displays drawn on a
fixed-size canvas. Colours come from :mod:`acceptance_cards.render.palette`,
the palette the HTML pages use.

Matplotlib is reached through :func:`acceptance_cards._util.lazy.require` (the
``[plots]`` extra) and the audit draws on an explicit Agg canvas — no pyplot,
no global backend switch (only ``ax=None`` asks pyplot for a figure).
Reproducibility: the SVG hash salt is fixed per figure, text is kept as
``<text>`` (``svg.fonttype = none``: searchable, and ids cannot clash when
several SVGs are inlined in one page), and no date or software string is
written into either file.

Example:
    >>> import matplotlib.pyplot as plt
    >>> from acceptance_cards.synthetic import example_card
    >>> fig, axes = plt.subplots(1, 2)
    >>> d = BootstrapScatterDisplay.from_card(example_card(n_resamples=200), ax=axes[0])
    >>> d.ax_ is axes[0], d.figure_ is fig
    (True, True)
    >>> from acceptance_cards.audit.cells import positive_control_cell
    >>> figs = render_figures([positive_control_cell(n_resamples=200)])
    >>> sorted(figs), figs["funnel"].png[:4]
    (['bootstrap_scatter', 'funnel', 'mechanism_plane'], b'\\x89PNG')
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Final

from ..._util.lazy import require
from ..._util.writes import atomic_write_bytes, atomic_write_text
from ...render.palette import CLAIMED_CLASS_COLOURS
from ..cells import CellResult
from ._figure_base import DEFAULT_SIZES, MAX_LABELLED, VERDICT_MARKER, VERDICT_STYLE
from ._funnel import FunnelDisplay
from ._mechanism_plane import C_MARKER, MechanismPlaneDisplay
from ._scatter import BootstrapScatterDisplay

#: Figure names, in report order (file stems under ``figures/``).
FIGURES: Final = ("funnel", "bootstrap_scatter", "mechanism_plane")

#: The display that draws each figure.
DISPLAYS: Final[dict[str, Any]] = {
    "funnel": FunnelDisplay, "bootstrap_scatter": BootstrapScatterDisplay,
    "mechanism_plane": MechanismPlaneDisplay,
}

#: Raster resolution of the PNG files.
PNG_DPI: Final = 150

#: Colour of each claimed mechanism class on the mechanism plane (the palette's).
CLASS_COLOUR: Final = CLAIMED_CLASS_COLOURS

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


def _render(name: str, draw: Callable[..., object], size: tuple[float, float]) -> RenderedFigure:
    mpl = require("matplotlib")
    with mpl.rc_context({**_RC, "svg.hashsalt": f"acard-{name}"}):
        fig = _figure(size)
        draw(ax=fig.add_subplot())
        png, svg = io.BytesIO(), io.StringIO()
        fig.savefig(png, format="png", dpi=PNG_DPI, metadata={"Software": None})
        fig.savefig(svg, format="svg", metadata={"Date": None, "Creator": None})
    return RenderedFigure(name=name, png=png.getvalue(), svg=svg.getvalue())


def render_figures(cells: Sequence[CellResult]) -> dict[str, RenderedFigure]:
    """All figures of an audit, in memory (name → PNG bytes and SVG text)."""
    return {name: _render(name, partial(DISPLAYS[name].from_cells, cells), DEFAULT_SIZES[name])
            for name in FIGURES}


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
    "C_MARKER", "CLASS_COLOUR", "DEFAULT_SIZES", "DISPLAYS", "FIGURES", "MAX_LABELLED", "PNG_DPI",
    "VERDICT_MARKER", "VERDICT_STYLE", "BootstrapScatterDisplay", "FunnelDisplay",
    "MechanismPlaneDisplay", "RenderedFigure", "render_figures", "write_figures",
]
