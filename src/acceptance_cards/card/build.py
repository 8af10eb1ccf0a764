"""Build a card: records + mechanism file + options → four gates → verdict → :class:`Card`.

Example:
    >>> from acceptance_cards.synthetic import simulate_pair
    >>> b, d = simulate_pair(seed=1)
    >>> card = build_card(b, d, options=CardOptions(seed=0, n_resamples=500))
    >>> card.verdict, card.diagnostics.c.verdict, card.diagnostics.d.verdict
    ('missing evidence', 'not run', 'not run')
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .._util.errors import InputError
from .._util.files import sha256_file, validation_error
from .._version import __version__
from ..diagnostics import (
    BootstrapGate,
    run_clustered_bootstrap,
    run_cross_task_transfer,
    run_fresh_reevaluation,
    run_parameter_signature,
)
from ..diagnostics.scorer_check import scorer_notes, suspect_evidence
from ..mechanism import MechanismFile, load_mechanism
from ..records import RecordSet, load_records
from ..vocab import MechanismClass
from .capability import cell_capability, gap_source_note, non_answer_splits
from .evidence import EvidenceProvenance, PermissiveRelabel, calibration_notes
from .metadata import CardMetadata, load_metadata
from .model import (
    Card,
    CardOptions,
    CellCapability,
    Compute,
    DeployCost,
    Diagnostics,
    GapSummary,
    InputFile,
    ModelInfo,
    Provenance,
    RecipeInfo,
    TaskInfo,
    gate_verdicts,
    metadata_digests,
)
from .verdict import conclude

#: Input roles in the order the CLI names them.
ROLES: tuple[str, ...] = ("baseline", "defense", "cross_baseline", "cross_defense", "mechanism")

def build_card(
    baseline: RecordSet,
    defense: RecordSet,
    *,
    cross_baseline: RecordSet | None = None,
    cross_defense: RecordSet | None = None,
    mechanism: MechanismFile | None = None,
    options: CardOptions | None = None,
    metadata: CardMetadata | None = None,
    inputs: list[InputFile] | None = None,
    metadata_overrides: Sequence[str] = (),
) -> Card:
    """Compute all four gates and assemble the card (pure: no file access).

    ``metadata_overrides`` names metadata fields that did not come from the
    metadata file among ``inputs`` (e.g. ``--title``), so ``verify`` keeps them.
    """
    options = options or CardOptions()
    metadata = metadata or CardMetadata()
    _check_pairing(baseline, defense, cross_baseline, cross_defense)
    diagnostics = run_gates(baseline, defense, cross_baseline, cross_defense, mechanism, options)
    a, b = diagnostics.a, diagnostics.b
    concl = conclude(gate_verdicts(diagnostics))
    records = dict(zip(ROLES[:4], (baseline, defense, cross_baseline, cross_defense), strict=True))
    capability = [cell_capability(rs, role=role) for role, rs in records.items() if rs is not None]
    evidence = _evidence(metadata)
    gaps = (_gap_summary(a, baseline, which="baseline"), _gap_summary(a, defense, which="defense"))
    card = Card(
        title=metadata.title,
        verdict=concl.verdict,
        claim_support=concl.claim_support,
        passed=concl.passed,
        run=concl.run,
        unmet=concl.unmet,
        summary=concl.summary,
        verdict_rule=concl.rule,
        model=ModelInfo(**dict(metadata.model or {})),
        recipe=RecipeInfo(**dict(metadata.recipe or {})),
        task=_task_info(baseline, cross_baseline, metadata.task or {}),
        baseline_gap=gaps[0],
        defense_gap=gaps[1],
        diagnostics=diagnostics,
        deploy_cost=DeployCost(
            point=a.deploy_cost, ci_low=a.deploy_cost_ci_low, ci_high=a.deploy_cost_ci_high,
            ci_level=a.ci_level, fresh_point=b.deploy_cost,
        ),
        capability=capability,
        compute=Compute(**dict(metadata.compute or {})),
        options=options,
        provenance=_provenance(diagnostics, inputs, metadata_overrides),
        notes=_notes(capability, diagnostics, list(records.values()), gaps, evidence),
        remarks=list(metadata.notes),
        evidence=evidence,
    )
    if card.evidence is not None and card.evidence.permissive_class is not None:
        card = card.model_copy(update={"relabel": permissive_relabel(
            diagnostics, mechanism, card.evidence.permissive_class, options)})
    return card.model_copy(update={"provenance": card.provenance.model_copy(
        update={"metadata_sha256": metadata_digests(card)})})


def _evidence(metadata: CardMetadata) -> EvidenceProvenance | None:
    """The evidence section as stated (None when the metadata states none)."""
    if metadata.evidence is None:
        return None
    try:
        return EvidenceProvenance.model_validate(dict(metadata.evidence))
    except ValidationError as exc:
        err = validation_error(exc)
        raise InputError(err.message, field="evidence" + (f".{err.field}" if err.field else "")
                         ) from None


def permissive_relabel(diagnostics: Diagnostics, mechanism: MechanismFile | None,
                       permissive_class: MechanismClass, options: CardOptions) -> PermissiveRelabel:
    """Gate (c) under ``permissive_class`` (same ρ, same τ) and the card verdict it gives.

    The other three gates are the card's; the verdict follows the same rules
    (SPEC §3). The strict verdict stays the card's verdict.

    Example:
        >>> from acceptance_cards.synthetic import example_card, example_mechanism
        >>> card = example_card()
        >>> r = permissive_relabel(card.diagnostics, example_mechanism("attack-targeted"),
        ...                        "shrinkage", card.options)
        >>> r.c.verdict, r.verdict
        ('fail', 'near miss')
    """
    c = run_parameter_signature(mechanism, claimed_class=permissive_class, tau=options.tau)
    concl = conclude({**gate_verdicts(diagnostics), "c": c.verdict})
    return PermissiveRelabel(claimed_class=permissive_class, c=c, verdict=concl.verdict,
                             passed=concl.passed, run=concl.run, unmet=concl.unmet,
                             summary=concl.summary, verdict_rule=concl.rule)


def _check_pairing(baseline: RecordSet, defense: RecordSet, cross_baseline: RecordSet | None,
                   cross_defense: RecordSet | None) -> None:
    """Baseline and defense measure one task; cross-task evidence comes in pairs."""
    if baseline.task != defense.task:
        raise InputError(
            f"baseline task {baseline.task!r} differs from defense task {defense.task!r}",
            path=defense.path, field="task",
        )
    if (cross_baseline is None) != (cross_defense is None):
        raise InputError("cross-task evidence needs both --cross-baseline and --cross-defense")
    for one, other in ((baseline, defense), (cross_baseline, cross_defense)):
        _check_same_scorer(one, other)


def gate_scorer(rs: RecordSet) -> str:
    """The scorer the gates read: the one every record names, else ``""`` (none or mixed).

    Example:
        >>> from acceptance_cards.records import records_from_rows
        >>> rs = records_from_rows([dict(cell="c", task="t", split="heldout", question_id="q",
        ...     subject="s", template_id=f, framing=f, correct=1, scorer=s)
        ...     for f in ("eval", "deploy") for s in ("option", "letter")])
        >>> gate_scorer(rs), sorted(rs.rescored)
        ('letter', ['option'])
    """
    names = set(rs.scorer.tolist())
    return names.pop() if len(names) == 1 else ""


def _check_same_scorer(one: RecordSet | None, other: RecordSet | None) -> None:
    """A pair's gap compares one scorer's numbers: two scorers would make a gap of their own."""
    if one is None or other is None:
        return
    a, b = gate_scorer(one), gate_scorer(other)
    if a and b and a != b:
        raise InputError(
            f"the gates would read scorer {a!r} in {one.path} but {b!r} in {other.path}; "
            "score both files with the same scorer",
            path=other.path, field="scorer",
        )


def run_gates(
    baseline: RecordSet,
    defense: RecordSet,
    cross_baseline: RecordSet | None,
    cross_defense: RecordSet | None,
    mechanism: MechanismFile | None,
    options: CardOptions,
) -> Diagnostics:
    """The four gates on the card's evidence ((d) takes Δ_p and SE_p from (b))."""
    o = options
    a = run_clustered_bootstrap(baseline, defense, seed=o.seed, n_resamples=o.n_resamples,
                                ci_level=o.ci_level, min_questions=o.min_questions)
    b = run_fresh_reevaluation(baseline, defense, k=o.se_multiplier)
    c = run_parameter_signature(mechanism, claimed_class=o.claimed_class, tau=o.tau)
    d = run_cross_task_transfer(
        cross_baseline, cross_defense,
        delta_primary=b.delta, se_primary=b.se_paired,
        restricted_variant=o.cross_restricted_variant,
        floor=o.degenerate_floor, ceiling=o.degenerate_ceiling, k=o.se_multiplier,
        primary=(baseline, defense),
    )
    return Diagnostics(a=a, b=b, c=c, d=d)


def _evidence_notes(capability: Sequence[CellCapability], diagnostics: Diagnostics,
                    records: Sequence[RecordSet | None]) -> list[str]:
    """Caveats the reader must see: non-answer gaps, a cross task that is the primary, the scorer."""
    notes: list[str] = []
    where = []
    for cap in capability:
        flagged = non_answer_splits(cap)
        if flagged:
            # no role word in the note: notes are prose an export lints ("defense" would trip it)
            cross = "cross-task records, " if (cap.role or "").startswith("cross") else ""
            where.append(f"cell {cap.cell!r} ({cross}{' and '.join(flagged)})")
    if where:  # one note for every flagged cell: the card's headline flag lists them too
        notes.append("The gap is carried mostly by non-answers (malformed or abstaining output "
                     "under eval framing), not by wrong answers (SPEC §8), in: "
                     + "; ".join(where) + ".")
    if diagnostics.d.same_task:
        notes.append("The cross-task evidence is the primary task again (same task name or the "
                     "same records): (d) does not test transfer and is n/a.")
    for rs in records:
        if rs is not None:  # the scorer, not the model, may have made the numbers
            notes.extend(f"Scorer check: {n}." for n in scorer_notes(rs))
    return notes


def _notes(capability: Sequence[CellCapability], diagnostics: Diagnostics,
           records: Sequence[RecordSet | None], gaps: tuple[GapSummary, GapSummary],
           evidence: EvidenceProvenance | None) -> list[str]:
    """The card's notes: evidence caveats, where ΔG comes from, the calibration rulers.

    The ΔG source note is left out when a scorer check marks the numbers as the
    scorer's: then no ΔG is read as the model's.
    """
    notes = _evidence_notes(capability, diagnostics, records)
    source = None if suspect_evidence(notes) else gap_source_note(*gaps)
    return notes + ([source] if source else []) + calibration_notes(evidence)


def _provenance(diagnostics: Diagnostics, inputs: list[InputFile] | None,
                metadata_overrides: Sequence[str]) -> Provenance:
    """What the card was computed from; ``partial`` names the gates that had no input."""
    missing = [g for g, v in gate_verdicts(diagnostics).items() if v == "not run"]
    return Provenance(
        tool_version=__version__,
        inputs=list(inputs or []),
        artifact_status="complete" if not missing else "partial: no input for " + ", ".join(
            f"({g})" for g in missing),
        metadata_overrides=list(metadata_overrides),
    )


def _gap_summary(a: BootstrapGate, rs: RecordSet, *, which: str) -> GapSummary:
    if a.verdict == "not run":
        return GapSummary(cell=rs.cell)
    held = rs.select("heldout")
    rate_e = float(held.correct[held.is_eval].mean())
    rate_d = float(held.correct[~held.is_eval].mean())
    ci = a.gap_baseline_ci if which == "baseline" else a.gap_defense_ci
    return GapSummary(
        cell=rs.cell,
        n=len(held),
        n_questions=a.n_questions,
        point=a.gap_baseline if which == "baseline" else a.gap_defense,
        ci_low=ci[0] if ci else None,
        ci_high=ci[1] if ci else None,
        rate_eval=rate_e,
        rate_deploy=rate_d,
    )


def _task_info(primary: RecordSet, cross: RecordSet | None, extra: Mapping[str, Any]) -> TaskInfo:
    held = set(primary.subject[primary.split == "heldout"].tolist())
    fresh = set(primary.subject[primary.split == "fresh"].tolist())
    fields: dict[str, Any] = dict(
        primary=primary.task,
        cross=cross.task if cross is not None else None,
        heldout_subjects=sorted(held),
        fresh_subjects=sorted(fresh),
        subject_overlap=sorted(held & fresh),
    )
    for key in ("primary", "cross"):  # the records name the tasks; metadata may only agree
        if extra.get(key) is not None and extra[key] != fields[key]:
            raise InputError(f"{extra[key]!r} contradicts the records, which give "
                             f"{fields[key]!r}; drop the key or fix it", field=f"task.{key}")
    for key in ("train_pool", "split_hash"):
        if extra.get(key) is not None:
            fields[key] = extra[key]
    unknown = set(extra) - {"train_pool", "split_hash", "cross", "primary"}
    if unknown:
        raise InputError(f"unknown task metadata keys {sorted(unknown)}", field="task")
    return TaskInfo(**fields)


def _rel(path: Path, relative_to: Path | None) -> str:
    if relative_to is None:
        return str(path)
    try:
        return os.path.relpath(path.resolve(), relative_to.resolve())
    except ValueError:  # another drive on Windows
        return str(path.resolve())


def build_card_from_files(
    baseline: str | Path,
    defense: str | Path,
    *,
    cross_baseline: str | Path | None = None,
    cross_defense: str | Path | None = None,
    mechanism: str | Path | None = None,
    options: CardOptions | None = None,
    metadata: CardMetadata | None = None,
    relative_to: str | Path | None = None,
    metadata_file: str | Path | None = None,
    metadata_overrides: Sequence[str] = (),
) -> Card:
    """Load and hash the named files, then :func:`build_card`.

    ``relative_to`` (usually the card's folder) makes recorded paths relative,
    so a card and its inputs can move together and still :func:`verify`.
    ``metadata_file`` is read with :func:`load_metadata` and hashed like the
    records; the fields named in ``metadata_overrides`` come from ``metadata``
    instead (the CLI's ``--title``).
    """
    rel = Path(relative_to) if relative_to is not None else None
    paths = dict(zip(ROLES, (baseline, defense, cross_baseline, cross_defense, mechanism),
                     strict=True))
    if metadata_file is not None:
        given = metadata or CardMetadata()
        metadata = dataclasses.replace(load_metadata(metadata_file), **{
            f: getattr(given, f) for f in metadata_overrides})
        paths["metadata"] = metadata_file
    inputs = [
        InputFile(role=role, path=_rel(Path(p), rel), sha256=sha256_file(p))
        for role, p in paths.items() if p is not None and Path(p).exists()
    ]
    paths.pop("metadata", None)
    loaded = {r: load_records(p) if p is not None else None
              for r, p in paths.items() if r != "mechanism"}
    mech = load_mechanism(mechanism) if mechanism is not None else None
    assert loaded["baseline"] is not None and loaded["defense"] is not None
    return build_card(
        loaded["baseline"], loaded["defense"],
        cross_baseline=loaded["cross_baseline"], cross_defense=loaded["cross_defense"],
        mechanism=mech, options=options, metadata=metadata, inputs=inputs,
        metadata_overrides=metadata_overrides,
    )
