"""scripts/gpu_check.py in its CPU mode (tiny sizes): every phase runs and reports."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "gpu_check.py"


def _script() -> Any:
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_cpu_mode_reports_every_figure(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                       ) -> None:
    out = tmp_path / "gpu_check.json"
    assert _script().main(["--cpu", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["device"]["type"] == "cpu"
    assert report["eval"]["prompts"] > 0 and report["eval"]["prompts_per_s"] > 0
    assert report["train"]["steps"] > 0 and report["train"]["tokens_per_s"] > 0
    assert report["slice_gradients"]["items"] > 0
    assert report["slice_gradients"]["seconds_per_item"] > 0
    assert report["peak_memory_gib"] > 0
    paths = {k: v for k, v in report["agreement"].items() if isinstance(v, dict)}
    assert set(paths) == {"cpu/bfloat16/letter", "cpu/bfloat16/option"}
    assert all(v["n"] == 16 and v["flips_beyond_bound"] == 0 for v in paths.values())
    assert report["total_s"] < 480
    printed = capsys.readouterr().out
    assert "prompts_per_s" in printed and "tokens_per_s" in printed and "peak memory" in printed


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_missing_gpu_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert _script().main(["--device", "cuda"]) == 2
    assert "no CUDA device" in capsys.readouterr().err
