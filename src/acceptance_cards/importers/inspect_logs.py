"""inspect_ai logs (``.eval`` and ``.json``) → evaluation records.

Logs are read with inspect_ai's own reader (``read_eval_log`` for the header,
``read_eval_log_samples`` to stream the samples, one at a time). Each sample
becomes a *view* that mapping expressions read:

=================  ==========================================================
``id``, ``epoch``  the sample id and epoch
``input``          the input text (the last user turn for chat input)
``target``         the target (a list when the sample has several)
``metadata``       the sample's metadata
``scores``         per scorer name: ``value``, ``answer``, ``explanation``,
                   ``metadata``
``output``         ``model`` (the model that answered), ``completion``
``error``          the sample's error message, if it failed
``eval``           the log's ``task``, ``model``, ``task_args``, ``metadata``
=================  ==========================================================

Default mapping (replace any line with ``--map field=expr``; for each field the
expressions are tried in this order, the first that gives a value wins):

=================  ==========================================================
``question_id``    ``metadata.question_id``; the part before ``::`` of a
                   sample id ``<question_id>::<template_id>``; the sample ``id``
``template_id``    ``metadata.template_id``, ``metadata.template``; the part
                   after ``::`` of the sample id; ``eval.task_args.template_id``,
                   ``eval.task_args.template`` (``-T template=1``)
``framing``        ``metadata.framing``; an ``eval…``/``deploy…`` template part
                   of the sample id; ``eval.task_args.framing`` (``-T framing=eval``)
``task``           ``metadata.task``; ``eval.task`` (the task's name)
``split``          ``metadata.split``; ``eval.task_args.split``
``subject``        ``metadata.subject``
``cell``           the answering model's name (``output.model``, ``eval.model``)
``correct``        the chosen scorer's value (``C``/``I``/``P``/``N``, bool, number)
``answer``         the chosen scorer's answer
``valid``          ``scores.<scorer>.answer | nonempty``: false when the scorer
                   found no answer in the output
``gold``           ``target``; ``model`` as ``cell``
=================  ==========================================================

``--cell``, ``--task`` and ``--split`` replace their field's expressions with a
constant. Several epochs of a sample are averaged.

Example:
    >>> result = import_inspect(["logs/run.eval"], cell="base")        # doctest: +SKIP
    >>> result.cell, len(result.records)                                # doctest: +SKIP
    ('base', 48)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from .._util.errors import InputError
from .._util.lazy import require
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

#: Log formats inspect_ai writes.
LOG_SUFFIXES = (".eval", ".json")
#: Most bytes a log may unpack to (a ``.eval`` archive's members together, or a ``.json``
#: log's size): the reader holds a log's parts in memory, so a zip bomb must be refused
#: before it is opened. 1 GiB is far above a real run's log (the 48-question fixtures
#: unpack to about 0.5 MB).
MAX_LOG_UNPACKED_BYTES = 1 << 30
#: Highest unpacked/packed ratio a ``.eval`` member may have. JSON logs deflate about
#: 10:1; deflate tops out near 1000:1, reached only by degenerate (bomb) content.
MAX_LOG_COMPRESSION_RATIO = 200


def default_mapping(scorer: str) -> FieldMapping:
    """The built-in mapping for samples scored by ``scorer``."""
    sc = f"scores.{scorer}"
    return FieldMapping({
        "cell": exprs("output.model", "eval.model"),
        "task": exprs("metadata.task", "eval.task"),
        "split": exprs("metadata.split", "eval.task_args.split"),
        "question_id": exprs("metadata.question_id", "id | re/^(.+?)::/", "id"),
        "subject": exprs("metadata.subject"),
        "template_id": exprs("metadata.template_id", "metadata.template", "id | re/::(.+)$/",
                             "eval.task_args.template_id", "eval.task_args.template"),
        "framing": exprs("metadata.framing", r"id | re/::(eval|deploy)(?![a-z])/",
                         "eval.task_args.framing"),
        "correct": exprs(f"{sc}.value"),
        "answer": exprs(f"{sc}.answer"),
        "valid": exprs(f"{sc}.answer | nonempty"),
        "gold": exprs("target"),
        "model": exprs("output.model", "eval.model"),
        "scorer": (parse_expr(f"'inspect:{scorer}'"),),
    })


def _header(path: Path) -> Any:
    log_mod = require("inspect_ai.log")
    if not path.is_file():
        raise InputError("no such log file", path=path)
    if path.suffix not in LOG_SUFFIXES:
        raise InputError(f"not an inspect_ai log: expected {' or '.join(LOG_SUFFIXES)}",
                         path=path)
    check_log_size(path)
    try:
        return log_mod.read_eval_log(str(path), header_only=True)
    except Exception as exc:  # inspect raises many types for an unreadable file
        raise InputError(f"not a readable inspect_ai log ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:200] if str(exc) else ''})",
                         path=path) from None


def check_log_size(path: Path) -> None:
    """Refuse a log that would unpack past :data:`MAX_LOG_UNPACKED_BYTES` (or looks like a bomb).

    Example:
        >>> check_log_size(Path("tests/fixtures/inspect/smollm2-base.eval"))  # doctest: +SKIP
    """
    import zipfile

    limit = f"the limit is {MAX_LOG_UNPACKED_BYTES / 2**20:.0f} MiB"
    if path.suffix != ".eval":
        if path.stat().st_size > MAX_LOG_UNPACKED_BYTES:
            raise InputError(f"log is {path.stat().st_size / 2**20:.0f} MiB; {limit}", path=path)
        return
    try:
        with zipfile.ZipFile(path) as zf:
            members = zf.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"not a readable inspect_ai log (not a .eval archive: {exc})", path=path) from None
    # zipfile reads a member only up to its declared size, so declared sizes bound memory
    total = sum(m.file_size for m in members)
    if total > MAX_LOG_UNPACKED_BYTES:
        raise InputError(f"archive unpacks to {total / 2**20:.0f} MiB; {limit}", path=path)
    for m in members:
        if m.file_size > 1 << 20 and m.file_size > MAX_LOG_COMPRESSION_RATIO * max(m.compress_size, 1):
            raise InputError(f"member {m.filename!r} unpacks {m.file_size // max(m.compress_size, 1)}:1 "
                             f"(limit {MAX_LOG_COMPRESSION_RATIO}:1); refusing a likely zip bomb",
                             path=path)


def _scorer_names(header: Any) -> list[str]:
    results = getattr(header, "results", None)
    scores = getattr(results, "scores", None) or []
    return list(dict.fromkeys(s.name for s in scores))


def choose_scorer(header: Any, path: Path, scorer: str | None) -> str:
    """The scorer whose value becomes ``correct``: ``scorer`` or the log's only one."""
    names = _scorer_names(header)
    if scorer is not None:
        if names and scorer not in names:
            raise InputError(f"log has no scorer {scorer!r}; it has {', '.join(names)}",
                             path=path, field="scorer")
        return scorer
    if len(names) == 1:
        return names[0]
    if not names:
        raise InputError("log has no scores (was it scored?); name the scorer with --scorer",
                         path=path, field="scorer")
    raise InputError(f"log has several scorers ({', '.join(names)}); choose one with --scorer",
                     path=path, field="scorer")


def _text(value: Any) -> Any:
    if isinstance(value, str):
        return value
    users = [m for m in value if getattr(m, "role", None) == "user"]
    return users[-1].text if users else ""


def sample_view(sample: Any, header: Any) -> dict[str, Any]:
    """The plain mapping expressions read for one ``EvalSample``."""
    ev = header.eval
    out = sample.output
    return {
        "id": sample.id,
        "epoch": sample.epoch,
        "input": _text(sample.input),
        "target": sample.target,
        "metadata": dict(sample.metadata or {}),
        "scores": {
            name: {"value": s.value, "answer": s.answer, "explanation": s.explanation,
                   "metadata": dict(s.metadata or {})}
            for name, s in (sample.scores or {}).items()
        },
        "output": {"model": out.model if out is not None else None,
                   "completion": out.completion if out is not None else None},
        "error": sample.error.message if sample.error is not None else None,
        "eval": {"task": ev.task, "model": ev.model, "task_args": dict(ev.task_args or {}),
                 "metadata": dict(ev.metadata or {})},
    }


def _views(path: Path, header: Any, scorer: str) -> Iterator[SampleView]:
    log_mod = require("inspect_ai.log")
    try:
        # a finished log must hold every sample it lists; a cancelled or failed run
        # holds what it got (the checks below still refuse a question left one-sided)
        complete = getattr(header, "status", None) == "success"
        samples = log_mod.read_eval_log_samples(str(path), all_samples_required=complete)
        for i, s in enumerate(samples, 1):
            view = sample_view(s, header)
            if scorer not in view["scores"]:
                why = f" (the sample failed: {view['error']})" if view["error"] else ""
                raise InputError(f"sample {s.id!r}: no score from scorer {scorer!r}{why}",
                                 path=path, line=i, field="correct")
            yield SampleView(view, label=str(s.id), index=i, path=str(path), epoch=s.epoch)
    except InputError:
        raise
    except Exception as exc:  # a truncated or foreign file
        raise InputError(f"cannot read the samples ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:200] if str(exc) else ''})",
                         path=path) from None


def _prepare(logs: Sequence[str | Path], consts: Mapping[str, str | None], scorer: str | None,
             overrides: Mapping[str, Expr | Sequence[Expr]] | None
             ) -> tuple[FieldMapping, Callable[[], Iterator[SampleView]]]:
    """The mapping (defaults, then constants, then ``overrides``) and the samples of ``logs``."""
    if not logs:
        raise InputError("give at least one log file")
    parts: list[tuple[Path, Any, str]] = []
    for p in distinct_files(Path(log) for log in logs):
        header = _header(p)
        parts.append((p, header, choose_scorer(header, p, scorer)))
    names = {s for _, _, s in parts}
    if len(names) > 1:
        raise InputError(f"the logs use different scorers ({', '.join(sorted(names))}); "
                         "choose one with --scorer", field="scorer")
    mapping = with_constants(default_mapping(parts[0][2]), consts)
    if overrides:
        mapping = mapping.with_overrides(overrides)

    def views() -> Iterator[SampleView]:
        for p, header, sc in parts:
            yield from _views(p, header, sc)

    return mapping, views


def import_inspect(
    logs: Sequence[str | Path],
    *,
    cell: str | None = None,
    task: str | None = None,
    split: str | None = None,
    scorer: str | None = None,
    overrides: Mapping[str, Expr | Sequence[Expr]] | None = None,
    progress: ProgressFn | None = None,
) -> ImportResult:
    """Records from one or more inspect_ai logs of one model.

    Args:
        logs: ``.eval`` or ``.json`` log files (e.g. one per framing and template).
        cell, task, split: constants for these fields (instead of the mapping).
        scorer: which scorer's value is ``correct`` (default: the log's only one).
        overrides: per-field expressions replacing the defaults (``--map``).
        progress: called with the number of samples read so far.

    Raises:
        InputError: an unreadable log, or a sample lacking what a gate needs
            (named by id; ``line`` is its 1-based position in the log).
    """
    consts = {"cell": cell, "task": task, "split": split}
    mapping, views = _prepare(logs, consts, scorer, overrides)
    return assemble(views(), mapping, progress=progress, sources=distinct_files(Path(log) for log in logs))


def preview_inspect(
    logs: Sequence[str | Path],
    *,
    cell: str | None = None,
    task: str | None = None,
    split: str | None = None,
    scorer: str | None = None,
    overrides: Mapping[str, Expr | Sequence[Expr]] | None = None,
) -> tuple[SampleView, list[FieldSource]]:
    """The first sample of ``logs`` and the record fields it would become (a dry run)."""
    consts = {"cell": cell, "task": task, "split": split}
    mapping, views = _prepare(logs, consts, scorer, overrides)
    first = next(views(), None)
    if first is None:
        raise InputError("the log holds no samples", path=str(logs[0]))
    return first, preview(first, mapping)


def count_samples(logs: Sequence[str | Path]) -> int | None:
    """Total samples the logs' headers announce (for a progress bar), if known."""
    total = 0
    for log in logs:
        header = _header(Path(log))
        n = getattr(getattr(header, "results", None), "total_samples", None)
        if n is None:
            return None
        total += int(n)
    return total
