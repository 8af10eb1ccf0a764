"""One self-contained ``report.html`` for a whole audit.

The page ties together the matrix, the progressive filter, the figures, the
sensitivity tables, the positive-control cell and links to every cell's card.
It fetches nothing: CSS is inline, figures are inlined as SVG, there are no
scripts, fonts or external URLs. The only links are relative ones to files the
audit wrote next to it (``cards/<cell>.html``, ``figures/*.png``), which a
reader can follow but the page never needs. Every value is HTML-escaped by
Jinja2's autoescaping; only the SVG this package drew is inserted as markup.

Example:
    >>> from acceptance_cards.audit.cells import positive_control_cell
    >>> from acceptance_cards.audit.report.figures import render_figures
    >>> cells = [positive_control_cell(n_resamples=200)]
    >>> page = render_report(ReportInputs(cells=tuple(cells),
    ...     card_links={"positive-control": "cards/positive-control.html"},
    ...     figures=render_figures(cells)))
    >>> page.startswith("<!DOCTYPE html>"), "full-card pass" in page
    (True, True)
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Final

import jinja2
from markupsafe import Markup

from ...card.formatting import CARD_BADGES, GATE_BADGES, card_badge, fmt_cost, fmt_pp, gate_badge
from ...card.verdict import CARD_VERDICTS
from ...diagnostics import GATE_NAMES, GATES
from ...render._env import TEMPLATE_DIR as CARD_TEMPLATES
from ...render.palette import install as install_palette
from ..cells import CellResult
from .figures import FIGURES, RenderedFigure
from .filter import filter_table, progressive_filter
from .matrix import build_matrix, matrix_table
from .sensitivity import SensitivityReport, sensitivity_report
from .sensitivity_tables import sensitivity_tables
from .tables import TextTable

#: Folder of ``report.html.j2`` (package data).
TEMPLATE_DIR: Final = Path(__file__).parent / "templates"

#: Caption of each figure in the report.
FIGURE_CAPTIONS: Final[Mapping[str, str]] = {
    "funnel": "Funnel: audited cells surviving each added gate (grey: cells with a result "
              "for that stage; green: cells passing it). Positive controls are not counted.",
    "bootstrap_scatter": "Bootstrap scatter: Δdeploy vs ΔG with both question-clustered CIs, "
                         "one point per cell. Left of the vertical line the gap shrank; below "
                         "the horizontal line deploy accuracy was lost; on the dashed diagonal "
                         "ΔG = Δdeploy (the eval-framed rate did not move), so a cell on it left "
                         "of zero narrowed the gap only by losing deploy accuracy. A hollow "
                         "marker is the positive control.",
    "mechanism_plane": "Mechanism plane: α_T vs α_A on the declared slice. Inside the shaded "
                       "wedge |ρ| < τ the update signs as attack-targeted, outside as "
                       "shrinkage; colour = the class the card claims, marker = (c) verdict.",
}

_SVG_START = re.compile(r"<svg[\s>]")


@dataclass(frozen=True)
class ReportInputs:
    """What the report shows; ``sensitivity`` is computed from ``cells`` when omitted."""

    cells: tuple[CellResult, ...]
    card_links: Mapping[str, str]
    figures: Mapping[str, RenderedFigure]
    figure_links: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    sensitivity: SensitivityReport | None = None
    title: str = "Acceptance-card audit"
    #: Cells of the audit without results yet (interim report of a running audit).
    unfinished: tuple[str, ...] = ()


def inline_svg(svg: str) -> Markup:
    """The ``<svg>`` element of a matplotlib SVG file (XML prolog and DOCTYPE dropped).

    Only SVG this package drew is passed here: matplotlib escapes the text it writes.
    """
    m = _SVG_START.search(svg)
    if m is None:
        raise ValueError("not an SVG document")
    return Markup(svg[m.start():].strip())  # noqa: S704 - our own matplotlib output


def _badge_of(text: str) -> dict[str, str] | None:
    if text in GATE_BADGES:
        b = gate_badge(text)
        return {"css": b.css, "text": b.text}
    if text in CARD_BADGES:
        b = card_badge(text)
        return {"css": b.css, "text": b.text}
    return None


def _table_view(t: TextTable) -> dict[str, Any]:
    return {
        "title": t.title, "columns": t.columns, "notes": t.notes,
        "rows": [[{"text": c, "badge": _badge_of(c)} for c in row] for row in t.rows],
    }


def _matrix_view(cells: tuple[CellResult, ...], links: Mapping[str, str]) -> dict[str, Any]:
    m = build_matrix(cells)
    t = matrix_table(m, style="md")
    rows = []
    for r, text in zip(m.rows, t.rows, strict=True):
        rows.append({
            "cell": r.cell, "link": links.get(r.cell), "control": r.positive_control,
            "ident": text[1:6],
            "gates": [{"css": gate_badge(r.gate(g)).css, "text": gate_badge(r.gate(g)).text}
                      for g in GATES],
            "numbers": text[10:13],
            "verdict": {"css": card_badge(r.verdict).css, "text": card_badge(r.verdict).text},
            "relabel": text[14], "k_of_m": r.k_of_m, "unmet": text[16], "stand_ins": text[17],
        })
    return {"columns": t.columns, "rows": rows, "notes": t.notes}


def _control_view(cells: tuple[CellResult, ...], links: Mapping[str, str]) -> list[dict[str, Any]]:
    out = []
    for c in cells:
        if not c.positive_control:
            continue
        card = c.card
        out.append({
            "cell": c.name, "link": links.get(c.name), "ok": card.verdict == "full-card pass",
            "verdict": {"css": card_badge(card.verdict).css, "text": card_badge(card.verdict).text},
            "summary": card.summary, "unmet": ", ".join(card.unmet) or "none",
            "delta_gap": fmt_pp(card.diagnostics.a.delta_gap),
            "cost": fmt_cost(card.deploy_cost.point, card.deploy_cost.ci_low,
                             card.deploy_cost.ci_high, card.deploy_cost.ci_level),
        })
    return out


def _multiplicity_view(sens: SensitivityReport) -> dict[str, Any]:
    """The one-sentence multiplicity summary the report's header shows."""
    m = sens.multiplicity
    a = next(r for r in m.chance if r.gate == "a")
    return {
        "n_cells": m.n_cells, "passes": m.n_a_passes, "surviving": m.n_surviving,
        "tested": a.tested,
        "expected": "—" if a.expected is None else f"{a.expected:.2f}",
        "alpha": "—" if m.family_alpha is None else f"{100 * m.family_alpha:g}%",
    }


def _counts(cells: tuple[CellResult, ...]) -> list[dict[str, Any]]:
    audited = Counter(c.card.verdict for c in cells if not c.positive_control)
    return [{"css": card_badge(v).css, "text": card_badge(v).text, "n": audited.get(v, 0)}
            for v in CARD_VERDICTS]


@cache
def _template() -> jinja2.Template:
    # The card's template folder too: both pages include its ``_page.css``, whose colours
    # come from the one palette (render/palette.py).
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([TEMPLATE_DIR, CARD_TEMPLATES]),
        undefined=jinja2.StrictUndefined,
        autoescape=True, keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
    )
    return install_palette(env).get_template("report.html.j2")


def _stand_in_view(cells: tuple[CellResult, ...]) -> list[dict[str, Any]]:
    """Each stand-in the cards state, with the cells measured with it (first-seen order)."""
    by_what: dict[str, list[str]] = {}
    for c in cells:
        for s in (c.card.evidence.stand_ins if c.card.evidence else ()):
            by_what.setdefault(s.what, []).append(c.name)
    audited = {c.name for c in cells if not c.positive_control}
    return [{"what": w, "cells": "every audited cell" if set(names) == audited
             else ", ".join(dict.fromkeys(names))} for w, names in by_what.items()]


def render_report(inputs: ReportInputs) -> str:
    """The audit report as one standalone HTML5 document (deterministic; no timestamps)."""
    cells = inputs.cells
    sens = inputs.sensitivity or sensitivity_report(cells)
    flt = progressive_filter(cells)
    figures = [
        {"name": n, "svg": inline_svg(inputs.figures[n].svg), "caption": FIGURE_CAPTIONS[n],
         "links": inputs.figure_links.get(n, ())}
        for n in FIGURES if n in inputs.figures
    ]
    view = {
        "title": inputs.title,
        "n_audited": sum(not c.positive_control for c in cells),
        "unfinished": list(inputs.unfinished),
        "counts": _counts(cells),
        "controls": _control_view(cells, inputs.card_links),
        "stand_ins": _stand_in_view(cells),
        "matrix": _matrix_view(cells, inputs.card_links),
        "filter": _table_view(filter_table(flt)),
        "figures": figures,
        "sensitivity": [_table_view(t) for t in sensitivity_tables(sens).values()],
        "multiplicity": _multiplicity_view(sens),
        "gate_names": [{"letter": g, "name": GATE_NAMES[g]} for g in GATES],
        "legend": [{"css": b.css, "text": b.text} for b in GATE_BADGES.values()],
        "cards": [{"cell": c.name, "link": inputs.card_links.get(c.name),
                   "verdict": {"css": card_badge(c.card.verdict).css,
                               "text": card_badge(c.card.verdict).text}} for c in cells],
    }
    return _template().render(v=view)


__all__ = ["FIGURE_CAPTIONS", "TEMPLATE_DIR", "ReportInputs", "inline_svg", "render_report"]
