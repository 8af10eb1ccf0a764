"""Model -> evaluation records (SPEC §9), fast and resumable.

Each (question, template) pair is one evaluation. Prompts are grouped by
template (they share the template's token prefix, whose KV cache is computed
once), sorted by length and cut into batches under a token budget, so padding
stays small; only the positions a scorer reads go through the LM head. Records
are appended to the JSONL output after every batch (flushed and fsynced): an
interrupted run restarted with the same arguments skips what is already there.
A sidecar ``<out>.meta.json`` records the provenance (model hash, split hash,
templates hash, scorer) and a resumed run must match it.

``scorer="both"`` scores every prompt under both scorers from one forward pass
(the option scorer's pass 1 yields the next-token logits the letter scorer
reads) and writes each evaluation twice, letter record first; resuming
completes an evaluation whose second record was not written yet.

Example:
    >>> lm = load_model("smollm2")                                           # doctest: +SKIP
    >>> jobs = make_jobs(items, templates, task="sandbagging", split="heldout")  # doctest: +SKIP
    >>> recs = evaluate(lm, jobs, scorer="letter", cell="base", out=Path("r.jsonl"))  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..._util.errors import InputError
from ..._util.writes import atomic_write_text
from ...vocab import SCORER_CHOICES, ScorerChoice
from ..data.mmlu import MCItem
from ..data.tasks import LETTERS, prompt_text
from ..data.templates import Template
from ..models.loading import LoadedModel
from .scoring import (
    SCORERS,
    PrefixCache,
    common_prefix_len,
    forward_options,
    forward_positions,
    letter_decisions,
    letter_token_ids,
)

#: Max padded tokens per forward pass (rows x width); ~4k keeps a 135M model's
#: activations cache-friendly on 2 cores while batches stay large enough.
TOKEN_BUDGET = 4096
#: Max prompts per forward pass.
MAX_BATCH = 32
#: Fixed cost of one forward call, in token-equivalents (kernel launches, cache
#: copies); it stops the batcher from cutting batches down to single rows.
BATCH_OVERHEAD_TOKENS = 96
#: Below this many shared tokens a prefix cache costs more than it saves.
MIN_PREFIX_TOKENS = 8

ProgressFn = Callable[[int, int], None]
#: One scored job under one scorer: (job, scorer, answer index, valid, top token id,
#: fp32 decision margin).
Scored = tuple["EvalJob", str, int, bool, int, float]
#: The ``scorer`` argument that records every evaluation under each of :data:`SCORERS`.
BOTH: ScorerChoice = "both"


@dataclass(frozen=True)
class EvalJob:
    """One evaluation to run: an item under one template for one task and split."""

    item: MCItem
    template: Template
    task: str
    split: str

    @property
    def key(self) -> tuple[str, str]:
        """(question_id, template_id): unique within one run."""
        return self.item.question_id, self.template.id


def make_jobs(items: Sequence[MCItem], templates: Sequence[Template], *, task: str,
              split: str) -> list[EvalJob]:
    """Every item under every template (template-major, so prefixes group)."""
    return [EvalJob(it, t, task, split) for t in templates for it in items]


def _read_done(out: Path) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Records already in ``out`` by (question, template, scorer); a torn last line is cut off."""
    done: dict[tuple[str, str, str], dict[str, Any]] = {}
    if not out.exists():
        return done
    data = out.read_bytes()
    good = data.rfind(b"\n") + 1
    if good < len(data):
        with open(out, "r+b") as fh:
            fh.truncate(good)
    for lineno, line in enumerate(data[:good].splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            done[(rec["question_id"], rec["template_id"], rec["scorer"])] = rec
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"cannot resume from this file ({exc})", path=out,
                             line=lineno) from None
    return done


def _meta_path(out: Path) -> Path:
    return out.with_name(out.name + ".meta.json")


def _check_meta(out: Path, meta: dict[str, Any]) -> None:
    """Refuse to append records of another run: model, task, split, scorer, and the
    resolved dtype and device *type* (``auto`` is bf16 on one host, fp32 on another;
    ``cuda:1`` may resume ``cuda:0``). An old meta file without dtype/device passes."""
    path = _meta_path(out)
    if path.exists() and out.exists() and out.stat().st_size > 0:
        old = json.loads(path.read_text())
        exact = ("model_hash", "task", "split", "scorer", "cell", "split_hash", "templates_hash")
        for key in (*exact, "dtype", "device"):
            a, b = (old.get(key), meta.get(key)) if key in exact else (  # device *type*
                str(old.get(key, meta.get(key))).split(":")[0], str(meta.get(key)).split(":")[0])
            if a != b:
                raise InputError(f"output already holds records of another run ({key}: "
                                 f"{old.get(key)!r} vs {meta.get(key)!r}); use a new -o file",
                                 path=out, field=key)
    atomic_write_text(path, json.dumps(meta, indent=1, sort_keys=True) + "\n")


def _batches(order: list[int], lengths: list[int], *, budget: int, max_batch: int
             ) -> list[list[int]]:
    """Cut length-sorted indices into batches with the least padded compute.

    Dynamic programming over the sorted order: a batch costs its padded tokens
    (rows x widest row) plus :data:`BATCH_OVERHEAD_TOKENS` for the per-call
    overhead, subject to ``rows <= max_batch`` and ``rows x width <= budget``
    (a single over-long row still gets its own batch).
    """
    n = len(order)
    lens = [lengths[i] for i in order]
    best = [0.0] + [float("inf")] * n
    cut = [0] * (n + 1)
    for end in range(1, n + 1):
        width = lens[end - 1]  # sorted ascending: the last row is the widest
        for start in range(end - 1, max(-1, end - 1 - max_batch), -1):
            rows = end - start
            if rows > 1 and rows * width > budget:
                break
            cost = best[start] + rows * width + BATCH_OVERHEAD_TOKENS
            if cost < best[end]:
                best[end], cut[end] = cost, start
    out: list[list[int]] = []
    end = n
    while end > 0:
        out.append(order[cut[end] : end])
        end = cut[end]
    return out[::-1]


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is a device running out of memory (CUDA, MPS or the allocator).

    ``torch.OutOfMemoryError`` (``torch.cuda.OutOfMemoryError`` is the same class)
    on CUDA; MPS raises a plain ``RuntimeError`` saying "MPS backend out of memory".
    """
    oom = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)
    return isinstance(exc, oom) or (isinstance(exc, RuntimeError)
                                    and "out of memory" in str(exc).lower())


def _free_device_memory(device: torch.device) -> None:
    """Hand cached blocks back after an out-of-memory, so the halved batch can fit."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()


class _Runner:
    """Scores groups of jobs with one model under one scorer or both.

    A batch that runs out of device memory is retried as halves, and the
    batch cap stays halved for the rest of the run (``max_batch``, recorded).
    """

    def __init__(self, lm: LoadedModel, scorer: str, *, prefix_reuse: bool, budget: int,
                 max_batch: int) -> None:
        self.lm, self.prefix_reuse = lm, prefix_reuse
        self.scorers = SCORERS if scorer == BOTH else (scorer,)
        # Option scoring adds 4 option rows per prompt; halve the batch to keep memory flat.
        self.budget = budget
        self.max_batch = max_batch if scorer == "letter" else max(1, max_batch // 2)
        self.requested_batch, self.oom_retries = self.max_batch, 0
        self.letters = letter_token_ids(lm.tokenizer)
        pad = lm.tokenizer.pad_token_id
        self.pad_id = int(pad) if pad is not None else 0

    def batch_info(self) -> dict[str, int]:
        """The batch cap asked for, the one the run ended with, and how many OOM halvings."""
        return {"requested": self.requested_batch, "used": self.max_batch,
                "oom_retries": self.oom_retries}

    def encode(self, job: EvalJob) -> list[int]:
        tok = self.lm.tokenizer
        text = prompt_text(job.item, job.template, task=job.task, tokenizer=tok,
                           add_bos=self.lm.add_bos)
        return list(tok.encode(text, add_special_tokens=False))

    def option_ids(self, item: MCItem) -> list[list[int]]:
        tok = self.lm.tokenizer
        lead = "" if getattr(tok, "chat_template", None) else " "
        return [list(tok.encode(lead + c.strip(), add_special_tokens=False)) or [self.pad_id]
                for c in item.choices]

    def score_group(self, jobs: list[EvalJob]) -> list[Scored]:
        """Jobs sharing one template scored in job order, each under every scorer in turn."""
        prompts = [self.encode(j) for j in jobs]
        plen = 0
        if self.prefix_reuse and len(jobs) > 1:
            plen = min(common_prefix_len(prompts), min(len(p) for p in prompts) - 1)
            if plen < MIN_PREFIX_TOKENS:
                plen = 0
        cache = PrefixCache(self.lm.model, prompts[0][:plen]) if plen else None
        rows = [p[plen:] for p in prompts]
        lengths = [len(r) for r in rows]
        order = sorted(range(len(rows)), key=lambda i: (lengths[i], i))
        results: dict[int, list[Scored]] = {}
        pending = _batches(order, lengths, budget=self.budget, max_batch=self.max_batch)
        while pending:
            batch = pending.pop(0)
            try:
                decided = self.score_batch(jobs, rows, batch, cache)
            except Exception as exc:
                if not is_out_of_memory(exc) or len(batch) == 1:
                    raise
                _free_device_memory(self.lm.device)
                self.oom_retries += 1
                self.max_batch = max(1, len(batch) // 2)
                pending[:0] = _batches(batch, lengths, budget=self.budget,
                                       max_batch=self.max_batch)
                continue
            results.update(decided)
        return [s for i in range(len(jobs)) for s in results[i]]

    def score_batch(self, jobs: list[EvalJob], rows: list[list[int]], batch: list[int],
                    cache: PrefixCache | None) -> dict[int, list[Scored]]:
        """One forward pass over ``batch``; the decisions come to the host in one copy.

        The option scorer's pass 1 gives the prompts' next-token logits, which are
        all the letter scorer reads: under both scorers the prompts run once.
        """
        brows = [rows[i] for i in batch]
        if self.scorers == ("letter",):
            outs = forward_positions(self.lm.model, brows, [[len(r) - 1] for r in brows],
                                     prefix=cache, pad_id=self.pad_id)
            decided = [letter_decisions(torch.cat(outs), self.letters)]
        else:
            opts = [self.option_ids(jobs[i].item) for i in batch]
            last, scores = forward_options(self.lm.model, brows, opts, prefix=cache,
                                           pad_id=self.pad_id)
            by_letter = letter_decisions(last, self.letters)
            best2 = torch.topk(scores, 2, dim=1).values  # argmax: the first best, as max() picks
            by_option = (scores.argmax(dim=1), *by_letter[1:3], best2[:, 0] - best2[:, 1])
            decided = [by_letter, by_option] if self.scorers == SCORERS else [by_option]
        # one host copy per batch; fp32 holds token ids exactly (< 2**24), MPS has no fp64
        host = torch.stack([t.float() for d in decided for t in d]).cpu().view(len(decided), 4, -1)
        out: dict[int, list[Scored]] = {i: [] for i in batch}
        for scorer, rows4 in zip(self.scorers, host.tolist(), strict=True):
            for i, (a, v, t, m) in zip(batch, zip(*rows4, strict=True), strict=True):
                out[i].append((jobs[i], scorer, int(a), bool(v), int(t), float(m)))
        return out


def _record(job: EvalJob, scorer: str, ans: int, valid: bool, top: int, margin: float, *,
            cell: str, seed: int | None, lm: LoadedModel) -> dict[str, Any]:
    gold = job.item.gold
    correct = (ans == gold) if scorer == "option" else (valid and ans == gold)
    rec: dict[str, Any] = {
        "cell": cell, "task": job.task, "split": job.split,
        "question_id": job.item.question_id, "subject": job.item.subject,
        "template_id": job.template.id, "framing": job.template.framing,
        "correct": int(correct), "answer": LETTERS[ans], "gold": LETTERS[gold],
        "valid": bool(valid), "scorer": scorer, "model": lm.label,
        "top_token": lm.tokenizer.decode([top]),
        # fp32 lead of the chosen outcome over the runner-up (scoring module docs);
        # rounded to 6 decimals only to keep the files readable (bf16 noise is far larger)
        "margin": round(float(margin), 6),
    }
    if seed is not None:
        rec["seed"] = seed
    return rec


def evaluate(
    lm: LoadedModel,
    jobs: Sequence[EvalJob],
    *,
    scorer: str = "letter",
    cell: str = "base",
    seed: int | None = None,
    out: Path | None = None,
    meta: dict[str, Any] | None = None,
    prefix_reuse: bool = True,
    token_budget: int = TOKEN_BUDGET,
    max_batch: int = MAX_BATCH,
    progress: ProgressFn | None = None,
) -> list[dict[str, Any]]:
    """Score ``jobs`` with ``lm``; return all records (resumed ones included).

    ``scorer`` is ``letter``, ``option`` or ``both`` (each job's letter record,
    then its option record). With ``out``, records are appended per template
    group and records already in the file are kept, not recomputed into a second
    copy. ``progress(done, total)`` counts jobs and is called after each group.
    """
    if scorer not in SCORER_CHOICES:
        raise InputError(f"unknown scorer {scorer!r}; one of {', '.join(SCORER_CHOICES)}",
                         field="scorer")
    keys = [j.key for j in jobs]
    if len(set(keys)) != len(keys):
        raise InputError("duplicate (question_id, template_id) jobs", field="question_id")
    done = _read_done(out) if out is not None else {}
    run_meta = (meta or {}) | {"model_hash": lm.content_hash, "model": lm.label,
                               "scorer": scorer, "cell": cell, **lm.compute}
    if out is not None:
        _check_meta(out, run_meta)
    runner = _Runner(lm, scorer, prefix_reuse=prefix_reuse, budget=token_budget,
                     max_batch=max_batch)
    # a job is done once every scorer's record is written (a kill may fall between them)
    todo = [j for j in jobs if any((*j.key, s) not in done for s in runner.scorers)]
    if progress:
        progress(len(jobs) - len(todo), len(jobs))
    with contextlib.ExitStack() as stack:
        fh = stack.enter_context(open(out, "a", encoding="utf-8")) if out is not None else None
        stack.enter_context(torch.inference_mode())
        _run(runner, todo, done, fh=fh, step=max(max_batch * 4, 1), progress=progress,
             total=len(jobs), record=lambda sc: _record(*sc, cell=cell, seed=seed, lm=lm))
    if out is not None:  # the batch cap this run ended with (halved on out-of-memory)
        atomic_write_text(_meta_path(out), json.dumps(run_meta | {"batch": runner.batch_info()},
                                                      indent=1, sort_keys=True) + "\n")
    return [done[(*k, s)] for k in keys for s in runner.scorers]


def _run(runner: _Runner, todo: list[EvalJob], done: dict[tuple[str, str, str], dict[str, Any]],
         *, fh: Any, step: int, progress: ProgressFn | None, total: int,
         record: Callable[[Scored], dict[str, Any]]) -> None:
    """Score ``todo`` template group by template group, appending the new records to ``fh``."""
    groups: dict[str, list[EvalJob]] = {}
    for j in todo:
        groups.setdefault(j.template.id, []).append(j)
    finished = total - len(todo)
    for group in groups.values():
        for start in range(0, len(group), step):
            chunk = group[start : start + step]
            recs = [record(scored) for scored in runner.score_group(chunk)]
            # a record the file already holds stays as written: no second copy
            recs = [r for r in recs if _key(r) not in done]
            done.update((_key(r), r) for r in recs)
            if fh is not None:
                _append(fh, recs)
            finished += len(chunk)
            if progress:
                progress(finished, total)


def _key(rec: dict[str, Any]) -> tuple[str, str, str]:
    return rec["question_id"], rec["template_id"], rec["scorer"]


def _append(fh: Any, recs: list[dict[str, Any]]) -> None:
    """Append records durably (flushed and fsynced: a crash loses at most this batch)."""
    fh.write("".join(json.dumps(r) + "\n" for r in recs))
    fh.flush()
    os.fsync(fh.fileno())


def plan_jobs(items: Sequence[MCItem], split: Any, templates: Any, *, task: str, which: str,
              n_questions: int | None = None) -> list[EvalJob]:
    """Jobs for one task on one split: split ids x that split's templates.

    ``heldout`` uses the 10 + 10 ``heldout`` templates, ``fresh`` the 2 + 2
    ``fresh`` ones. ``n_questions`` keeps the first N ids of the split (the
    split's order is already a seeded, subject-balanced draw).
    """
    from ..data.split import select

    ids = split.ids(which)
    if n_questions is not None:
        if n_questions < 1:
            raise InputError("must be >= 1", field="n_questions")
        ids = ids[:n_questions]
    return make_jobs(select(items, ids), templates.select(use=which), task=task, split=which)
