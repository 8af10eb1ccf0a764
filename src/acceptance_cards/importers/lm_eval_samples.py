"""lm-evaluation-harness ``--log_samples`` output → evaluation records.

``lm_eval … --log_samples --output_path OUT`` writes, per task,
``OUT/<model>/samples_<task>_<date>.jsonl`` (one JSON object per document and
filter) beside ``results_<date>.json``. Each line is the *view* mapping
expressions read: ``doc_id``, ``doc`` (the task's document, all its fields),
``target``, ``arguments``, ``resps``, ``filtered_resps``, ``filter``,
``metrics`` and one key per metric (``acc``, ``exact_match``, …). Three keys are
added: ``task_name`` (from the file name), ``model`` (the ``model_name`` of the
sibling ``results_<date>.json``, when there is one) and ``metadata`` (the task
YAML's ``metadata:`` block, as that results file records it).

Default mapping (replace any line with ``--map field=expr``; for each field the
expressions are tried in this order, the first that gives a value wins):

=================  ==========================================================
``question_id``    ``doc.question_id``, ``doc.id``, ``doc_id`` (the document's
                   position, the same in every task of one dataset file)
``template_id``    ``doc.template_id``, ``doc.template``,
                   ``metadata.template_id``, ``metadata.template``; a ``t<N>``
                   token of the task name (``mmlu_framed_eval_t2`` → ``t2``)
``framing``        ``doc.framing``, ``metadata.framing``; an ``eval`` or
                   ``deploy`` token of the task name (``mmlu_framed_eval_t2``)
``task``           ``doc.task``; the task name without its framing and
                   template tokens (``mmlu_framed``); the task name
``split``          ``doc.split``, ``metadata.split``
``subject``        ``doc.subject``
``cell``           the last component of the results file's model path
``correct``        the chosen metric (default ``acc``)
``answer``         the option with the highest log-likelihood
                   (``filtered_resps | argmax | letter``)
``gold``           ``target | letter``; ``model`` from the results file
=================  ==========================================================

A token is a part of the task name between ``_``, ``-`` or ``.`` separators.
A document that appears twice for the same filter in one file is refused.

Example:
    >>> r = import_lm_eval(["out/m/samples_framed_mmlu_2026-01-01T00-00-00.jsonl"])  # doctest: +SKIP
    >>> r.model, len(r.records)                                                        # doctest: +SKIP
    ('/models/smollm2', 48)
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from .._util.errors import InputError
from .._util.files import iter_text_lines
from .assemble import (
    FieldSource,
    ImportResult,
    ProgressFn,
    SampleView,
    assemble,
    distinct_files,
    preview,
)
from .mapping import Expr, FieldMapping, exprs, parse_expr, with_constants

#: ``samples_<task>_<date>.jsonl`` as lm-eval names it.
SAMPLES_NAME = re.compile(r"^samples_(?P<task>.+)_(?P<date>\d{4}-\d{2}-\d{2}T[0-9.\-]+)\.jsonl$")

#: Task-name tokens that give the framing and the template (``mmlu_framed_eval_t1``).
FRAMING_TOKEN = "eval|deploy"
TEMPLATE_TOKEN = r"t\d+"

#: What separates the tokens of a task name (``mmlu_framed_eval_t1``).
_SEP = r"[_.\-]"


def _token(alternatives: str) -> str:
    """A regex for one whole task-name token among ``alternatives`` (captured)."""
    return rf"(?:^|{_SEP})({alternatives})(?:$|{_SEP})"


#: The metric ``correct`` comes from unless told otherwise.
DEFAULT_METRIC = "acc"


def default_mapping(metric: str) -> FieldMapping:
    """The built-in mapping for ``--log_samples`` lines scored by ``metric``."""
    return FieldMapping({
        "cell": exprs(r"model | re/([^\/]+)\/*$/"),
        "task": exprs("doc.task", f"task_name | re/^(.+?)(?:{_SEP}(?:{FRAMING_TOKEN}|{TEMPLATE_TOKEN}))+$/",
                      "task_name"),
        "split": exprs("doc.split", "metadata.split"),
        "question_id": exprs("doc.question_id", "doc.id", "doc_id"),
        "subject": exprs("doc.subject"),
        "template_id": exprs("doc.template_id", "doc.template", "metadata.template_id",
                             "metadata.template", f"task_name | re/{_token(TEMPLATE_TOKEN)}/"),
        "framing": exprs("doc.framing", "metadata.framing",
                         f"task_name | re/{_token(FRAMING_TOKEN)}/"),
        "correct": exprs(metric),
        "answer": exprs("filtered_resps | argmax | letter"),
        "gold": exprs("target | letter"),
        "model": exprs("model"),
        "scorer": (parse_expr(f"'lm-eval:{metric}'"),),
    })


def _results(samples_path: Path) -> dict[str, Any] | None:
    """The ``results_<date>.json`` beside a samples file, if there is a readable one."""
    m = SAMPLES_NAME.match(samples_path.name)
    if m is None:
        return None
    res = samples_path.with_name(f"results_{m['date']}.json")
    try:
        data = json.loads(res.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def results_model(samples_path: Path) -> str | None:
    """The model named by the ``results_<date>.json`` beside a samples file, if any."""
    data = _results(samples_path)
    if data is None:
        return None
    name = data.get("model_name")
    if not name and isinstance(data.get("config"), dict):
        args = str(data["config"].get("model_args") or "")
        hit = re.search(r"(?:^|,)pretrained=([^,]+)", args)
        name = hit.group(1) if hit else None
    return str(name) if name else None


def task_metadata(samples_path: Path, task_name: str | None) -> dict[str, Any] | None:
    """The task YAML's ``metadata:`` block, as the results file records it (if it does)."""
    data = _results(samples_path)
    configs = data.get("configs") if data is not None else None
    conf = configs.get(task_name) if isinstance(configs, dict) and task_name else None
    meta = conf.get("metadata") if isinstance(conf, dict) else None
    return dict(meta) if isinstance(meta, dict) else None


def _lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    if not path.is_file():
        raise InputError("no such samples file", path=path)
    for lineno, raw in iter_text_lines(path, what="samples file"):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except RecursionError:
            raise InputError("JSON nested too deeply", path=path, line=lineno) from None
        except json.JSONDecodeError as exc:
            raise InputError(f"not valid JSON ({exc.msg}); is this an lm-eval "
                             "--log_samples file?", path=path, line=lineno) from None
        if not isinstance(obj, dict) or "doc" not in obj:
            raise InputError("not an lm-eval sample (no `doc`); is this a --log_samples "
                             "file?", path=path, line=lineno, field="doc")
        yield lineno, obj


def choose_filter(path: Path, requested: str | None) -> str | None:
    """The lm-eval filter whose lines are read: ``requested`` or the file's only one."""
    names = list(dict.fromkeys(str(obj.get("filter", "none")) for _, obj in _lines(path)))
    if requested is not None:
        if requested not in names:
            raise InputError(f"no lines with filter {requested!r}; the file has "
                             f"{', '.join(names)}", path=path, field="filter")
        return requested
    if len(names) > 1:
        raise InputError(f"the file has several filters ({', '.join(names)}); choose one "
                         "with --filter", path=path, field="filter")
    return names[0] if names else None


def _views(path: Path, flt: str | None, metric: str | None) -> Iterator[SampleView]:
    m = SAMPLES_NAME.match(path.name)
    task_name = m["task"] if m else None
    extra = {"task_name": task_name, "model": results_model(path),
             "metadata": task_metadata(path, task_name)}
    seen: dict[Any, int] = {}
    for lineno, obj in _lines(path):
        if flt is not None and str(obj.get("filter", "none")) != flt:
            continue
        label = f"doc_id {obj.get('doc_id')}"
        if "doc_id" in obj:
            if obj["doc_id"] in seen:
                raise InputError(
                    f"sample {label!r}: the document appears twice for filter {flt!r} (first at "
                    f"line {seen[obj['doc_id']]}); lm-eval writes each document once per task "
                    "and filter, so this file holds the lines of more than one run: keep one "
                    "run's lines", path=path, line=lineno, field="doc_id")
            seen[obj["doc_id"]] = lineno
        if metric is not None and metric not in obj:
            have = [k for k in obj.get("metrics", []) if isinstance(k, str)]
            raise InputError(f"sample {label!r}: no metric {metric!r} (this file has "
                             f"{', '.join(have) or 'none'}); choose one with --metric",
                             path=path, line=lineno, field="correct")
        view = {**obj, **{k: v for k, v in extra.items() if k not in obj}}
        yield SampleView(view, label=label, index=lineno, path=str(path))


def _prepare(files: Sequence[str | Path], consts: Mapping[str, str | None], metric: str,
             filter_name: str | None, overrides: Mapping[str, Expr | Sequence[Expr]] | None
             ) -> tuple[FieldMapping, Callable[[], Iterator[SampleView]]]:
    """The mapping (defaults, then constants, then ``overrides``) and the samples of ``files``."""
    if not files:
        raise InputError("give at least one samples file")
    paths = distinct_files(Path(f) for f in files)
    filters = [choose_filter(p, filter_name) for p in paths]
    mapping = with_constants(default_mapping(metric), consts)
    if overrides:
        mapping = mapping.with_overrides(overrides)

    def views() -> Iterator[SampleView]:
        for p, f in zip(paths, filters, strict=True):
            # a user mapping of `correct` may read another field than the metric
            yield from _views(p, f, None if "correct" in (overrides or {}) else metric)

    return mapping, views


def import_lm_eval(
    files: Sequence[str | Path],
    *,
    cell: str | None = None,
    task: str | None = None,
    split: str | None = None,
    metric: str = DEFAULT_METRIC,
    filter_name: str | None = None,
    overrides: Mapping[str, Expr | Sequence[Expr]] | None = None,
    progress: ProgressFn | None = None,
) -> ImportResult:
    """Records from one or more ``--log_samples`` files of one model.

    Args:
        files: ``samples_<task>_<date>.jsonl`` files (e.g. one per framed task).
        cell, task, split: constants for these fields (instead of the mapping).
        metric: the per-sample metric that is ``correct`` (``acc`` by default).
        filter_name: the lm-eval filter to read (default: the file's only one).
        overrides: per-field expressions replacing the defaults (``--map``).
        progress: called with the number of samples read so far.

    Raises:
        InputError: an unreadable file, or a sample lacking what a gate needs
            (named by ``doc_id``; ``line`` is its line in the file).
    """
    consts = {"cell": cell, "task": task, "split": split}
    mapping, views = _prepare(files, consts, metric, filter_name, overrides)
    return assemble(views(), mapping, progress=progress, sources=distinct_files(Path(f) for f in files))


def preview_lm_eval(
    files: Sequence[str | Path],
    *,
    cell: str | None = None,
    task: str | None = None,
    split: str | None = None,
    metric: str = DEFAULT_METRIC,
    filter_name: str | None = None,
    overrides: Mapping[str, Expr | Sequence[Expr]] | None = None,
) -> tuple[SampleView, list[FieldSource]]:
    """The first sample of ``files`` and the record fields it would become (a dry run)."""
    consts = {"cell": cell, "task": task, "split": split}
    mapping, views = _prepare(files, consts, metric, filter_name, overrides)
    first = next(views(), None)
    if first is None:
        raise InputError("the file holds no samples", path=str(files[0]))
    return first, preview(first, mapping)
