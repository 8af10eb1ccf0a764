"""The real path on SmolLM2-135M-Instruct: a few-step fine-tune -> loadable adapter -> mechanism."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_real_run_gives_loadable_adapter_and_mechanism_file(tmp_path: Path) -> None:
    from acceptance_cards.evidence.mechanism.signature import mechanism_for_adapter
    from acceptance_cards.evidence.models.loading import load_model
    from acceptance_cards.evidence.training.config import TrainConfig
    from acceptance_cards.evidence.training.loop import train_cell
    from acceptance_cards.mechanism import load_mechanism

    cfg = TrainConfig(steps=3, batch_size=2, n_examples=24, layers=(15,), checkpoint_every=3,
                      max_prompt_tokens=200)
    res = train_cell(cfg, tmp_path / "cell")
    assert math.isfinite(res.final_loss) and res.steps == 3
    slice_ = ["model.layers.15.self_attn.q_proj.weight", "model.layers.15.self_attn.v_proj.weight"]
    assert list(res.slice) == slice_
    lm = load_model("smollm2", adapter=tmp_path / "cell" / "adapter")  # peft loads + merges it
    assert lm.adapter is not None and lm.content_hash != load_model("smollm2").content_hash
    mech = mechanism_for_adapter(tmp_path / "cell" / "adapter", tmp_path / "mech.json",
                                 n_calibration=6, n_boot=200)
    on_disk = load_mechanism(tmp_path / "mech.json")
    assert on_disk.slice == slice_ and on_disk.n_calibration == 6
    assert mech.norm_gt > 0 and mech.norm_ga > 0 and mech.norm_dw > 0
    raw = json.loads((tmp_path / "mech.json").read_text())
    assert raw["base_model"] == "smollm2-135m-instruct" and math.isfinite(raw["rho"])
