"""Card commands: card, validate, render, verify, lint-claim, schema, power."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from .._util.errors import InputError
from .._util.files import check_inputs, check_outputs, read_text
from .._util.writes import atomic_write_many, atomic_write_text
from ..card.build import build_card_from_files
from ..card.formatting import fmt_pp
from ..card.metadata import CardMetadata
from ..card.model import Card, CardOptions, card_to_json, load_card, schema_text
from ..constants import (
    CI_LEVEL,
    DEFAULT_SEED,
    DEGENERATE_CEILING,
    DEGENERATE_FLOOR,
    MIN_QUESTION_CLUSTERS,
    N_RESAMPLES,
    POWER,
    TAU,
)
from ..vocab import ClaimedClass, RenderFormat, RequireLevel, Split
from .check_cmds import REQUIRE_HELP, enforce

_out = Console(highlight=False, soft_wrap=True)


def _check_options(*, resamples: int, **values: float) -> None:
    """Numbers the option parser lets through that the card contract does not."""
    from ..stats.bootstrap import check_resamples

    for name, v in values.items():
        if not math.isfinite(v):
            raise InputError(f"must be a finite number, got {v!r}", field=f"--{name}")
    if values["tau"] <= 0:
        raise InputError(f"must be above 0, got {values['tau']!r}", field="--tau")
    if values["floor"] > values["ceiling"]:
        raise InputError(f"the degenerate floor {values['floor']} is above the ceiling "
                         f"{values['ceiling']}", field="--floor")
    check_resamples(resamples, values["ci_level"], field="--resamples")


def _render(card: Card, fmt: RenderFormat) -> str:
    from ..render import render

    return render(card, fmt)


def card(
    baseline: Annotated[Path, typer.Option("--baseline", "-b", help="Baseline (AdamW) records.")],
    defense: Annotated[Path, typer.Option("--defense", "-d", help="Defense records.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Card JSON to write.")],
    cross_baseline: Annotated[Path | None, typer.Option(help="Cross-task baseline records.")] = None,
    cross_defense: Annotated[Path | None, typer.Option(help="Cross-task defense records.")] = None,
    mechanism: Annotated[Path | None, typer.Option(help="Mechanism file (gate c).")] = None,
    claimed_class: Annotated[ClaimedClass, typer.Option(help="Claimed mechanism class.")] = "unstated",
    seed: Annotated[int, typer.Option(min=0, help="Bootstrap seed.")] = DEFAULT_SEED,
    resamples: Annotated[int, typer.Option(min=1, help="Bootstrap resamples.")] = N_RESAMPLES,
    ci_level: Annotated[float, typer.Option(min=0.5, max=0.999, help="CI level of (a).")] = CI_LEVEL,
    min_questions: Annotated[int, typer.Option(
        min=1, help="(a) is n/a below this many held-out question clusters.")] = MIN_QUESTION_CLUSTERS,
    tau: Annotated[float, typer.Option(min=0.0, help="τ of (c).")] = TAU,
    floor: Annotated[float, typer.Option(min=0.0, max=1.0, help="Degenerate floor of (d).")
                     ] = DEGENERATE_FLOOR,
    ceiling: Annotated[float, typer.Option(min=0.0, max=1.0, help="Degenerate ceiling of (d).")
                       ] = DEGENERATE_CEILING,
    cross_restricted: Annotated[bool, typer.Option(
        help="The cross task ran a restricted recipe variant (d can only pass with caveat).")] = False,
    meta: Annotated[Path | None, typer.Option(
        help="JSON/TOML with title, model, recipe, task, compute, notes.")] = None,
    title: Annotated[str | None, typer.Option(help="Card title.")] = None,
    markdown: Annotated[Path | None, typer.Option(help="Also write Markdown here.")] = None,
    html: Annotated[Path | None, typer.Option(help="Also write HTML here.")] = None,
    require: Annotated[RequireLevel | None, typer.Option(help=REQUIRE_HELP)] = None,
    allow_same_cell: Annotated[bool, typer.Option(
        help="Build the card even when baseline and defense name the same cell.")] = False,
) -> None:
    """Build a card from baseline/defense records (+ cross task, mechanism).

    Exit 0 when the card was written, whatever its verdict; with --require, 1
    when the verdict is below that level (the card is still written); 2 on bad input.
    """
    ins = {"--baseline": baseline, "--defense": defense, "--cross-baseline": cross_baseline,
           "--cross-defense": cross_defense, "--mechanism": mechanism, "--meta": meta}
    _check_options(resamples=resamples, ci_level=ci_level, tau=tau, floor=floor, ceiling=ceiling)
    check_inputs(ins)
    check_outputs({"--output": output, "--markdown": markdown, "--html": html}, list(ins.values()))
    options = CardOptions(
        seed=seed, n_resamples=resamples, ci_level=ci_level, min_questions=min_questions, tau=tau,
        degenerate_floor=floor, degenerate_ceiling=ceiling, claimed_class=claimed_class,
        cross_restricted_variant=cross_restricted)
    # the metadata file is an input like the records (hashed; `verify` re-reads it);
    # --title overrides its title and the card records that it did
    c = build_card_from_files(
        baseline, defense, cross_baseline=cross_baseline, cross_defense=cross_defense,
        mechanism=mechanism, options=options, metadata=CardMetadata(title=title),
        metadata_file=meta, metadata_overrides=("title",) if title is not None and meta else (),
        relative_to=output.resolve().parent,
    )
    _check_two_cells(c, defense, allow_same_cell=allow_same_cell)
    _write_card(c, output, {markdown: "md", html: "html"})
    enforce(c, require)


def _check_two_cells(c: Card, defense: Path, *, allow_same_cell: bool) -> None:
    """A card compares two cells: the same cell on both sides is an input error unless allowed."""
    if c.baseline_gap.cell == c.defense_gap.cell and not allow_same_cell:
        raise InputError(
            f"baseline and defense are both cell {c.baseline_gap.cell!r}: a card compares two "
            "cells. If they are two models, import them with --cell NAME each (an importer names "
            "the cell after the model, and `hf/local` is `local` for every local model); "
            "--allow-same-cell builds it anyway", path=defense, field="cell")


def _write_card(c: Card, output: Path, renders: dict[Path | None, RenderFormat]) -> None:
    """Write the card JSON and its renders (all or nothing), then print its one-line summary."""
    texts = {output: card_to_json(c)}  # rendered first: a render error writes nothing
    texts |= {path: _render(c, fmt) for path, fmt in renders.items() if path}
    atomic_write_many({path: text.encode("utf-8") for path, text in texts.items()})
    gates = " ".join(f"({g}) {getattr(c.diagnostics, g).verdict}" for g in "abcd")
    _out.print(f"{c.verdict} — {c.summary}; {gates}; deploy cost "
               f"{_pp(c.deploy_cost.point)} → {output}", markup=False)


def _pp(x: float | None) -> str:
    return "n/a" if x is None else fmt_pp(x)


def validate(
    files: Annotated[list[Path], typer.Argument(help="Record files, mechanism or card JSON.")],
) -> None:
    """Validate record files (JSONL/CSV/Parquet), mechanism files or cards."""
    from ..mechanism import load_mechanism
    from ..records import load_records

    for f in files:
        kind = _kind(f)
        if kind == "card":
            c = load_card(f)
            _out.print(f"{f}: valid card ({c.verdict}, {c.summary})", markup=False)
        elif kind == "mechanism":
            mm = load_mechanism(f)
            _out.print(f"{f}: valid mechanism file ({len(mm.slice)} slice tensors, "
                       f"{mm.n_calibration} calibration items)", markup=False)
        else:
            rs = load_records(f)
            parts = []
            for split in rs.splits():
                s = rs.select(split)
                nq = len(set(s.question_id.tolist()))
                parts.append(f"{split}: {nq} questions, {int(s.is_eval.sum())} eval + "
                             f"{int((~s.is_eval).sum())} deploy")
            _out.print(f"{f}: {len(rs)} valid records, cell {rs.cell!r}, task {rs.task!r}; "
                       + "; ".join(parts), markup=False)


def _kind(f: Path) -> str:
    if f.suffix.lower() != ".json" or f.is_dir():
        return "records"
    try:
        head = json.loads(read_text(f))
    except (json.JSONDecodeError, RecursionError):
        return "records"  # a .json that is JSON lines
    if isinstance(head, dict) and "diagnostics" in head:
        return "card"
    if isinstance(head, dict) and "dot_t" in head:
        return "mechanism"
    return "records"


def render_cmd(
    card_path: Annotated[Path, typer.Argument(metavar="CARD", help="Card JSON.")],
    fmt: Annotated[RenderFormat, typer.Option("--format", "-f", help="Output format.")] = "md",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File (default stdout).")] = None,
) -> None:
    """Render a card as Markdown, self-contained HTML, or a LaTeX table."""
    check_outputs({"--output": output}, [card_path])
    text = _render(load_card(card_path), fmt)
    if output is None:
        typer.echo(text, nl=False)
    else:
        atomic_write_text(output, text)


#: Exit code of `acard verify` when the card records no input files to recompute it from
#: (distinct from 1, "recomputed and it differs", and 2, bad input).
EXIT_NOTHING_TO_VERIFY = 3


def verify(
    card_paths: Annotated[list[Path], typer.Argument(metavar="CARD...", help="Card JSON file(s).")],
) -> None:
    """Recompute each card from its recorded inputs: exit 0 if all match, 1 on any difference
    or missing input, 3 if a card records no input files to recompute it from."""
    codes = []
    for path in card_paths:
        if len(card_paths) > 1:  # one card keeps its output as it always was
            _out.print(f"{path}:", markup=False)
        codes.append(_verify_one(path, several=len(card_paths) > 1))
    code = 1 if 1 in codes else max(codes)
    if code:
        raise typer.Exit(code)


def _verify_one(card_path: Path, *, several: bool = False) -> int:
    from ..card.verify import verify_card

    try:  # among several, one unreadable card is that card's failure; the rest still verify
        c = load_card(card_path)
    except InputError as exc:
        if not several:  # one card: a bad-input error as always (exit 2)
            raise
        _out.print(f"NOT verified: cannot read the card: {exc}", markup=False)
        return 1
    rep = verify_card(c, card_dir=card_path.resolve().parent)
    if rep.status == "no-inputs":
        _out.print(f"cannot verify: {rep.error}", markup=False)
        return EXIT_NOTHING_TO_VERIFY
    for chk in rep.inputs:
        state = "ok" if chk.ok else ("MISSING" if chk.actual_sha256 is None else "CHANGED")
        _out.print(f"input {chk.role:15s} {state:8s} {chk.path}", markup=False)
    if rep.status == "missing-inputs":
        _out.print(f"NOT verified: cannot recompute, {rep.error}", markup=False)
        return 1
    for d in rep.differences:
        what = d.note if d.note else f"recomputed {d.recomputed!r}"
        _out.print(f"differs: {d.field}: card has {d.recorded!r}, {what}", markup=False)
    if rep.ok:
        _out.print("verified: the card matches its inputs", markup=False)
        for caveat in rep.caveats:
            _out.print(f"caveat: {caveat}", markup=False)
        return 0
    if rep.error:
        _out.print(f"NOT verified: {rep.error}", markup=False)
        return 1
    changed = [chk.role for chk in rep.inputs if not chk.ok]
    _out.print(f"NOT verified ({len(rep.differences)} field(s) differ"
               + (f"; changed input(s): {', '.join(changed)}" if changed else "") + ")",
               markup=False)
    return 1


def lint_claim(
    card_path: Annotated[Path, typer.Argument(metavar="CARD", help="Card JSON.")],
    text: Annotated[str | None, typer.Option("--text", "-t", help="Claim text.")] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="File with the claim.")] = None,
) -> None:
    """Flag claim wording the card's evidence does not permit (SPEC §4); exit 1 if any."""
    from ..card.claims import lint_claim as lint

    if (text is None) == (file is None):
        raise InputError("give the claim with exactly one of --text or --file")
    if file is not None:
        text = read_text(file, what="claim file")
    assert text is not None
    rep = lint(load_card(card_path), text)
    for f in rep.findings:
        _out.print(f"✗ “{f.phrase}” (chars {f.start}–{f.end}): {f.rule}. "
                   f"Evidence: {f.evidence}. Say instead: {f.suggestion}", markup=False)
    if rep.findings:
        raise typer.Exit(1)
    _out.print("✓ no phrase exceeds the card's evidence", markup=False)


def schema(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File (default stdout).")] = None,
) -> None:
    """Print (or write) the card JSON Schema generated from the model."""
    check_outputs({"--output": output})
    if output is None:
        typer.echo(schema_text(), nl=False)
    else:
        atomic_write_text(output, schema_text())


def power(
    effect: Annotated[float | None, typer.Option(help="ΔG to detect (negative).")] = None,
    sd_d: Annotated[float | None, typer.Option(help="SD across questions of d_q.")] = None,
    baseline: Annotated[Path | None, typer.Option("--baseline", "-b", help="Pilot baseline records.")] = None,
    defense: Annotated[Path | None, typer.Option("--defense", "-d", help="Pilot defense records.")] = None,
    split: Annotated[Split, typer.Option(help="Pilot split.")] = "heldout",
    target_power: Annotated[float, typer.Option("--power", help="Target power.")] = POWER,
    ci_level: Annotated[float, typer.Option(help="CI level of gate (a).")] = CI_LEVEL,
) -> None:
    """Held-out questions needed to detect ΔG with the clustered design."""
    from ..stats.power import pilot_power, questions_for_power

    given = {"--effect": effect, "--sd-d": sd_d, "--power": target_power, "--ci-level": ci_level}
    for name, v in given.items():
        if v is not None and not math.isfinite(v):
            raise InputError(f"must be a finite number, got {v!r}", field=name)
    try:
        if baseline is not None or defense is not None:
            if baseline is None or defense is None:
                raise InputError("pilot records need both --baseline and --defense")
            from ..records import load_records

            r = pilot_power(load_records(baseline), load_records(defense), split=split,
                            effect=effect, power=target_power, ci_level=ci_level)
            src = (f"pilot {split} records ({r.pilot_questions} questions, observed ΔG "
                   f"{r.pilot_delta:+.4f})")
            res = r.result
        else:
            if effect is None or sd_d is None:
                raise InputError("give --effect and --sd-d, or pilot --baseline/--defense records")
            res = questions_for_power(effect=effect, sd_d=sd_d, power=target_power,
                                      ci_level=ci_level)
            src = "assumed SD"
    except OverflowError:  # |ΔG| so small that the count is beyond a float
        raise InputError(f"ΔG {effect!r} is too small to detect with any feasible number of "
                         "questions", field="--effect") from None
    except InputError:
        raise
    except ValueError as exc:
        raise InputError(str(exc), field="effect/sd_d") from None
    t = Table(title="Questions needed for gate (a)")
    for col in ("ΔG", "σ_d", "power", "CI level", "questions"):
        t.add_column(col)
    t.add_row(f"{res.effect:+.4f}", f"{res.sd_d:.4f}", f"{res.power:.2f}", f"{res.ci_level:.2f}",
              str(res.n_questions))
    _out.print(t)
    _out.print(f"σ_d from {src}", markup=False)


def register(app: typer.Typer) -> None:
    app.command("card")(card)
    app.command("validate")(validate)
    app.command("render")(render_cmd)
    app.command("verify")(verify)
    app.command("lint-claim")(lint_claim)
    app.command("schema")(schema)
    app.command("power")(power)
