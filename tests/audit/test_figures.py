"""The figure displays: one card, several cards or an audit's cells, into the user's axes.

The audit's files are these same displays on a fixed canvas (checked by
comparing a display drawn by hand with :func:`render_figures`' bytes).
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from acceptance_cards.audit.cells import positive_control_cell
from acceptance_cards.audit.report import figures as figs
from acceptance_cards.audit.report.figures import (
    BootstrapScatterDisplay,
    FunnelDisplay,
    MechanismPlaneDisplay,
    render_figures,
)
from acceptance_cards.card.build import build_card
from acceptance_cards.card.model import Card, CardOptions
from acceptance_cards.records import records_from_rows
from acceptance_cards.synthetic import example_card, example_mechanism, simulate_rows

plt = pytest.importorskip("matplotlib.pyplot")
mcolors = pytest.importorskip("matplotlib.colors")

B = 200
DISPLAYS = (FunnelDisplay, BootstrapScatterDisplay, MechanismPlaneDisplay)


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def card() -> Card:
    return example_card(n_resamples=B)


def _card_without(gate: str) -> Card:
    """A card whose gate (a) (no held-out records) or (c) (no mechanism file) was not run."""
    rb, rd = simulate_rows(seed=5)
    if gate == "a":
        rb, rd = ([r for r in rows if r["split"] == "fresh"] for rows in (rb, rd))
    b, d = records_from_rows(rb, name="b.jsonl"), records_from_rows(rd, name="d.jsonl")
    mech = None if gate == "c" else example_mechanism()
    return build_card(b, d, mechanism=mech, options=CardOptions(seed=5, n_resamples=B))


def _texts(ax: object) -> list[str]:
    return [t.get_text() for t in ax.texts]  # type: ignore[attr-defined]


def test_one_card_into_the_users_subplots(card: Card) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.5))
    scatter = BootstrapScatterDisplay.from_card(card, ax=axes[0], name="mine")
    plane = MechanismPlaneDisplay.from_card(card, ax=axes[1])
    assert scatter.ax_ is axes[0] and plane.ax_ is axes[1]
    assert scatter.figure_ is fig and plane.figure_ is fig
    assert tuple(fig.get_size_inches()) == (9.0, 3.5)  # the user's size, not the audit's
    assert len(fig.axes) == 2  # nothing added beside the user's axes
    a = card.diagnostics.a
    assert a.delta_gap is not None and card.deploy_cost.point is not None
    (line,) = [ln for ln in axes[0].lines if ln.get_marker() == "o"]
    assert line.get_xdata()[0] == pytest.approx(100 * a.delta_gap)
    assert line.get_ydata()[0] == pytest.approx(100 * card.deploy_cost.point)
    assert "mine" in _texts(axes[0])
    c = card.diagnostics.c
    (points,) = axes[1].collections[-1:]
    assert tuple(points.get_offsets()[0]) == pytest.approx((c.alpha_t, c.alpha_a))


@pytest.mark.parametrize("display", DISPLAYS)
def test_each_display_draws_its_own_figure_or_into_given_axes(card: Card, display: type) -> None:
    own = display.from_card(card)
    name = {FunnelDisplay: "funnel", BootstrapScatterDisplay: "bootstrap_scatter",
            MechanismPlaneDisplay: "mechanism_plane"}[display]
    assert tuple(own.figure_.get_size_inches()) == figs.DEFAULT_SIZES[name]
    fig, axes = plt.subplots(2, 2, figsize=(4.0, 4.0))
    again = own.plot(ax=axes[1, 0])  # the same data, elsewhere
    assert again is own and own.ax_ is axes[1, 0] and own.figure_ is fig
    assert tuple(fig.get_size_inches()) == (4.0, 4.0)
    assert axes[1, 0].has_data() and not axes[0, 0].has_data()


@pytest.mark.parametrize(("gate", "display", "word"), [
    ("a", BootstrapScatterDisplay, "gate (a)"), ("c", MechanismPlaneDisplay, "gate (c)"),
])
def test_a_card_missing_a_gate_draws_na(gate: str, display: type, word: str) -> None:
    card = _card_without(gate)
    assert getattr(card.diagnostics, gate).verdict == "not run"
    fig, ax = plt.subplots()
    d = display.from_card(card, ax=ax)
    na = [t for t in _texts(ax) if t.startswith("n/a")]
    assert len(na) == 1 and word in na[0]
    fig.canvas.draw()  # renders without error
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue()[:4] == b"\x89PNG"
    assert d.ax_ is ax


def test_a_card_missing_a_gate_beside_others_is_counted_not_drawn(card: Card) -> None:
    no_a = _card_without("a")
    d = BootstrapScatterDisplay.from_cards([card, no_a], names=["full", "no-a"])
    assert [c.name for c in d.cells] == ["full"] and d.n_hidden == 1
    assert "1 cell(s) without (a) not shown" in d.ax_.get_title()
    assert not [t for t in _texts(d.ax_) if t.startswith("n/a")]
    f = FunnelDisplay.from_cards([card, no_a])
    assert [(r.with_result, r.passing) for r in f.funnel.rows][:2] == [(2, 2), (1, 1)]


def test_names_must_match_cards(card: Card) -> None:
    with pytest.raises(ValueError, match="2 names for 1 cards"):
        FunnelDisplay.from_cards([card], names=["x", "y"])


def test_labels_and_title_options(card: Card) -> None:
    d = BootstrapScatterDisplay.from_cards([card, card], names=["p", "q"], labels=False,
                                           title="mine")
    assert d.ax_.get_title() == "mine" and not _texts(d.ax_)
    d.plot(ax=plt.subplots()[1], labels=True, legend=False)
    assert _texts(d.ax_) == ["p", "q"] and d.ax_.get_legend() is None


def test_audit_files_are_the_displays_on_a_fixed_canvas() -> None:
    """render_figures draws each figure with its display: the same drawing by hand
    (fixed canvas, the audit's rc) gives the same SVG."""
    import matplotlib as mpl
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cells = [positive_control_cell(n_resamples=B)]
    rendered = render_figures(cells)
    for name, display in figs.DISPLAYS.items():
        with mpl.rc_context({**figs._RC, "svg.hashsalt": f"acard-{name}"}):
            fig = Figure(figsize=figs.DEFAULT_SIZES[name], layout="constrained")
            FigureCanvasAgg(fig)
            display.from_cells(cells, ax=fig.add_subplot())
            png, svg = io.BytesIO(), io.StringIO()
            fig.savefig(png, format="png", dpi=figs.PNG_DPI, metadata={"Software": None})
            fig.savefig(svg, format="svg", metadata={"Date": None, "Creator": None})
        assert png.getvalue() == rendered[name].png, name
        assert svg.getvalue() == rendered[name].svg, name


def test_verdict_colours_in_figures_are_the_palette() -> None:
    from acceptance_cards.render.palette import CARD_VERDICT_COLOURS

    full, no_c = example_card(n_resamples=B), _card_without("c")
    assert (full.verdict, no_c.verdict) == ("full-card pass", "missing evidence")
    d = BootstrapScatterDisplay.from_cards([full, no_c], names=["full", "no-c"])
    drawn = {c.get_label(): mcolors.to_hex(c.lines[0].get_color()) for c in d.ax_.containers}
    assert drawn == {v: mcolors.to_hex(CARD_VERDICT_COLOURS[v])
                     for v in ("full-card pass", "missing evidence")}
    f = FunnelDisplay.from_card(full)
    passing = f.ax_.containers[1].patches[0]
    assert mcolors.to_hex(passing.get_facecolor()) == CARD_VERDICT_COLOURS["full-card pass"]


def test_facade_exports_the_displays() -> None:
    for name in ("FunnelDisplay", "BootstrapScatterDisplay", "MechanismPlaneDisplay",
                 "render_figures", "write_figures", "RenderedFigure"):
        assert name in figs.__all__


def test_without_matplotlib_a_display_names_the_plots_extra(card: Card,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from acceptance_cards._util.errors import MissingExtraError

    monkeypatch.setitem(__import__("sys").modules, "matplotlib.pyplot", None)
    with pytest.raises(MissingExtraError, match=r"\[plots\]"):
        FunnelDisplay.from_card(card)


def test_scatter_draws_the_delta_g_equals_delta_deploy_diagonal(card: Card) -> None:
    """A cell on it narrowed the gap only by losing deploy accuracy (its eval rate did not move)."""
    from acceptance_cards.audit.report._scatter import DIAGONAL_LABEL

    d = BootstrapScatterDisplay.from_card(card).plot()
    (line,) = [ln for ln in d.ax_.get_lines() if ln.get_label() == DIAGONAL_LABEL]
    assert DIAGONAL_LABEL in [t.get_text() for t in d.ax_.get_legend().get_texts()]
    assert tuple(line.get_xy1()) == (0, 0) and line.get_slope() == 1  # through the origin


def test_funnel_first_row_counts_the_cells_and_shows_no_pass(card: Card) -> None:
    """The audit's own row has no gate: '2 cells', no green bar ('2 pass of 2' misread)."""
    d = FunnelDisplay.from_cards([card, card], names=["x-s1", "y-s1"])
    texts = [t.get_text() for t in d.ax_.texts]
    assert texts[0] == "2 cells" and all(" pass of " in t for t in texts[1:])
    green = [p.get_width() for p in d.ax_.patches if p.get_height() == 0.5]
    assert green[0] == 0 and green[1:] == [r.passing for r in d.funnel.rows[1:]]
