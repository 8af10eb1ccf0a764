"""The card and the audit report read right in a real browser (headless Chromium).

At 1024 and 768 px neither page may be wider than the window: long labels wrap,
wide tables scroll inside their own box. The card prints to A4 pages. The
synthetic demo card (``make demo-card``) is the page that used to overflow: its
"Deployment-accuracy cost" grid put a long label in a ``max-content`` column
and pushed the values to 1286 px.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from acceptance_cards.audit.report.outputs import AuditOutputs
from browser import find_browser, measure_overflow, print_pdf
from helpers import synthetic_audit

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "synthetic"
#: Window widths every page must fit (a laptop and a tablet in portrait).
WIDTHS = (1024, 768)
#: A4 in PostScript points, as Chromium writes the MediaBox.
A4_POINTS = (595.0, 842.0)


@pytest.fixture(scope="module")
def browser() -> str:
    return find_browser()


@pytest.fixture(scope="module")
def demo_card(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic demo card, built as ``make demo-card`` builds it."""
    out = tmp_path_factory.mktemp("demo")
    ex = EXAMPLE
    code = _cli(["card", "--baseline", str(ex / "baseline.jsonl"),
                 "--defense", str(ex / "defense.jsonl"),
                 "--cross-baseline", str(ex / "cross_baseline.jsonl"),
                 "--cross-defense", str(ex / "cross_defense.jsonl"),
                 "--mechanism", str(ex / "mechanism.json"), "--claimed-class", "attack-targeted",
                 "--meta", str(ex / "meta.toml"), "--seed", "0", "--resamples", "1000",
                 "-o", str(out / "card.json"), "--html", str(out / "card.html")])
    assert code == 0
    return out / "card.html"


def _cli(argv: list[str]) -> int:
    from acceptance_cards.cli import main

    with pytest.raises(SystemExit) as ei:
        main(argv)
    return int(ei.value.code or 0)


@pytest.fixture(scope="module")
def audit(tmp_path_factory: pytest.TempPathFactory) -> AuditOutputs:
    out: AuditOutputs = synthetic_audit(tmp_path_factory.mktemp("audit"))
    return out


@pytest.mark.parametrize("width", WIDTHS)
def test_demo_card_fits_the_window(browser: str, demo_card: Path, width: int,
                                   tmp_path: Path) -> None:
    m = measure_overflow(browser, demo_card, width, tmp_path)
    assert m.fits, (f"card is {m.scroll_width} px wide in a {width} px window; "
                    f"sticking out: {m.sticking_out}")


@pytest.mark.parametrize("width", WIDTHS)
def test_audit_report_and_its_cards_fit_the_window(browser: str, audit: AuditOutputs,
                                                   width: int, tmp_path: Path) -> None:
    pages = [audit.report, *sorted((audit.report.parent / "cards").glob("*.html"))]
    assert len(pages) == 5  # report + three cells + the positive control
    bad = {}
    for page in pages:
        m = measure_overflow(browser, page, width, tmp_path)
        if not m.fits:
            bad[page.name] = (m.scroll_width, m.sticking_out)
    assert not bad, f"pages wider than {width} px: {bad}"


def test_demo_card_prints_to_readable_a4(browser: str, demo_card: Path, tmp_path: Path) -> None:
    pdf = tmp_path / "card.pdf"
    print_pdf(browser, demo_card, pdf, tmp_path)
    raw = pdf.read_bytes()
    boxes = {tuple(round(float(x)) for x in m.groups())
             for m in re.finditer(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", raw)}
    assert boxes == {tuple(round(x) for x in A4_POINTS)}, boxes
    pages = len(re.findall(rb"/Type\s*/Page[^s]", raw))
    assert 2 <= pages <= 10, pages
    if shutil.which("pdftotext") is None:
        return  # poppler-utils absent: the page size and count above still hold
    page1 = subprocess.run(["pdftotext", "-f", "1", "-l", "1", "-layout", str(pdf), "-"],
                           capture_output=True, text=True, check=True).stdout
    assert "full-card pass" in page1 and "Gates" in page1
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"],
                          capture_output=True, text=True, check=True).stdout
    # the deploy-cost values that used to sit off-screen are on the printed page
    section = text[text.index("Deployment-accuracy cost"):]
    assert re.search(r"[+-]\d+\.\d pp \(95% CI", section)
    assert "deploy-rate change on the fresh split" in " ".join(section.split())
