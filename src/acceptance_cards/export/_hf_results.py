"""A card's statistics as Hugging Face eval results: ``model-index`` and ``.eval_results``.

Part of :mod:`acceptance_cards.export.huggingface` (its public names are
re-exported there).

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

Example:
    >>> parse_notes("x. Numbers: ci_low=-0.3; n_questions=48")
    {'ci_low': -0.3, 'n_questions': 48.0}
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from .._util.errors import MissingExtraError
from .._util.lazy import require
from ..card.model import Card
from ..diagnostics.power import GatePower

#: Every metric type written here starts with this, so a re-export replaces only ours.
METRIC_PREFIX: Final = "acceptance-card/"
TASK_TYPE: Final = "text-generation"
DEFAULT_DATASET_ID: Final = "cais/mmlu"
DEFAULT_DATASET_NAME: Final = "MMLU (eval- vs deploy-framed prompts)"


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


__all__ = ["DEFAULT_DATASET_ID", "DEFAULT_DATASET_NAME", "EVAL_RESULTS_FILE", "EVAL_RESULTS_FOLDER",
           "METRIC_PREFIX", "TASK_TYPE", "eval_result_entries", "eval_results", "eval_results_yaml",
           "parse_notes", "write_eval_results"]
