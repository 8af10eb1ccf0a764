"""One colour palette (render/palette.py) for the card page, the audit report and the figures."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import acceptance_cards
from acceptance_cards.audit.cells import positive_control_cell
from acceptance_cards.audit.report.figures import VERDICT_STYLE
from acceptance_cards.audit.report.html import ReportInputs, render_report
from acceptance_cards.card.formatting import CARD_BADGES
from acceptance_cards.render import render_html
from acceptance_cards.render.palette import (
    CARD_VERDICT_COLOURS,
    CARD_VERDICT_VARIABLE,
    CSS_VARIABLES,
    PALETTE,
)
from acceptance_cards.synthetic import example_card
from acceptance_cards.vocab import CARD_VERDICTS

HEX = re.compile(r"#[0-9a-fA-F]{6}\b|#[0-9a-fA-F]{3}\b")


def _style(page: str) -> str:
    (css,) = re.findall(r"<style>(.*?)</style>", page, flags=re.S)
    return css


def _root(css: str) -> dict[str, str]:
    block = re.search(r":root \{(.*?)\}", css, flags=re.S)
    assert block is not None
    return dict(re.findall(r"--([\w-]+): (#[0-9a-fA-F]+);", block.group(1)))


def _rule(css: str, selector: str) -> str:
    m = re.search(re.escape(selector) + r" \{([^}]*)\}", css)
    assert m is not None, selector
    return m.group(1)


@pytest.fixture(scope="module")
def pages() -> dict[str, str]:
    report = render_report(ReportInputs(cells=(positive_control_cell(n_resamples=200),),
                                        card_links={}, figures={}))
    return {"card": render_html(example_card(n_resamples=200)), "report": report}


@pytest.mark.parametrize("page", ["card", "report"])
def test_both_pages_declare_the_palette(pages: dict[str, str], page: str) -> None:
    css = _style(pages[page])
    assert _root(css) == {k: v for group in CSS_VARIABLES for k, v in group.items()}
    # every literal colour of the page is a palette colour
    assert set(HEX.findall(css)) <= set(PALETTE.values())


@pytest.mark.parametrize("page", ["card", "report"])
def test_card_verdict_badges_use_the_verdict_colours(pages: dict[str, str], page: str) -> None:
    css = _style(pages[page])
    root = _root(css)
    for verdict in CARD_VERDICTS:
        rule = _rule(css, "." + CARD_BADGES[verdict].css)
        used = set(re.findall(r"var\(--([\w-]+)\)", rule))
        assert CARD_VERDICT_VARIABLE[verdict] in used, (verdict, rule)
        assert root[CARD_VERDICT_VARIABLE[verdict]] == CARD_VERDICT_COLOURS[verdict]


def test_figures_use_the_verdict_colours() -> None:
    assert {v: colour for v, (colour, _) in VERDICT_STYLE.items()} == dict(CARD_VERDICT_COLOURS)
    assert set(VERDICT_STYLE) == set(CARD_VERDICTS)


def test_no_colour_is_written_anywhere_else() -> None:
    pkg = Path(acceptance_cards.__file__).parent
    owner = pkg / "render" / "palette.py"
    found = {str(f.relative_to(pkg)): HEX.findall(f.read_text(encoding="utf-8"))
             for f in sorted(pkg.rglob("*")) if f.suffix in {".py", ".j2", ".css"} and f != owner}
    assert not {f: c for f, c in found.items() if c}
