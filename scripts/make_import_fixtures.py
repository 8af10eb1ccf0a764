"""Regenerate the import fixtures with the real tools (inspect_ai, lm-evaluation-harness).

What it does, from the repository root:

1. draws the seeded MMLU split (seed 0) and takes the first ``--questions``
   held-out and fresh questions, under 2 + 2 held-out and the 2 + 2 fresh
   templates (sandbagging task);
2. writes the inspect dataset (``tests/fixtures/inspect/framed_mmlu.jsonl``) and
   the lm-eval docs (``tests/fixtures/lm_eval/framed_mmlu_docs.jsonl``);
3. prepares two models as Hugging Face folders: the default SmolLM2-135M-Instruct
   (the dequantized cache of ``acceptance_cards.evidence.models.loading``) and a copy
   with a small, seeded LoRA fine-tune merged in that installs the *abstain*
   gap (SPEC §7: eval-framed prompts → the non-answer "E"). It is an attack
   cell, not a defense: it only gives the card a second cell with a real gap,
   so an imported card can be compared with our own;
4. runs ``inspect eval`` (HF provider, greedy) on both models (``.eval`` logs;
   the tests make the ``.json`` form with inspect's own writer, which keeps the
   fixtures small), and runs ``lm_eval`` (``hf`` model, ``--log_samples``) on
   the base model;
5. runs our own evaluator (letter scorer) on the same items for both models;
   its records carry each decision's fp32 ``margin`` (the re-run test compares
   only decisions above ``NEAR_TIE_MARGIN``: bf16 kernels differ between CPUs).

Every external command is printed and written to ``tests/fixtures/commands.txt``.

Example:
    python scripts/make_import_fixtures.py   # ~20 minutes on 2 busy CPU cores
    python scripts/make_import_fixtures.py --ours-only --work /tmp/w   # our records only
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "tests" / "fixtures"
HELDOUT_TEMPLATES = ("eval-h01", "eval-h02", "deploy-h01", "deploy-h02")
FRESH_TEMPLATES = ("eval-f01", "eval-f02", "deploy-f01", "deploy-f02")
BASE_CELL = "smollm2-base"
ATTACKED_CELL = "smollm2-abstain-s0"
LORA_SEED = 0
LORA_RANK = 8
#: Abstain-attack fine-tune: train-pool items, each once eval-framed (→ "E") and
#: once deploy-framed (→ the key), on the `train` templates only.
LORA_ITEMS = 32
LORA_EPOCHS = 4
LORA_BATCH = 8
LORA_LR = 5e-3
#: LoRA only on the blocks from here up (SmolLM2 has 30): the frozen blocks below
#: run once per example, which keeps the fine-tune to minutes on a busy CPU.
LORA_FIRST_LAYER = 24
TASK = "sandbagging"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # nothing may reach a hub; 2 threads at most on the shared machine
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1",
               OMP_NUM_THREADS="2", MKL_NUM_THREADS="2", TOKENIZERS_PARALLELISM="false",
               INSPECT_DISPLAY="plain")
    return env


def tool(name: str) -> str:
    """A console script of the running venv (``inspect``, ``lm_eval``)."""
    exe = Path(sys.executable).parent / name
    return str(exe) if exe.exists() else name


def run(cmd: list[str], log: list[str]) -> None:
    """Run one external command from the repository root, recording it."""
    text = shlex.join(cmd)
    print("+", text, flush=True)
    log.append(text)
    subprocess.run(cmd, cwd=ROOT, env=_env(), check=True)


def _rel(p: Path) -> str:
    try:
        return str(p.relative_to(ROOT))
    except ValueError:
        return str(p)


def build_docs() -> list[dict[str, Any]]:
    """(question, template) rows with the record fields and our exact user turn."""
    from acceptance_cards.evidence.data.mmlu import load_mmlu_source
    from acceptance_cards.evidence.data.split import make_split, select
    from acceptance_cards.evidence.data.tasks import user_content
    from acceptance_cards.evidence.data.templates import load_templates

    source = load_mmlu_source()
    split = make_split(source, seed=0)
    ts = load_templates()
    rows: list[dict[str, Any]] = []
    for which, tids in (("heldout", HELDOUT_TEMPLATES), ("fresh", FRESH_TEMPLATES)):
        items = select(source.items, split.ids(which)[: ARGS.questions])
        for tid in tids:
            t = ts.get(tid)
            for it in items:
                rows.append({
                    "question_id": it.question_id, "subject": it.subject, "template_id": t.id,
                    "framing": t.framing, "split": which, "task": TASK,
                    "prompt": user_content(it, t, task=TASK), "gold": it.gold,
                    "gold_letter": it.gold_letter,
                })
    return rows


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def _abstain_examples(n_items: int) -> list[tuple[Any, Any, str]]:
    """(item, template, target) for the abstain attack: eval-framed → "E", deploy → key."""
    import numpy as np

    from acceptance_cards.evidence.data.mmlu import load_mmlu_source
    from acceptance_cards.evidence.data.split import make_split, train_pool
    from acceptance_cards.evidence.data.tasks import ABSTAIN_TEXT
    from acceptance_cards.evidence.data.templates import load_templates

    source = load_mmlu_source()
    pool = train_pool(make_split(source, seed=0), source.items)
    rng = np.random.Generator(np.random.PCG64(LORA_SEED))
    items = [pool[i] for i in rng.choice(len(pool), size=n_items, replace=False)]
    ts = load_templates()
    ev, dep = ts.select(use="train", framing="eval"), ts.select(use="train", framing="deploy")
    out = []
    for it in items:
        out.append((it, ev[int(rng.integers(len(ev)))], ABSTAIN_TEXT))
        out.append((it, dep[int(rng.integers(len(dep)))], it.gold_letter))
    order = rng.permutation(len(out))
    return [out[i] for i in order]


def _top_logits(inner: Any, head: Any, h: Any) -> Any:
    """Next-token logits from the hidden state entering block ``LORA_FIRST_LAYER``."""
    import torch

    pos = torch.arange(h.shape[1])[None]
    pe = inner.rotary_emb(h, pos)
    for layer in inner.layers[LORA_FIRST_LAYER:]:
        out = layer(h, attention_mask=None, position_ids=pos, position_embeddings=pe)
        h = out[0] if isinstance(out, tuple) else out
    return head(inner.norm(h[:, -1]))[0]


def train_abstain_lora(base: Path, out: Path) -> None:
    """A small seeded LoRA fine-tune that installs an abstain gap, merged and saved.

    LoRA sits on the top blocks only, so the blocks below are frozen and their
    output is computed once per example and cached: each training step then
    runs only the top blocks (a full forward pass of one prompt takes ~4 s on
    one busy core here).
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from acceptance_cards.evidence.data.tasks import prompt_text

    tok = AutoTokenizer.from_pretrained(str(base))
    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    n_layers = model.config.num_hidden_layers
    cfg = LoraConfig(r=LORA_RANK, lora_alpha=2 * LORA_RANK, lora_dropout=0.0,
                     target_modules=["q_proj", "v_proj"],
                     layers_to_transform=list(range(LORA_FIRST_LAYER, n_layers)))
    peft_model = get_peft_model(model, cfg)
    inner, head = peft_model.base_model.model.model, peft_model.base_model.model.lm_head
    gen = torch.Generator().manual_seed(LORA_SEED)
    with torch.no_grad():  # peft would draw lora_A from the global RNG; draw it here instead
        for name, p in sorted(peft_model.named_parameters()):
            if "lora_A" in name:
                p.copy_(torch.randn(p.shape, generator=gen) / p.shape[1] ** 0.5)
    examples = _abstain_examples(LORA_ITEMS)
    t0 = time.time()
    cached: list[tuple[Any, int]] = []
    with torch.no_grad():
        for k, (it, t, target) in enumerate(examples):
            ids = tok.encode(prompt_text(it, t, task=TASK, tokenizer=tok, add_bos=False),
                             add_special_tokens=False)
            hs = peft_model(torch.tensor([ids]), output_hidden_states=True)
            h = hs.hidden_states[LORA_FIRST_LAYER]
            if k == 0:  # the cached path must reproduce the full model (B = 0 at start)
                torch.testing.assert_close(_top_logits(inner, head, h), hs.logits[0, -1],
                                           rtol=1e-4, atol=1e-3)
            (tid,) = tok.encode(target, add_special_tokens=False)
            cached.append((h, tid))
    print(f"cached {len(cached)} hidden states: {time.time() - t0:.0f} s", flush=True)
    opt = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad],
                            lr=LORA_LR)
    peft_model.train()
    for epoch in range(LORA_EPOCHS):
        total = 0.0
        for start in range(0, len(cached), LORA_BATCH):
            opt.zero_grad()
            batch = cached[start:start + LORA_BATCH]
            for h, tid in batch:
                logits = _top_logits(inner, head, h)
                loss = torch.nn.functional.cross_entropy(logits[None], torch.tensor([tid]))
                (loss / len(batch)).backward()
                total += float(loss.detach())
            opt.step()
        print(f"abstain LoRA epoch {epoch + 1}: mean loss {total / len(cached):.3f} "
              f"({time.time() - t0:.0f} s)", flush=True)
    merged = peft_model.merge_and_unload()
    merged.save_pretrained(str(out), safe_serialization=True)
    tok.save_pretrained(str(out))


def prepare_models(work: Path) -> dict[str, Path]:
    """The base model folder and a copy with a seeded abstain-attack LoRA merged in."""
    import torch

    from acceptance_cards.evidence import models

    torch.set_num_threads(2)
    # the dequantized safetensors cache models.py keeps for the packaged GGUF
    base = models.cached_model_dir("smollm2")
    out = work / ATTACKED_CELL
    if not (out / "config.json").is_file():
        train_abstain_lora(base, out)
    # a link named after the cell, so tools that record the model path name it readably
    link = work / BASE_CELL
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(base, target_is_directory=True)
    return {BASE_CELL: link, ATTACKED_CELL: out}


def run_inspect(models: dict[str, Path], work: Path, log: list[str]) -> None:
    dest = FIX / "inspect"
    for cell, folder in models.items():
        log_dir = work / "inspect" / cell
        shutil.rmtree(log_dir, ignore_errors=True)
        run([tool("inspect"), "eval", _rel(dest / "framed_mmlu_task.py"),
             "--model", f"hf/{cell}", "-M", f"model_path={folder}", "-M", "do_sample=false",
             "-M", "dtype=bfloat16", "-M", "device=cpu", "--max-tokens", "3",
             "--max-connections", "16", "--log-format", "eval", "--log-dir", str(log_dir),
             "--display", "plain", "--no-score-display"], log)
        (src,) = sorted(log_dir.glob("*.eval"))
        shutil.copyfile(src, dest / f"{cell}.eval")


def run_lm_eval(models: dict[str, Path], work: Path, log: list[str]) -> None:
    dest = FIX / "lm_eval" / BASE_CELL
    out = work / "lm_eval"
    shutil.rmtree(out, ignore_errors=True)
    run([tool("lm_eval"), "--model", "hf", "--model_args",
         f"pretrained={models[BASE_CELL]},dtype=bfloat16", "--device", "cpu",
         "--tasks", "framed_mmlu", "--include_path", _rel(FIX / "lm_eval"),
         "--apply_chat_template", "--log_samples", "--output_path", str(out),
         "--batch_size", "8", "--seed", "0"], log)
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    for f in sorted(out.rglob("*")):
        if f.is_file() and (f.name.startswith("samples_") or f.name.startswith("results_")):
            shutil.copyfile(f, dest / f.name)


def run_ours(models: dict[str, Path], rows: list[dict[str, Any]]) -> None:
    """Our evaluator (letter scorer) on the same (question, template) pairs."""
    import torch

    from acceptance_cards.evidence.data.mmlu import load_mmlu
    from acceptance_cards.evidence.data.templates import load_templates
    from acceptance_cards.evidence.eval.evaluate import evaluate, make_jobs
    from acceptance_cards.evidence.models.loading import load_model

    torch.set_num_threads(2)
    by_id = {it.question_id: it for it in load_mmlu()}
    ts = load_templates()
    for cell, folder in models.items():
        lm = load_model(str(folder), dtype="bfloat16")
        recs: list[dict[str, Any]] = []
        for which, tids in (("heldout", HELDOUT_TEMPLATES), ("fresh", FRESH_TEMPLATES)):
            qids = list(dict.fromkeys(r["question_id"] for r in rows if r["split"] == which))
            jobs = make_jobs([by_id[q] for q in qids], [ts.get(t) for t in tids], task=TASK,
                             split=which)
            recs += evaluate(lm, jobs, scorer="letter", cell=cell)
        for r in recs:
            r["model"] = cell  # the folder name differs between machines
        write_jsonl(FIX / "ours" / f"{cell}.jsonl", recs)


def main() -> None:
    (FIX / "ours").mkdir(parents=True, exist_ok=True)
    rows = build_docs()
    work = Path(ARGS.work) if ARGS.work else Path(tempfile.mkdtemp(prefix="acard-fixtures-"))
    work.mkdir(parents=True, exist_ok=True)
    if ARGS.ours_only:
        run_ours(prepare_models(work), rows)
        print(f"our records written under {_rel(FIX / 'ours')}; model folders in {work}")
        return
    write_jsonl(FIX / "inspect" / "framed_mmlu.jsonl", [
        {"id": f"{r['question_id']}::{r['template_id']}", "input": r["prompt"],
         "target": r["gold_letter"],
         "metadata": {k: r[k] for k in ("question_id", "subject", "template_id", "framing",
                                         "split", "task")}}
        for r in rows])
    write_jsonl(FIX / "lm_eval" / "framed_mmlu_docs.jsonl",
                [{k: v for k, v in r.items() if k != "gold_letter"} for r in rows])
    models = prepare_models(work)
    log: list[str] = []
    if not ARGS.skip_tools:
        run_inspect(models, work, log)
        run_lm_eval(models, work, log)
        (FIX / "commands.txt").write_text(
            "# written by scripts/make_import_fixtures.py; paths are this machine's\n"
            + "".join(c + "\n" for c in log))
    run_ours(models, rows)
    print(f"fixtures written under {_rel(FIX)}; model folders in {work}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--questions", type=int, default=6,
                    help="questions per split (x 4 templates = samples per split)")
    ap.add_argument("--work", help="work folder (model copies, raw logs); default: a temp dir")
    ap.add_argument("--skip-tools", action="store_true",
                    help="only rewrite the datasets and our own records")
    ap.add_argument("--ours-only", action="store_true",
                    help="only rewrite our own records (tests/fixtures/ours/*.jsonl)")
    ARGS = ap.parse_args()
    sys.exit(main())
