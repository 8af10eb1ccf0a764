"""report.html renders in a real browser: headless Chromium, offline.

Needs Debian's ``chromium`` (``apt-get install -y chromium``). Without it the
test is skipped on a developer machine, but it **fails** when ``CI`` is set, so
a CI image that lacks the browser cannot pass silently.
"""

from __future__ import annotations

import os
from html.parser import HTMLParser
from pathlib import Path

import pytest

from acceptance_cards.audit.report.outputs import AuditOutputs
from browser import find_browser, run_chromium
from helpers import synthetic_audit


@pytest.fixture(scope="module")
def browser() -> str:
    """The Chromium binary (skip without it, except in CI: see :func:`browser.find_browser`)."""
    return find_browser()


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> AuditOutputs:
    out: AuditOutputs = synthetic_audit(tmp_path_factory.mktemp("report"))
    return out


class _Dom(HTMLParser):
    """Counts what the rendered DOM holds, by element id and tag."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.ids: set[str] = set()
        self.matrix_rows = 0
        self.svgs_in_figures = 0
        self.svg_text = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(str(a["id"]))
        if tag == "tr" and "matrix-table" in self.stack and a.get("data-cell"):
            self.matrix_rows += 1
        if tag == "svg" and "figures" in self.stack:
            self.svgs_in_figures += 1
        if tag == "text" and "figures" in self.stack:
            self.svg_text += 1
        if a.get("id") in ("matrix-table", "figures"):
            self.stack.append(str(a["id"]))

    def handle_endtag(self, tag: str) -> None:
        if (tag == "table" and self.stack and self.stack[-1] == "matrix-table") or (
                tag == "section" and self.stack and self.stack[-1] == "figures"):
            self.stack.pop()


def test_report_renders_matrix_and_figures(browser: str, report: AuditOutputs,
                                           tmp_path: Path) -> None:
    run = run_chromium(browser, ["--dump-dom", report.report.as_uri()], tmp_path / "profile")
    assert run.returncode == 0, run.stderr[-2000:]
    dom = _Dom()
    dom.feed(run.stdout)
    assert {"matrix-table", "filter-table", "figures", "positive-control-status",
            "figure-funnel", "figure-bootstrap_scatter", "figure-mechanism_plane"} <= dom.ids
    assert dom.matrix_rows == 4  # three cells + the positive control write_outputs added
    assert dom.svgs_in_figures == 3
    assert dom.svg_text > 20  # axis labels, ticks and cell names are real SVG text
    for name in ("ac-adamw-s42", "safelora-s43", "gated-s44", "positive-control"):
        assert name in run.stdout
    assert "came out" in run.stdout and "full-card pass" in run.stdout


def test_report_screenshot(browser: str, report: AuditOutputs, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    run = run_chromium(browser, ["--window-size=1400,2400", f"--screenshot={shot}",
                        report.report.as_uri()], tmp_path / "profile")
    assert run.returncode == 0, run.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000
    keep = os.environ.get("ACARD_KEEP_SCREENSHOT")
    if keep:  # for a human to look at: ACARD_KEEP_SCREENSHOT=/tmp/report.png
        Path(keep).write_bytes(data)
