"""A card → a Hugging Face model card: a Markdown section + ``model-index`` eval results.

Built with ``huggingface_hub``'s own ``ModelCard`` / ``ModelCardData`` /
``EvalResult`` classes (the ``[hf]`` extra), so the YAML is what the Hub parses.
The parts live in small modules, re-exported here:

* **Eval results** and **eval-results files** (:mod:`._hf_results`): one
  ``EvalResult`` / ``EvalResultEntry`` per statistic the card computed, with
  uncertainty as numbers (bounds and standard errors), never "±" strings.
* **Section** (:mod:`._hf_section`): Markdown between
  ``<!-- acceptance-card:begin/end -->`` markers, in the wording the
  claim-language rules permit (its own prose is linted against the card),
  stating the card's evidence provenance too (:mod:`._hf_evidence`): every
  stand-in, SafeLoRA's facts, both calibration hashes and the permissive
  relabel beside the strict verdict.
* **Verdict metadata** (:func:`card_metadata`): an ``acceptance_card`` key
  holds the card verdict, claim support, gate verdicts and input hashes, and
  — when the card states them — its ``evidence`` (stand-ins, SafeLoRA's facts
  summary, calibration rulers) and its permissive ``relabel``.

Example:
    >>> from acceptance_cards.synthetic import example_card
    >>> mc = to_model_card(example_card(n_resamples=200), model_name="demo")  # doctest: +SKIP
    >>> mc.data.eval_results[0].metric_type                                   # doctest: +SKIP
    'acceptance-card/delta-gap'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .._util.errors import InputError
from .._util.lazy import require
from ..card.model import Card
from ._hf_evidence import evidence_metadata
from ._hf_results import (
    DEFAULT_DATASET_ID,
    DEFAULT_DATASET_NAME,
    EVAL_RESULTS_FILE,
    EVAL_RESULTS_FOLDER,
    METRIC_PREFIX,
    TASK_TYPE,
    eval_result_entries,
    eval_results,
    eval_results_yaml,
    parse_notes,
    write_eval_results,
)
from ._hf_section import BEGIN, END, GATE_TITLES, card_section


def card_metadata(card: Card) -> dict[str, Any]:
    """The ``acceptance_card`` YAML key: verdicts, provenance and evidence facts, no prose.

    Example:
        >>> from acceptance_cards.synthetic import example_card
        >>> meta = card_metadata(example_card(n_resamples=200))
        >>> meta["verdict"], "evidence" in meta
        ('full-card pass', False)
    """
    d = card.diagnostics
    return {
        "verdict": card.verdict, "claim_support": card.claim_support, "passed": card.passed,
        "run": card.run, "unmet": list(card.unmet), "summary": card.summary,
        "gates": {g: getattr(d, g).verdict for g in "abcd"},
        "claimed_class": card.options.claimed_class, "schema_version": card.schema_version,
        "tool_version": card.provenance.tool_version,
        "inputs": [{"role": i.role, "sha256": i.sha256} for i in card.provenance.inputs],
        **evidence_metadata(card),
    }


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


__all__ = [
    "BEGIN", "DEFAULT_DATASET_ID", "DEFAULT_DATASET_NAME", "END", "EVAL_RESULTS_FILE",
    "EVAL_RESULTS_FOLDER", "GATE_TITLES", "METRIC_PREFIX", "TASK_TYPE", "card_metadata",
    "card_section", "check_front_matter", "eval_result_entries", "eval_results",
    "eval_results_yaml", "parse_notes", "to_model_card", "write_eval_results",
]
