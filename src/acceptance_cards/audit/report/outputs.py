"""Write every output of an audit into one folder (issue 5, item 4).

:func:`write_outputs` is what the audit runner calls once all cells have
cards. It writes, each file atomically (a crash leaves the old file or the new
one, never a torn one)::

    OUTDIR/
      cards/<cell>.json|.md|.html     every cell's card (safe file names)
      cards/positive-control-inputs/  the positive control's synthetic records + mechanism file
      matrix.csv|.md|.tex             the audit matrix
      filter.csv|.md|.tex             the progressive filter
      figures/<name>.png|.svg         funnel, bootstrap scatter, mechanism plane
      sensitivity/<name>.csv|.md      CI level, resampling unit, τ, one-SE screen
      report.html                     one self-contained page tying it together

The positive-control cell (SPEC §6) is always part of the outputs: if no cell
is marked ``positive_control``, one is built with
:func:`~acceptance_cards.audit.cells.positive_control_cell` and appended (its
synthetic records and mechanism file go to ``cards/positive-control-inputs/``,
so ``acard verify`` recomputes its card like every other), and the report says
whether it came out ``full-card pass``.

Example:
    >>> import tempfile
    >>> out = write_outputs([], Path(tempfile.mkdtemp()))
    >>> out.positive_control_passed, out.report.name, len(out.cards)
    (True, 'report.html', 1)
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ..._util.errors import InputError
from ..._util.writes import atomic_write_text
from ...card.model import card_to_json
from ..cells import CellResult, positive_control_cell
from .figures import render_figures, write_figures
from .filter import filter_csv, filter_latex, filter_markdown, progressive_filter
from .html import ReportInputs, render_report
from .matrix import build_matrix, matrix_csv, matrix_latex, matrix_markdown
from .sensitivity import sensitivity_report
from .sensitivity_tables import sensitivity_tables
from .tables import to_csv, to_markdown

#: Card formats written per cell.
CARD_FORMATS: Final = ("json", "md", "html")

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class AuditOutputs:
    """The paths :func:`write_outputs` wrote (absolute, under ``outdir``)."""

    outdir: Path
    cards: Mapping[str, tuple[Path, ...]]
    matrix: tuple[Path, ...]
    filter: tuple[Path, ...]
    figures: tuple[Path, ...]
    sensitivity: tuple[Path, ...]
    report: Path
    positive_control_passed: bool
    control_inputs: tuple[Path, ...] = ()  # the added positive control's synthetic inputs

    def paths(self) -> tuple[Path, ...]:
        """Every file written, cards first, the report last."""
        cards = tuple(p for ps in self.cards.values() for p in ps)
        return (*cards, *self.control_inputs, *self.matrix, *self.filter, *self.figures,
                *self.sensitivity, self.report)


def safe_names(names: Sequence[str]) -> dict[str, str]:
    """A file-system-safe, unique stem for every cell name.

    Characters outside ``[A-Za-z0-9._-]`` become ``-``; a stem that would clash
    (also case-insensitively, for macOS and Windows) gets ``-2``, ``-3``, ….

    Example:
        >>> safe_names(["AC AdamW/s42", "ac adamw:s42", ".."])
        {'AC AdamW/s42': 'AC-AdamW-s42', 'ac adamw:s42': 'ac-adamw-s42-2', '..': 'cell'}
    """
    out: dict[str, str] = {}
    taken: set[str] = set()
    for name in names:
        stem = _UNSAFE.sub("-", name).strip(".-") or "cell"
        candidate, i = stem, 1
        while candidate.lower() in taken:
            i += 1
            candidate = f"{stem}-{i}"
        taken.add(candidate.lower())
        out[name] = candidate
    return out


def with_positive_control(cells: Sequence[CellResult], *,
                          card_dir: Path | None = None) -> tuple[CellResult, ...]:
    """``cells``, plus the synthetic positive control if none is marked as one.

    With ``card_dir`` the control's synthetic inputs are written beside its card
    there, so the card is verifiable.
    """
    if any(c.positive_control for c in cells):
        return tuple(cells)
    return (*cells, positive_control_cell(card_dir=card_dir))


def _check_names(cells: Sequence[CellResult]) -> None:
    seen: set[str] = set()
    for c in cells:
        if c.name in seen:
            raise InputError(f"two cells are named {c.name!r}; cell names must be unique",
                             field="cell")
        seen.add(c.name)


def _write_cards(cells: Sequence[CellResult], folder: Path,
                 stems: Mapping[str, str]) -> dict[str, tuple[Path, ...]]:
    from ...render import render  # the renderers are only needed here

    out: dict[str, tuple[Path, ...]] = {}
    for c in cells:
        paths = tuple(folder / f"{stems[c.name]}.{fmt}" for fmt in CARD_FORMATS)
        atomic_write_text(paths[0], card_to_json(c.card))
        atomic_write_text(paths[1], render(c.card, "md"))
        atomic_write_text(paths[2], render(c.card, "html"))
        out[c.name] = paths
    return out


def _write_all(texts: Mapping[Path, str]) -> tuple[Path, ...]:
    for path, text in texts.items():
        atomic_write_text(path, text)
    return tuple(texts)


def write_outputs(
    cells: Sequence[CellResult],
    outdir: Path,
    *,
    progress: Callable[[str], None] | None = None,
    unfinished: Sequence[str] = (),
) -> AuditOutputs:
    """Write cards, matrix, filter, figures, sensitivity tables and ``report.html``.

    ``progress`` is called with a short message before each step (the CLI
    turns it into a progress display). ``unfinished`` names cells of the audit
    that have no results yet (interim outputs); the report lists them. Raises
    :class:`InputError` if two cells share a name.
    """
    say = progress or (lambda _msg: None)
    outdir = Path(outdir).resolve()
    all_cells = with_positive_control(cells, card_dir=outdir / "cards")
    control_inputs = tuple((outdir / "cards" / i.path).resolve() for c in all_cells[len(cells):]
                           for i in c.card.provenance.inputs)
    _check_names(all_cells)
    stems = safe_names([c.name for c in all_cells])

    say(f"writing {len(all_cells)} card(s)")
    cards = _write_cards(all_cells, outdir / "cards", stems)

    say("writing the audit matrix")
    m = build_matrix(all_cells)
    matrix = _write_all({outdir / "matrix.csv": matrix_csv(m), outdir / "matrix.md":
                         matrix_markdown(m), outdir / "matrix.tex": matrix_latex(m)})

    say("writing the progressive filter")
    f = progressive_filter(all_cells)
    filt = _write_all({outdir / "filter.csv": filter_csv(f), outdir / "filter.md":
                       filter_markdown(f), outdir / "filter.tex": filter_latex(f)})

    say("computing the sensitivity tables")
    sens = sensitivity_report(all_cells)
    sens_texts: dict[Path, str] = {}
    for stem, table in sensitivity_tables(sens).items():
        sens_texts[outdir / "sensitivity" / f"{stem}.csv"] = to_csv(table)
        sens_texts[outdir / "sensitivity" / f"{stem}.md"] = to_markdown(table)
    sensitivity = _write_all(sens_texts)

    say("drawing the figures")
    figs = render_figures(all_cells)
    figures = write_figures(figs, outdir / "figures")

    say("writing report.html")
    report = outdir / "report.html"
    rel = {c.name: _rel(cards[c.name][2], outdir) for c in all_cells}
    fig_links = {n: tuple(_rel(p, outdir) for p in figures if p.stem == n) for n in figs}
    atomic_write_text(report, render_report(ReportInputs(
        cells=all_cells, card_links=rel, figures=figs, figure_links=fig_links,
        sensitivity=sens, unfinished=tuple(unfinished))))
    return AuditOutputs(
        outdir=outdir, cards=cards, matrix=matrix, filter=filt, figures=figures,
        sensitivity=sensitivity, report=report, control_inputs=control_inputs,
        positive_control_passed=all(c.card.verdict == "full-card pass"
                                    for c in all_cells if c.positive_control),
    )


def _rel(path: Path, root: Path) -> str:
    """A POSIX relative link from ``root`` (where report.html lives) to ``path``."""
    return Path(os.path.relpath(path, root)).as_posix()


__all__ = ["CARD_FORMATS", "AuditOutputs", "safe_names", "with_positive_control", "write_outputs"]
