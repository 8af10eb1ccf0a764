"""Headless Chromium for the page tests: find it, measure sideways overflow, print to PDF.

A page under test stays script-free; :func:`measure_overflow` loads a *copy*
with one measuring script appended, which writes its findings into the DOM that
``--dump-dom`` returns. Needs Debian's ``chromium``; :func:`find_browser` skips
a test without it, except when ``CI`` is set, where its absence fails.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

#: Flags that keep headless Chromium offline and free of first-run side effects.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--disable-default-apps", "--hide-scrollbars", "--mute-audio",
)

# Lists each element whose box ends right of the window while its parent's box does
# not (the first element of a branch to stick out), skipping anything inside a box
# that clips or scrolls sideways: that content cannot widen the page.
_MEASURE_JS = r"""<script>(function () {
var W = window.innerWidth, out = [];
function clipped(el) {
  for (var p = el.parentElement; p; p = p.parentElement) {
    if (getComputedStyle(p).overflowX !== 'visible') return true;
  }
  return false;
}
document.querySelectorAll('body *').forEach(function (el) {
  var r = el.getBoundingClientRect();
  if (r.right <= W + 0.5 || clipped(el)) return;
  if (el.parentElement.getBoundingClientRect().right > W + 0.5) return;
  var name = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '');
  out.push(name + ' (right edge ' + Math.round(r.right) + ' px): ' +
           (el.textContent || '').trim().slice(0, 60));
});
var pre = document.createElement('pre');
pre.id = 'acard-measure';
pre.textContent = JSON.stringify({window: W, scroll: document.documentElement.scrollWidth,
                                  out: out});
document.body.appendChild(pre);
})();</script>"""


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def find_browser() -> str:
    """The Chromium binary; skip without it, except in CI, where its absence fails."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if in_ci():
        pytest.fail("headless Chromium is required in CI: apt-get install -y chromium")
    pytest.skip("chromium is not installed (apt-get install -y chromium)")


def run_chromium(browser: str, args: list[str], profile: Path
                 ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )


@dataclass(frozen=True)
class Overflow:
    """What the browser measured at one window width."""

    window: int
    scroll_width: int
    sticking_out: list[str]

    @property
    def fits(self) -> bool:
        return self.scroll_width <= self.window and not self.sticking_out


def measure_overflow(browser: str, page: Path, width: int, work: Path) -> Overflow:
    """Load a copy of ``page`` at ``width`` px; measure scrollWidth and what sticks out."""
    work.mkdir(parents=True, exist_ok=True)
    probe = page.with_name(f".probe-{width}-{page.name}")  # beside it: relative links resolve
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", _MEASURE_JS + "</body>"),
                     encoding="utf-8")
    try:
        run = run_chromium(browser, [f"--window-size={width},900", "--dump-dom", probe.as_uri()],
                           work / f"profile-{width}")
    finally:
        probe.unlink()
    assert run.returncode == 0, run.stderr[-2000:]
    m = re.search(r'<pre id="acard-measure">(.*?)</pre>', run.stdout, re.S)
    assert m, "the measuring script did not run"
    got = json.loads(html.unescape(m.group(1)))
    assert got["window"] == width, f"Chromium ignored --window-size: {got['window']} px"
    return Overflow(width, int(got["scroll"]), list(got["out"]))


def print_pdf(browser: str, page: Path, pdf: Path, work: Path) -> None:
    """``chromium --headless --print-to-pdf`` of ``page`` (no header/footer)."""
    run = run_chromium(browser, ["--no-pdf-header-footer", f"--print-to-pdf={pdf}",
                                 page.as_uri()], work / "profile-pdf")
    assert run.returncode == 0, run.stderr[-2000:]
    assert pdf.exists() and pdf.read_bytes()[:5] == b"%PDF-"
