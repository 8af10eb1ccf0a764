"""Import and export commands: ``acard import inspect|lm-eval``, ``acard export hf``.

Command bodies import the importers (and inspect_ai / huggingface_hub) only when
they run, so ``acard --help`` works without the [inspect] or [hf] extras.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .._util.errors import InputError
from .._util.files import check_outputs, read_text
from .._util.writes import atomic_write_text
from ..vocab import Split

_out = Console(highlight=False, soft_wrap=True)
_err = Console(stderr=True, highlight=False, soft_wrap=True)

import_app = typer.Typer(name="import", no_args_is_help=True, help=(
    "Turn other tools' evaluation logs into evaluation records (SPEC §9)."))
export_app = typer.Typer(name="export", no_args_is_help=True, help=(
    "Publish a card where results live (Hugging Face model cards)."))

MapOpt = Annotated[list[str] | None, typer.Option(
    "--map", "-m", metavar="FIELD=EXPR",
    help="Where a record field comes from, e.g. --map 'framing=metadata.cond | "
         "map{test=eval, chat=deploy}' or --map 'valid=scores.choice.answer | nonempty' "
         "(repeatable). Expressions: a dotted path or 'literal', then filters re/PATTERN/, "
         "map{a=b}, lower, upper, strip, argmax, letter, nonempty; see the README.")]
MapFileOpt = Annotated[Path | None, typer.Option(
    "--map-file", help="TOML file with a \\[map] table of field = expression(s).")]
OutOpt = Annotated[Path | None, typer.Option(
    "--output", "-o", help="Records JSONL to write (required unless --show).")]
ShowOpt = Annotated[bool, typer.Option(
    "--show", help="Dry run: print the record the first sample would become and where each "
    "field came from; write nothing.")]
CellOpt = Annotated[str | None, typer.Option(help="Cell name for every record (default: the "
                                             "model that answered).")]
TaskOpt = Annotated[str | None, typer.Option(
    help="Task for every record, any name (default: from the log; see below).")]
SplitOpt = Annotated[Split | None, typer.Option(
    help="Split for every record (default: from the log).")]


def _overrides(maps: list[str] | None, map_file: Path | None) -> dict[str, Any]:
    from ..importers.mapping import load_mapping_file, parse_map_options

    out: dict[str, Any] = dict(load_mapping_file(map_file)) if map_file is not None else {}
    out.update(parse_map_options(maps or []))  # command line wins over the file
    return out


@contextmanager
def _progress(label: str, total: int | None) -> Iterator[Callable[[int], None]]:
    # off when stderr is not a terminal: an error must stay the only line there
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=_err, transient=True,
                  disable=not _err.is_terminal) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.update(task, completed=n)


def _write(result: Any, output: Path, sources: list[Path]) -> None:
    from ..importers.assemble import records_jsonl

    atomic_write_text(output, records_jsonl(result))
    splits = sorted({r["split"] for r in result.records})
    nq = len({r["question_id"] for r in result.records})
    _out.print(f"{len(result.records)} records ({nq} questions; {', '.join(splits)}) of cell "
               f"{result.cell!r}, task {result.task!r}, from {result.n_samples} samples in "
               f"{len(sources)} file(s) → {output}", markup=False)
    for note in result.notes:
        _out.print(f"note: {note}", markup=False)
    for warning in result.warnings:  # the scorer checks: the card will carry them as notes
        _err.print(f"warning: {warning}", markup=False)


def _show(first: Any, fields: list[Any]) -> None:
    """Print a previewed record: one line per field, value and source."""
    from ..importers.mapping import MISSING

    _out.print(f"sample 1 ({first.path}, id {first.label!r}) would become:", markup=False)
    width = max(len(f.field) for f in fields)
    for f in fields:
        value = "— no value" if f.value is MISSING else repr(f.value)
        if len(value) > 60:
            value = value[:57] + "…"
        _out.print(f"  {f.field:<{width}}  {value:<30}  ← {f.source}", markup=False)
    _out.print("(dry run: nothing written; the checks across samples run on import)",
               markup=False)


def _need_output(output: Path | None) -> Path:
    if output is None:
        raise InputError("give --output FILE (or --show for a dry run)", field="output")
    return output


def import_inspect_cmd(
    logs: Annotated[list[Path], typer.Argument(metavar="LOG...", help="inspect_ai .eval/.json logs.")],
    output: OutOpt = None,
    maps: MapOpt = None,
    map_file: MapFileOpt = None,
    cell: CellOpt = None,
    task: TaskOpt = None,
    split: SplitOpt = None,
    scorer: Annotated[str | None, typer.Option(
        help="Scorer whose value is `correct` (default: the log's only scorer).")] = None,
    show: ShowOpt = False,
) -> None:
    """Records from inspect_ai logs (read with inspect_ai's own reader).

    Give all logs of one cell at once (e.g. one per framing and template).
    Default sources, tried in this order (--map FIELD=EXPR replaces them):

    \b
    question_id  metadata.question_id; the part before "::" of the sample id; the sample id
    template_id  metadata.template_id, metadata.template; the part after "::" of the id;
                 eval.task_args.template_id, eval.task_args.template (-T template=1)
    framing      metadata.framing; an eval…/deploy… part after "::" of the id;
                 eval.task_args.framing (-T framing=eval)
    task         metadata.task; eval.task (the task's name)
    split        metadata.split; eval.task_args.split
    subject      metadata.subject
    cell         the answering model's name (output.model, eval.model)
    correct      scores.SCORER.value; answer: scores.SCORER.answer
    valid        scores.SCORER.answer | nonempty (false when the scorer found no answer)
    """
    from ..importers.inspect_logs import count_samples, import_inspect, preview_inspect

    check_outputs({"--output": output}, [*logs, map_file])
    overrides = _overrides(maps, map_file)
    if show:
        _show(*preview_inspect(logs, cell=cell, task=task, split=split, scorer=scorer,
                               overrides=overrides))
        return
    out = _need_output(output)
    with _progress("reading inspect logs", count_samples(logs)) as tick:
        result = import_inspect(logs, cell=cell, task=task, split=split, scorer=scorer,
                                overrides=overrides, progress=tick)
    _write(result, out, logs)


def import_lm_eval_cmd(
    files: Annotated[list[Path], typer.Argument(
        metavar="SAMPLES.jsonl...", help="lm-eval --log_samples files (samples_<task>_<date>.jsonl).")],
    output: OutOpt = None,
    maps: MapOpt = None,
    map_file: MapFileOpt = None,
    cell: CellOpt = None,
    task: TaskOpt = None,
    split: SplitOpt = None,
    metric: Annotated[str, typer.Option(help="Per-sample metric that is `correct`.")] = "acc",
    filter_name: Annotated[str | None, typer.Option(
        "--filter", help="lm-eval filter to read (default: the file's only one).")] = None,
    show: ShowOpt = False,
) -> None:
    """Records from lm-evaluation-harness --log_samples output.

    Give all samples files of one model at once (e.g. one per framed task).
    Default sources, tried in this order (--map FIELD=EXPR replaces them); a
    "token" is a part of the task name between _ - or . separators:

    \b
    question_id  doc.question_id, doc.id, doc_id
    template_id  doc.template_id, doc.template, metadata.template_id, metadata.template
                 (the task YAML's metadata); a t<N> token of the task name (…_eval_t2 → t2)
    framing      doc.framing, metadata.framing; an eval or deploy token of the task name
    task         doc.task; the task name without its framing/template tokens; the task name
    split        doc.split, metadata.split
    subject      doc.subject
    cell         the last part of the model path in the results_<date>.json beside the file
    correct      the --metric (acc); answer: filtered_resps | argmax | letter
    """
    from ..importers.lm_eval_samples import import_lm_eval, preview_lm_eval

    check_outputs({"--output": output}, [*files, map_file])
    overrides = _overrides(maps, map_file)
    if show:
        _show(*preview_lm_eval(files, cell=cell, task=task, split=split, metric=metric,
                               filter_name=filter_name, overrides=overrides))
        return
    out = _need_output(output)
    with _progress("reading lm-eval samples", None) as tick:
        result = import_lm_eval(files, cell=cell, task=task, split=split, metric=metric,
                                filter_name=filter_name, overrides=overrides, progress=tick)
    _write(result, out, files)


def export_hf_cmd(
    card_path: Annotated[Path, typer.Argument(metavar="CARD.json", help="Card JSON.")],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="README.md to write; an existing one is updated in place "
        "(our section and eval results replaced, the rest kept). Default: stdout.")] = None,
    model_name: Annotated[str | None, typer.Option(
        help="model-index name (default: the README's, else family-cell).")] = None,
    base_model: Annotated[str | None, typer.Option(help="`base_model` metadata (a hub id).")] = None,
    dataset_id: Annotated[str, typer.Option(help="Dataset id of the eval results.")] = "cais/mmlu",
    dataset_name: Annotated[str, typer.Option(help="Dataset display name.")] = (
        "MMLU (eval- vs deploy-framed prompts)"),
) -> None:
    """A Hugging Face model-card section + model-index eval results for a card.

    With ``-o README.md`` it also writes ``.eval_results/acceptance-card.yaml`` beside it.
    """
    from ..card.model import load_card
    from ..export.huggingface import check_front_matter, to_model_card

    check_outputs({"--output": output}, [card_path])
    card = load_card(card_path)
    existing = None
    if output is not None and output.exists():
        existing = read_text(output, what="README")
        check_front_matter(existing, path=output)
    mc = to_model_card(card, model_name=model_name, existing=existing, dataset_id=dataset_id,
                       dataset_name=dataset_name, base_model=base_model)
    text = str(mc)
    if not text.endswith("\n"):
        text += "\n"
    if output is None:
        typer.echo(text, nl=False)
        return
    atomic_write_text(output, text)
    n = len(mc.data.eval_results or [])
    _out.print(f"{'updated' if existing else 'wrote'} {output}: verdict {card.verdict} "
               f"({card.summary}); {n} eval results in model-index", markup=False)
    # the Hub's newer format beside the README: .eval_results/acceptance-card.yaml
    from ..export.huggingface import write_eval_results

    er = write_eval_results(card, output.parent, dataset_id=dataset_id)
    _out.print(f"wrote {er}: the same {n} results as .eval_results entries", markup=False)


def register(app: typer.Typer) -> None:
    """Add the ``import`` and ``export`` command groups to ``app``."""
    import_app.command("inspect")(import_inspect_cmd)
    import_app.command("lm-eval")(import_lm_eval_cmd)
    export_app.command("hf")(export_hf_cmd)
    app.add_typer(import_app, name="import")
    app.add_typer(export_app, name="export")
