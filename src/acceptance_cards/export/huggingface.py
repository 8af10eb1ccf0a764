"""A card → a Hugging Face model card: a Markdown section + ``model-index`` eval results.

Built with ``huggingface_hub``'s own ``ModelCard`` / ``ModelCardData`` /
``EvalResult`` classes (the ``[hf]`` extra), so the YAML is what the Hub parses.

* **Eval results.** One ``EvalResult`` per statistic that was computed (gates
  not run are left out, never written as zeros). Uncertainty is numbers: a
  metric's value is its point estimate and its ``args`` hold the bounds or
  standard errors (``ci_low``, ``ci_high``, ``ci_level``, ``se_paired`` …), never
  "±" strings. Held-out (gate a), fresh (gate b) and cross-task (gate d)
  statistics are separate results (``dataset.split`` / ``dataset.config``).
* **Eval-results files.** The Hub's newer decentralised format, one
  ``.eval_results/*.yaml`` file per benchmark beside the README, written with
  ``huggingface_hub``'s ``EvalResultEntry`` / ``eval_result_entries_to_yaml``
  (:func:`eval_results_yaml`, :func:`write_eval_results`). An entry has room for
  one number, ``value`` (the point estimate); it has no field for bounds or
  standard errors, so each entry's ``notes`` carries them as ``key=number`` text
  (``ci_low=-0.3; ci_high=-0.13; ci_level=0.95 …``, parsed back by
  :func:`parse_notes`), and the README section states them too. The split and
  task, which ``model-index`` keeps in ``dataset.split`` / ``dataset.config``,
  go to ``notes`` as well. ``task_id`` is the metric type
  (``acceptance-card/delta-gap``): a benchmark's leaderboard lists only the tasks
  its ``eval.yaml`` declares, so these entries show on the model page, not as
  leaderboard scores.
* **Verdict metadata.** An ``acceptance_card`` key holds the card verdict,
  claim support, gate verdicts and input hashes.
* **Section.** Markdown between ``<!-- acceptance-card:begin/end -->`` markers,
  so exporting again into the same README replaces it. The verdict is stated
  in the wording the claim-language rules permit (SPEC §4): the section's own
  prose is linted against the card with :func:`~acceptance_cards.card.claims.lint_claim`
  before it is returned, and the card author's title and remarks are linted and
  any finding is shown beside them.

Example:
    >>> from acceptance_cards.synthetic import example_card
    >>> mc = to_model_card(example_card(n_resamples=200), model_name="demo")  # doctest: +SKIP
    >>> mc.data.eval_results[0].metric_type                                   # doctest: +SKIP
    'acceptance-card/delta-gap'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from .._util.errors import InputError, MissingExtraError
from .._util.lazy import require
from ..card.claims import applicable_rules, lint_claim
from ..card.formatting import (
    fmt_ci,
    fmt_int,
    fmt_level,
    fmt_num,
    fmt_pp,
    fmt_pp_ci,
    fmt_signed,
    gate_badge,
)
from ..card.model import Card
from ..diagnostics.power import GatePower

BEGIN: Final = "<!-- acceptance-card:begin -->"
END: Final = "<!-- acceptance-card:end -->"
#: Every metric type written here starts with this, so a re-export replaces only ours.
METRIC_PREFIX: Final = "acceptance-card/"
TASK_TYPE: Final = "text-generation"
DEFAULT_DATASET_ID: Final = "cais/mmlu"
DEFAULT_DATASET_NAME: Final = "MMLU (eval- vs deploy-framed prompts)"
GATE_TITLES: Final = {
    "a": ("question-clustered bootstrap", "finite-split / template noise"),
    "b": ("fresh-semantic reevaluation", "subject-split artifacts"),
    "c": ("parameter-space signature", "mechanism-label mismatch"),
    "d": ("cross-task transfer", "primary-task-only improvement"),
}
_CODE = re.compile(r"`[^`]*`")


@dataclass(frozen=True)
class _Metric:
    key: str
    name: str
    value: float | None
    args: dict[str, Any]
    split: str | None
    config: str | None


def _clean(args: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in args.items() if v is not None}


def _power_args(p: GatePower | None) -> dict[str, Any]:
    """The minimum detectable effect beside a gate's interval (None: not computable)."""
    if p is None:
        return {}
    return dict(mde=p.mde, mde_power=p.power, mde_level=p.ci_level,
                questions_to_detect=p.questions_to_detect)


def _metrics(card: Card) -> list[_Metric]:
    d = card.diagnostics
    a, b, c, x = d.a, d.b, d.c, d.d
    primary = card.task.primary
    cross = card.task.cross
    bg, dg, cost = card.baseline_gap, card.defense_gap, card.deploy_cost
    return [
        _Metric("delta-gap", "Change of the installed gap, ΔG (gate a)", a.delta_gap,
                dict(ci_low=a.ci_low, ci_high=a.ci_high, ci_level=a.ci_level,
                     n_questions=a.n_questions, n_resamples=a.n_resamples, **_power_args(a.power)),
                "heldout", primary),
        _Metric("gap-baseline", "Installed gap G, baseline cell", bg.point,
                dict(ci_low=bg.ci_low, ci_high=bg.ci_high, ci_level=a.ci_level, n=bg.n),
                "heldout", primary),
        _Metric("gap-recipe", "Installed gap G, recipe cell", dg.point,
                dict(ci_low=dg.ci_low, ci_high=dg.ci_high, ci_level=a.ci_level, n=dg.n),
                "heldout", primary),
        _Metric("deploy-cost", "Deploy-framed accuracy change (cost, not a gate)", cost.point,
                dict(ci_low=cost.ci_low, ci_high=cost.ci_high, ci_level=cost.ci_level),
                "heldout", primary),
        _Metric("fresh-delta", "Fresh-subject gap change, Δ (gate b)", b.delta,
                dict(se_paired=b.se_paired, se_independent=b.se_independent,
                     se_quadrature=b.se_quadrature, n_questions=b.n_questions,
                     n_per_framing=b.n_per_framing, **_power_args(b.power)), "fresh", primary),
        _Metric("rho-at", "Parameter-space signature ρ_AT (gate c)", c.rho,
                dict(alpha_t=c.alpha_t, alpha_a=c.alpha_a, tau=c.tau), None, primary),
        _Metric("cross-delta", "Cross-task gap change, Δ_x (gate d)", x.delta_cross,
                dict(se_cross=x.se_cross, delta_primary=x.delta_primary,
                     se_primary=x.se_primary, se_combined=x.se_combined,
                     baseline_gap=x.baseline_gap, baseline_gap_se=x.baseline_gap_se),
                "fresh", cross),
    ]


def eval_results(card: Card, *, dataset_id: str = DEFAULT_DATASET_ID,
                 dataset_name: str = DEFAULT_DATASET_NAME) -> list[Any]:
    """``huggingface_hub.EvalResult`` objects for every statistic the card computed."""
    hub = require("huggingface_hub", extra="hf")
    out = []
    for m in _metrics(card):
        if m.value is None:
            continue
        out.append(hub.EvalResult(
            task_type=TASK_TYPE, task_name=f"Acceptance Card: {m.config or 'task'} framing gap",
            dataset_type=dataset_id, dataset_name=dataset_name, dataset_config=m.config,
            dataset_split=m.split, metric_type=METRIC_PREFIX + m.key, metric_name=m.name,
            metric_value=float(m.value), metric_args=_clean(m.args) or None,
        ))
    return out


#: File (under :data:`EVAL_RESULTS_FOLDER`) the entries are written to; ours alone, replaced
#: whole on every export.
EVAL_RESULTS_FILE: Final = "acceptance-card.yaml"
#: The Hub's folder for eval-results files (``huggingface_hub.constants.EVAL_RESULTS_FOLDER``).
EVAL_RESULTS_FOLDER: Final = ".eval_results"
_NOTE_NUMBER = re.compile(r"(\w+)=(-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)(?=;|$)")


def _number(v: Any) -> str:
    return str(v) if isinstance(v, int) and not isinstance(v, bool) else format(float(v), ".10g")


def _notes(card: Card, m: _Metric) -> str:
    """An entry's notes: its name, split/task, then every bound or SE as ``key=number``."""
    where = "; ".join(x for x in (f"split {m.split}" if m.split else "",
                                  f"task {m.config}" if m.config else "") if x)
    nums = "; ".join(f"{k}={_number(v)}" for k, v in _clean(m.args).items())
    gates = ", ".join(f"({g}) {getattr(card.diagnostics, g).verdict}" for g in "abcd")
    return (f"{m.name}. {where}. Card: {card.verdict} ({card.summary}; {gates}); "
            f"acceptance-cards {card.provenance.tool_version}. Numbers: {nums}")


def parse_notes(notes: str) -> dict[str, float]:
    """The ``key=number`` pairs of an entry's notes (what :func:`_notes` wrote after 'Numbers:').

    Example:
        >>> parse_notes("x. Numbers: ci_low=-0.3; ci_high=0.1; n_questions=48")
        {'ci_low': -0.3, 'ci_high': 0.1, 'n_questions': 48.0}
    """
    tail = notes.split("Numbers: ", 1)[-1]
    return {k: float(v) for k, v in _NOTE_NUMBER.findall(tail.replace("; ", ";"))}


def eval_result_entries(card: Card, *, dataset_id: str = DEFAULT_DATASET_ID) -> list[Any]:
    """``huggingface_hub.EvalResultEntry`` objects for every statistic the card computed."""
    hub = require("huggingface_hub", extra="hf")
    if not hasattr(hub, "EvalResultEntry"):
        raise MissingExtraError(
            "huggingface_hub " + str(getattr(hub, "__version__", "?")) + " has no "
            "EvalResultEntry (the .eval_results format); upgrade: pip install -U huggingface_hub")
    return [hub.EvalResultEntry(dataset_id=dataset_id, task_id=METRIC_PREFIX + m.key,
                                value=float(m.value), notes=_notes(card, m))
            for m in _metrics(card) if m.value is not None]


def eval_results_yaml(card: Card, *, dataset_id: str = DEFAULT_DATASET_ID) -> str:
    """The text of ``.eval_results/acceptance-card.yaml`` (the hub's own serialiser)."""
    import yaml

    hub = require("huggingface_hub", extra="hf")
    data = hub.eval_result_entries_to_yaml(eval_result_entries(card, dataset_id=dataset_id))
    return str(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100))


def write_eval_results(card: Card, repo_dir: str | Path, *,
                       dataset_id: str = DEFAULT_DATASET_ID) -> Path:
    """Write (replace) ``<repo_dir>/.eval_results/acceptance-card.yaml``; its path."""
    from .._util.writes import atomic_write_text

    path = Path(repo_dir) / EVAL_RESULTS_FOLDER / EVAL_RESULTS_FILE
    text = eval_results_yaml(card, dataset_id=dataset_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)
    return path


def card_metadata(card: Card) -> dict[str, Any]:
    """The ``acceptance_card`` YAML key: verdicts and provenance, no prose."""
    d = card.diagnostics
    return {
        "verdict": card.verdict, "claim_support": card.claim_support, "passed": card.passed,
        "run": card.run, "unmet": list(card.unmet), "summary": card.summary,
        "gates": {g: getattr(d, g).verdict for g in "abcd"},
        "claimed_class": card.options.claimed_class, "schema_version": card.schema_version,
        "tool_version": card.provenance.tool_version,
        "inputs": [{"role": i.role, "sha256": i.sha256} for i in card.provenance.inputs],
    }


def _mde_text(p: GatePower | None) -> str:
    if p is None:
        return ""
    return (f"; minimum detectable {fmt_signed(p.mde)} at {fmt_level(p.power)} power"
            + ("" if not p.underpowered else " (underpowered)"))


def _gate_rows(card: Card) -> list[str]:
    d = card.diagnostics
    a, b, c, x = d.a, d.b, d.c, d.d
    lvl = fmt_level(a.ci_level)
    stats = {
        "a": (f"ΔG = {fmt_signed(a.delta_gap)}",
              f"{lvl} CI {fmt_ci(a.ci_low, a.ci_high)}; {fmt_int(a.n_questions)} questions, "
              f"{fmt_int(a.n_resamples)} resamples" + _mde_text(a.power)),
        "b": (f"Δ = {fmt_signed(b.delta)}",
              f"SE paired {fmt_num(b.se_paired)}, SE independent {fmt_num(b.se_independent)}; "
              f"{fmt_int(b.n_questions)} questions" + _mde_text(b.power)),
        "c": (f"ρ_AT = {fmt_signed(c.rho)}",
              f"signed class {c.signed_class or '—'}, claimed {c.claimed_class}, "
              f"τ = {fmt_num(c.tau, digits=2)}"),
        "d": (f"Δ_x = {fmt_signed(x.delta_cross)}",
              f"SE_x {fmt_num(x.se_cross)}, SE_comb {fmt_num(x.se_combined)}"),
    }
    rows = ["| Gate | Guards against | Verdict | Statistic | Uncertainty |",
            "|---|---|---|---|---|"]
    for g in "abcd":
        title, guards = GATE_TITLES[g]
        verdict = getattr(d, g).verdict
        stat, unc = stats[g] if verdict != "not run" else ("—", "—")
        rows.append(f"| ({g}) {title} | {guards} | {gate_badge(verdict).text} | {stat} | {unc} |")
    return rows


def _lintable(text: str) -> str:
    """Text with code spans (cell names, paths, quoted phrases) blanked, offsets kept."""
    return _CODE.sub(lambda m: " " * len(m.group(0)), text)


def card_section(card: Card) -> str:
    """The Markdown section (between markers) stating the card in permitted wording."""
    from ..card.claims import allowed_phrases

    unmet = ", ".join(f"({g})" for g in card.unmet) or "none"
    bg, dg, cost = card.baseline_gap, card.defense_gap, card.deploy_cost
    prose = [
        "## Acceptance Card", "",
        f"**Verdict: {card.verdict}** ({card.summary}; unmet gates: {unmet}). "
        f"Claim support: `{card.claim_support}`.", "",
        "Wording this evidence permits under the Acceptance Card claim-language rules: "
        + "; ".join(f"“{p}”" for p in allowed_phrases(card)) + ".", "",
        *_gate_rows(card), "",
    ]
    if bg.point is not None:
        prose += [f"Installed gap G = r_deploy − r_eval on held-out questions: baseline cell "
                  f"`{bg.cell}` {fmt_signed(bg.point)} ({fmt_level(card.diagnostics.a.ci_level)}"
                  f" CI {fmt_ci(bg.ci_low, bg.ci_high)}), recipe cell `{dg.cell}` "
                  f"{fmt_signed(dg.point)} (CI {fmt_ci(dg.ci_low, dg.ci_high)}).", ""]
    if cost.point is not None:
        prose += [f"Deployment-accuracy change, reported outside the gates: "
                  f"{fmt_pp(cost.point)} ({fmt_level(cost.ci_level)} CI "
                  f"{fmt_pp_ci(cost.ci_low, cost.ci_high)}).", ""]
    else:
        prose += ["Deployment-accuracy cost not measured on this card.", ""]
    for note in card.notes:
        prose.append(f"- {note}")
    if card.notes:
        prose.append("")
    text = "\n".join(prose)
    own = lint_claim(card, _lintable(text))
    if own.findings:  # our wording must never exceed the evidence
        raise RuntimeError("export wording exceeds the card's evidence: "
                           + "; ".join(f"{f.phrase!r} ({f.rule})" for f in own.findings))
    tail = [_forbidden_line(card), "", *_author_lines(card),
            f"Computed by acceptance-cards {card.provenance.tool_version} from "
            + (", ".join(f"{i.role} `{i.path}` (sha256 `{i.sha256[:12]}`)"
                         for i in card.provenance.inputs) or "in-memory records") + "."]
    return "\n".join([BEGIN, text, *tail, END]) + "\n"


def _forbidden_line(card: Card) -> str:
    seen: dict[str, None] = {}
    for rule, _ in applicable_rules(card):
        for p in rule.forbidden:
            seen.setdefault(p, None)
    # quoted in code spans: this line names the phrases, it does not use them
    return ("Wording this evidence does not permit: " + ", ".join(f"`{p}`" for p in seen)
            + ".") if seen else ""


def _author_lines(card: Card) -> list[str]:
    out: list[str] = []
    for label, text in ([("Title", card.title)] if card.title else []) + [
            ("Remark", r) for r in card.remarks]:
        out.append(f"- {label} (the card author's wording): `{text}`")
        lint = lint_claim(card, text)
        for f in lint.findings:
            out.append(f"  - ⚠ `{f.phrase}` exceeds this evidence ({f.rule}); say instead: "
                       f"{f.suggestion}")
    return out + ([""] if out else [])


def check_front_matter(text: str, *, path: str | Path | None = None) -> None:
    """Refuse a README whose YAML front matter does not parse to a mapping (naming the line).

    Example:
        >>> check_front_matter("---\\nfoo: [open\\n---\\n# hi\\n")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        acceptance_cards._util.errors.InputError: line 2: README front matter is not valid YAML (...)
    """
    repocard = require("huggingface_hub.repocard", extra="hf")
    import yaml

    match = repocard.REGEX_YAML_BLOCK.search(text)
    if match is None:
        return
    try:
        data = yaml.safe_load(match.group(2))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        # the block starts on the line after the opening `---`
        line = match.group(1).count("\n") + mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise InputError(f"README front matter is not valid YAML ({problem})", path=path,
                         line=line) from None
    if data is not None and not isinstance(data, dict):
        raise InputError(f"README front matter must be a YAML mapping, got {type(data).__name__}",
                         path=path, line=1)


def to_model_card(card: Card, *, model_name: str | None = None, existing: str | None = None,
                  dataset_id: str = DEFAULT_DATASET_ID, dataset_name: str = DEFAULT_DATASET_NAME,
                  base_model: str | None = None) -> Any:
    """A ``huggingface_hub.ModelCard``: ``existing`` README text updated, or a new card.

    Our previous section and ``acceptance-card/*`` eval results are replaced;
    everything else in ``existing`` is kept.
    """
    hub = require("huggingface_hub", extra="hf")
    section = card_section(card)
    if existing is not None and existing.strip():
        check_front_matter(existing)
        mc = hub.ModelCard(existing, ignore_metadata_errors=True)
        body = mc.text
        if BEGIN in body and END in body:
            head, rest = body.split(BEGIN, 1)
            body = head + section.rstrip("\n") + rest.split(END, 1)[1]
        else:
            body = body.rstrip("\n") + "\n\n" + section
        data = mc.data
    else:
        body = "\n" + section
        data = hub.ModelCardData()
    kept = [r for r in (data.eval_results or [])
            if not str(r.metric_type).startswith(METRIC_PREFIX)]
    data.eval_results = kept + eval_results(card, dataset_id=dataset_id,
                                            dataset_name=dataset_name)
    data.model_name = model_name or data.model_name or _default_name(card)
    if base_model:
        data.base_model = base_model
    tags = list(data.tags or [])
    data.tags = tags + ([] if "acceptance-card" in tags else ["acceptance-card"])
    data.acceptance_card = card_metadata(card)
    return hub.ModelCard(f"---\n{data.to_yaml()}\n---\n{body}")


def _default_name(card: Card) -> str:
    base = card.model.family or card.model.base_checkpoint or "model"
    return f"{base}-{card.defense_gap.cell or card.recipe.name or 'recipe'}"
