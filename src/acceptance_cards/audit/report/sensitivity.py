"""Sensitivity tables: which verdicts move when a threshold or estimator changes.

Each analysis perturbs one setting of one gate, recomputes that gate from the
cell's evidence, re-applies the card-level verdict order with the other three
gates unchanged, and compares against the **default** (the cell's card as
built). A row lists every move as text (``"(a) at 90%: fail → pass"``), so a
reader sees at a glance whether a headline depends on a threshold.

- **CI level** for (a): 90 / 95 / 99% (:data:`~acceptance_cards.constants.SENSITIVITY_CI_LEVELS`),
  same seed and resample count as the card.
- **Resampling unit** for (a): question-clustered (the gate; the card's CI) vs
  item-level (every evaluation independent), CI widths side by side. The
  item-level CI is the error the clustered design prevents; it is never a gate.
- **τ sweep** for (c): 0.4 / 0.6 / 0.8 (:data:`~acceptance_cards.constants.SENSITIVITY_TAUS`).
- **One-SE paired-only screen** for (b): Δ + 1·SE_paired < 0
  (:data:`~acceptance_cards.constants.SCREEN_SE_MULTIPLIER`), an exploratory
  label beside the strict two-check 2-SE rule, never a replacement.
- **Multiplicity** across the audit (:mod:`.sensitivity_multiplicity`): per-gate
  passes next to what chance alone gives, and Holm-adjusted (a); no verdict moves.

A cell that carries no records (an imported card) cannot be recomputed for
(a): its rows say so instead of guessing. The tables (CSV/Markdown) are built
in :mod:`acceptance_cards.audit.report.sensitivity_tables`.

Example:
    >>> from acceptance_cards.audit.cells import positive_control_cell
    >>> s = tau_sweep([positive_control_cell(n_resamples=200)])
    >>> [r.gates for r in s.rows], s.moved
    ([('pass', 'pass', 'pass')], ())
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from pydantic import BaseModel, ConfigDict

from ..._util.errors import InputError
from ...card.formatting import fmt_level
from ...card.model import gate_verdicts
from ...card.verdict import CardVerdict, conclude
from ...constants import SCREEN_SE_MULTIPLIER, SENSITIVITY_CI_LEVELS, SENSITIVITY_TAUS
from ...diagnostics import (
    GateVerdict,
    run_clustered_bootstrap,
    run_parameter_signature,
    signed_class,
)
from ...stats.bootstrap import min_resamples
from ..cells import CellResult
from .sensitivity_multiplicity import MultiplicitySensitivity, multiplicity

#: Text for a value that cannot be recomputed (the cell carries no records).
NO_RECORDS: Final = "no records to recompute from"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _states(cell: CellResult) -> dict[str, GateVerdict]:
    return gate_verdicts(cell.card.diagnostics)


def _verdict_with(cell: CellResult, gate: str, state: GateVerdict) -> CardVerdict:
    """The card verdict if ``gate`` came out ``state`` and the other gates stayed."""
    return conclude({**_states(cell), gate: state}).verdict


def _moves(cell: CellResult, gate: str, setting: str, state: GateVerdict | None) -> list[str]:
    if state is None:
        return []
    out = []
    old = _states(cell)[gate]
    if state != old:
        out.append(f"({gate}) {setting}: {old} → {state}")
    new_v = _verdict_with(cell, gate, state)
    if new_v != cell.card.verdict:
        out.append(f"verdict {setting}: {cell.card.verdict} → {new_v}")
    return out


# --- (a) CI level ----------------------------------------------------------------------------


class CiLevelRow(_Frozen):
    """Gate (a) of one cell at each CI level."""

    cell: str
    default_level: float | None
    ci_high: tuple[float | None, ...]
    gates: tuple[GateVerdict | None, ...]
    verdicts: tuple[CardVerdict | None, ...]
    moves: tuple[str, ...]
    note: str | None = None


class CiLevelSensitivity(_Frozen):
    """(a) at every level of :data:`SENSITIVITY_CI_LEVELS`."""

    levels: tuple[float, ...]
    rows: tuple[CiLevelRow, ...]

    @property
    def moved(self) -> tuple[str, ...]:
        """Cells whose (a) state or card verdict moves at some level."""
        return tuple(r.cell for r in self.rows if r.moves)


def ci_level_sensitivity(
    cells: Sequence[CellResult], *, levels: Sequence[float] = SENSITIVITY_CI_LEVELS
) -> CiLevelSensitivity:
    """Recompute (a) at each CI level (same seed; the card's resample count, or the level's minimum)."""
    rows = []
    for cell in cells:
        a, o = cell.card.diagnostics.a, cell.card.options
        if a.verdict == "not run":
            n = len(levels)
            rows.append(CiLevelRow(cell=cell.name, default_level=None, ci_high=(None,) * n,
                                   gates=("not run",) * n, verdicts=(cell.card.verdict,) * n,
                                   moves=()))
            continue
        if cell.baseline is None or cell.defense is None:
            n = len(levels)
            rows.append(CiLevelRow(cell=cell.name, default_level=a.ci_level, ci_high=(None,) * n,
                                   gates=(None,) * n, verdicts=(None,) * n, moves=(),
                                   note=NO_RECORDS))
            continue
        highs: list[float | None] = []
        gates: list[GateVerdict | None] = []
        verdicts: list[CardVerdict | None] = []
        moves: list[str] = []
        for level in levels:
            # a stricter level needs more draws in its tails: never fewer than its minimum
            g = run_clustered_bootstrap(cell.baseline, cell.defense, seed=o.seed,
                                        n_resamples=max(o.n_resamples, min_resamples(level)),
                                        ci_level=level, min_questions=o.min_questions)
            highs.append(g.ci_high)
            gates.append(g.verdict)
            verdicts.append(_verdict_with(cell, "a", g.verdict))
            moves += _moves(cell, "a", f"at {fmt_level(level)}", g.verdict)
        rows.append(CiLevelRow(cell=cell.name, default_level=a.ci_level, ci_high=tuple(highs),
                               gates=tuple(gates), verdicts=tuple(verdicts), moves=tuple(moves)))
    return CiLevelSensitivity(levels=tuple(levels), rows=tuple(rows))


# --- (a) resampling unit ---------------------------------------------------------------------


class UnitRow(_Frozen):
    """Question-clustered vs item-level CI of ΔG for one cell."""

    cell: str
    ci_level: float | None
    clustered_ci: tuple[float, float] | None
    item_ci: tuple[float, float] | None
    clustered_gate: GateVerdict
    item_gate: GateVerdict | None
    moves: tuple[str, ...]
    note: str | None = None

    @property
    def clustered_width(self) -> float | None:
        return None if self.clustered_ci is None else self.clustered_ci[1] - self.clustered_ci[0]

    @property
    def item_width(self) -> float | None:
        return None if self.item_ci is None else self.item_ci[1] - self.item_ci[0]

    @property
    def width_ratio(self) -> float | None:
        """Item-level width / clustered width (the paper found about 0.5)."""
        cw, iw = self.clustered_width, self.item_width
        return None if cw is None or iw is None or cw == 0 else iw / cw


class UnitSensitivity(_Frozen):
    """The resampling-unit comparison for every cell."""

    rows: tuple[UnitRow, ...]

    @property
    def moved(self) -> tuple[str, ...]:
        return tuple(r.cell for r in self.rows if r.moves)


def unit_sensitivity(cells: Sequence[CellResult]) -> UnitSensitivity:
    """Item-level bootstrap of (a) beside the card's question-clustered CI."""
    rows = []
    for cell in cells:
        a, o = cell.card.diagnostics.a, cell.card.options
        clustered = (a.ci_low, a.ci_high) if a.ci_low is not None and a.ci_high is not None \
            else None
        base = dict(cell=cell.name, ci_level=a.ci_level, clustered_ci=clustered,
                    clustered_gate=a.verdict)
        if a.verdict == "not run":
            rows.append(UnitRow(**base, item_ci=None, item_gate="not run", moves=()))
            continue
        if cell.baseline is None or cell.defense is None:
            rows.append(UnitRow(**base, item_ci=None, item_gate=None, moves=(), note=NO_RECORDS))
            continue
        try:
            g = run_clustered_bootstrap(cell.baseline, cell.defense, seed=o.seed,
                                        n_resamples=o.n_resamples, ci_level=o.ci_level,
                                        unit="item", min_questions=o.min_questions)
        except InputError as exc:
            rows.append(UnitRow(**base, item_ci=None, item_gate=None, moves=(),
                                note=f"item-level pairing impossible: {exc.message}"))
            continue
        assert g.ci_low is not None and g.ci_high is not None
        rows.append(UnitRow(**base, item_ci=(g.ci_low, g.ci_high), item_gate=g.verdict,
                            moves=tuple(_moves(cell, "a", "item-level", g.verdict))))
    return UnitSensitivity(rows=tuple(rows))


# --- (c) τ sweep ---------------------------------------------------------------------------------


class TauRow(_Frozen):
    """Gate (c) of one cell at each τ."""

    cell: str
    rho: float | None
    claimed_class: str
    signed: tuple[str | None, ...]
    gates: tuple[GateVerdict, ...]
    verdicts: tuple[CardVerdict, ...]
    moves: tuple[str, ...]


class TauSensitivity(_Frozen):
    """(c) at every τ of :data:`SENSITIVITY_TAUS`."""

    taus: tuple[float, ...]
    rows: tuple[TauRow, ...]

    @property
    def moved(self) -> tuple[str, ...]:
        return tuple(r.cell for r in self.rows if r.moves)


def _gate_c_at(cell: CellResult, tau: float) -> tuple[str | None, GateVerdict]:
    c = cell.card.diagnostics.c
    if cell.mechanism is not None:
        g = run_parameter_signature(cell.mechanism, claimed_class=c.claimed_class, tau=tau)
        return g.signed_class, g.verdict
    if c.rho is None:  # not run, or undefined: τ cannot change that
        return None, c.verdict
    # An imported card without its mechanism file: apply the class rule to its ρ.
    cls = signed_class(c.rho, tau=tau)
    if c.claimed_class == "unstated":
        return cls, "fail"
    return cls, "pass" if cls == c.claimed_class else "fail"


def tau_sweep(cells: Sequence[CellResult], *, taus: Sequence[float] = SENSITIVITY_TAUS
              ) -> TauSensitivity:
    """Re-sign (c) at each τ; the claimed class stays what the card declared."""
    rows = []
    for cell in cells:
        c = cell.card.diagnostics.c
        signed: list[str | None] = []
        gates: list[GateVerdict] = []
        moves: list[str] = []
        for tau in taus:
            cls, g = _gate_c_at(cell, tau)
            signed.append(cls)
            gates.append(g)
            moves += _moves(cell, "c", f"at τ={tau:g}", g)
        rows.append(TauRow(cell=cell.name, rho=c.rho, claimed_class=c.claimed_class,
                           signed=tuple(signed), gates=tuple(gates),
                           verdicts=tuple(_verdict_with(cell, "c", g) for g in gates),
                           moves=tuple(moves)))
    return TauSensitivity(taus=tuple(taus), rows=tuple(rows))


# --- (b) one-SE paired-only screen ----------------------------------------------------------------


class ScreenRow(_Frozen):
    """Gate (b) of one cell beside the one-SE paired-only screen."""

    cell: str
    delta: float | None
    se_paired: float | None
    gate: GateVerdict
    screen: GateVerdict
    verdict_with_screen: CardVerdict
    moves: tuple[str, ...]


class ScreenSensitivity(_Frozen):
    """The one-SE paired-only screen for every cell."""

    multiplier: float
    rows: tuple[ScreenRow, ...]

    @property
    def moved(self) -> tuple[str, ...]:
        return tuple(r.cell for r in self.rows if r.moves)


def one_se_screen(cells: Sequence[CellResult], *, k: float = SCREEN_SE_MULTIPLIER
                  ) -> ScreenSensitivity:
    """Screen (b) with Δ + k·SE_paired < 0 only (k = 1): an exploratory label, not the gate."""
    rows = []
    for cell in cells:
        b = cell.card.diagnostics.b
        screen: GateVerdict
        if b.verdict in ("not run", "n/a") or b.delta is None or b.se_paired is None:
            screen = b.verdict
        else:
            screen = "pass" if b.delta + k * b.se_paired < 0 else "fail"
        rows.append(ScreenRow(cell=cell.name, delta=b.delta, se_paired=b.se_paired,
                              gate=b.verdict, screen=screen,
                              verdict_with_screen=_verdict_with(cell, "b", screen),
                              moves=tuple(_moves(cell, "b", f"{k:g}-SE screen", screen))))
    return ScreenSensitivity(multiplier=k, rows=tuple(rows))


class SensitivityReport(_Frozen):
    """All four analyses, and multiplicity across the audit."""

    ci_level: CiLevelSensitivity
    unit: UnitSensitivity
    tau: TauSensitivity
    screen: ScreenSensitivity
    multiplicity: MultiplicitySensitivity


def sensitivity_report(cells: Sequence[CellResult]) -> SensitivityReport:
    """Run all four analyses and the multiplicity summary on ``cells``."""
    return SensitivityReport(ci_level=ci_level_sensitivity(cells), unit=unit_sensitivity(cells),
                             tau=tau_sweep(cells), screen=one_se_screen(cells),
                             multiplicity=multiplicity(cells))


__all__ = [
    "NO_RECORDS", "CiLevelRow", "CiLevelSensitivity", "ScreenRow", "ScreenSensitivity",
    "SensitivityReport", "TauRow", "TauSensitivity", "UnitRow", "UnitSensitivity",
    "ci_level_sensitivity", "one_se_screen", "sensitivity_report", "tau_sweep",
    "unit_sensitivity",
]
