"""Device placement: models live on the requested device, evaluation stays there,
out-of-memory halves the batch, and every device path gives the same decisions
outside numeric near-ties (issue: run where researchers run)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from acceptance_cards._util.errors import InputError
from acceptance_cards.constants import NEAR_TIE_MARGIN
from acceptance_cards.evidence.data.split import make_split
from acceptance_cards.evidence.eval.evaluate import evaluate, is_out_of_memory, plan_jobs
from acceptance_cards.evidence.eval.margins import compare_margins, decision
from acceptance_cards.evidence.models.device import default_dtype
from acceptance_cards.evidence.models.loading import load_model


def device_paths() -> list[tuple[str, str]]:
    """(device, dtype) paths this machine has, beyond the CPU fp32 reference."""
    paths = [("cpu", "bfloat16")]
    if torch.cuda.is_available():
        paths += [("cuda", "float32"), ("cuda", "auto")]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        paths.append(("mps", "float32"))
    return paths


@pytest.fixture
def jobs(mmlu: Any, templates: Any) -> list[Any]:
    split = make_split(mmlu, seed=0)
    return plan_jobs(mmlu.items, split, templates, task="sandbagging", which="fresh",
                     n_questions=6)


def test_model_lives_on_the_device_and_records_it(tiny_dir: Path) -> None:
    lm = load_model(str(tiny_dir), device="cpu")
    assert lm.device == torch.device("cpu")
    assert {p.device for p in lm.model.parameters()} == {torch.device("cpu")}
    # dtype auto is the device's default
    assert lm.dtype == str(default_dtype(lm.device)).replace("torch.", "")
    assert lm.compute["device"] == "cpu" and lm.compute["device_name"].startswith("CPU")
    assert lm.compute["dtype"] == lm.dtype


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_missing_device_is_an_input_error(tiny_dir: Path) -> None:
    with pytest.raises(InputError, match="no CUDA device"):
        load_model(str(tiny_dir), device="cuda")
    with pytest.raises(InputError, match="unknown device"):
        load_model(str(tiny_dir), device="tpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_model_and_merged_adapter_live_on_cuda(tiny_dir: Path) -> None:
    lm = load_model(str(tiny_dir), device="cuda")
    assert {p.device.type for p in lm.model.parameters()} == {"cuda"}
    assert lm.dtype == str(default_dtype(lm.device)).replace("torch.", "")


@pytest.mark.parametrize(("device", "dtype"), device_paths())
@pytest.mark.parametrize("scorer", ["letter", "option"])
def test_every_device_path_agrees_outside_near_ties(tiny_dir: Path, tiny_lm: Any,
                                                    jobs: list[Any], device: str, dtype: str,
                                                    scorer: str) -> None:
    """A tiny seeded model on each available path vs CPU fp32: the same decision (the
    letter, or "no letter") and correctness wherever the margin exceeds NEAR_TIE_MARGIN."""
    other = load_model(str(tiny_dir), device=device, dtype=dtype)
    assert next(other.model.parameters()).device.type == device
    ref = evaluate(tiny_lm, jobs, scorer=scorer)
    got = evaluate(other, jobs, scorer=scorer)
    bound = NEAR_TIE_MARGIN[scorer]
    clear = [(a, b) for a, b in zip(ref, got, strict=True) if max(a["margin"], b["margin"]) > bound]
    assert len(clear) >= len(ref) // 2  # the comparison is not vacuous
    for a, b in clear:
        assert (decision(a), a["correct"], a["valid"]) == (decision(b), b["correct"], b["valid"])
    cmp = compare_margins(ref, got)
    assert cmp.n == len(jobs)
    assert all(max(f.margin_a, f.margin_b) <= bound for f in cmp.flips)


class _OOMOnWideBatches:
    """The model's decoder, failing like a full GPU on batches wider than ``limit`` rows."""

    def __init__(self, decoder: Any, limit: int) -> None:
        self.forward, self.limit, self.rows = decoder.forward, limit, []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        rows = int(kwargs["input_ids"].shape[0])
        if rows > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        self.rows.append(rows)
        return self.forward(*args, **kwargs)


@pytest.mark.parametrize("scorer", ["letter", "option"])
def test_out_of_memory_halves_the_batch_and_records_it(tiny_dir: Path, tiny_lm: Any,
                                                       jobs: list[Any], tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       scorer: str) -> None:
    lm = load_model(str(tiny_dir), dtype="float32")
    decoder = lm.model.get_decoder()
    # the option scorer's second pass runs 4 option rows per prompt
    limit = 2 if scorer == "letter" else 8
    guard = _OOMOnWideBatches(decoder, limit)
    monkeypatch.setattr(decoder, "forward", guard)
    out = tmp_path / "r.jsonl"
    recs = evaluate(lm, jobs, scorer=scorer, out=out, max_batch=8, prefix_reuse=False)
    want = evaluate(tiny_lm, jobs, scorer=scorer, max_batch=8, prefix_reuse=False)
    assert [(r["answer"], r["valid"]) for r in recs] == [(r["answer"], r["valid"]) for r in want]
    assert [r["margin"] for r in recs] == pytest.approx([r["margin"] for r in want], abs=1e-4)
    assert guard.rows and max(guard.rows) <= limit
    batch = json.loads((tmp_path / "r.jsonl.meta.json").read_text())["batch"]
    requested = 8 if scorer == "letter" else 4
    assert batch["requested"] == requested and batch["oom_retries"] >= 1
    assert batch["used"] <= 2 < requested  # letter: 2 prompts; option: 2 prompts x 4 options


def test_out_of_memory_on_a_single_row_is_raised(tiny_dir: Path, jobs: list[Any],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    lm = load_model(str(tiny_dir), dtype="float32")
    decoder = lm.model.get_decoder()
    monkeypatch.setattr(decoder, "forward", _OOMOnWideBatches(decoder, 0))
    with pytest.raises(torch.OutOfMemoryError):
        evaluate(lm, jobs[:3], max_batch=4, prefix_reuse=False)


def test_out_of_memory_is_recognised_per_backend() -> None:
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory."))
    assert is_out_of_memory(RuntimeError("MPS backend out of memory (MPS allocated: 8 GB)"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    assert not is_out_of_memory(ValueError("out of range"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_eval_on_a_missing_device_exits_2_before_loading(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    # the model file does not exist either: the device is checked first
    proc = subprocess.run(
        [sys.executable, "-m", "acceptance_cards", "eval", "--device", "cuda",
         "--model", str(tmp_path / "missing.gguf"), "-o", str(out), "--n-questions", "1"],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "no CUDA device" in lines[0] and "device" in lines[0]
    assert "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_eval_meta_records_device_dtype_and_batch(tiny_dir: Path, tmp_path: Path) -> None:
    from acceptance_cards.cli import main

    out = tmp_path / "r.jsonl"
    with pytest.raises(SystemExit) as exc:
        main(["eval", "--model", str(tiny_dir), "--device", "cpu", "--dtype", "float32",
              "--n-questions", "1", "-o", str(out)])
    assert exc.value.code in (0, None)
    meta = json.loads((tmp_path / "r.jsonl.meta.json").read_text())
    assert meta["device"] == "cpu" and meta["dtype"] == "float32"
    assert meta["device_name"].startswith("CPU") and meta["batch"]["used"] >= 1
