"""The training loop: outputs, resume, determinism, NaN, config clashes (tiny model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers_train import tiny_config

from acceptance_cards._util.errors import InputError
from acceptance_cards.evidence.models.delta_w import delta_from_adapter
from acceptance_cards.evidence.training.loop import batch_indices, lr_at, train_cell


def test_cell_folder_holds_everything(tiny_dir: Path, tmp_path: Path) -> None:
    from acceptance_cards.evidence.models.loading import load_model

    cfg = tiny_config(tiny_dir)
    res = train_cell(cfg, tmp_path / "cell")
    cell = tmp_path / "cell"
    conf = json.loads((cell / "config.json").read_text())
    assert conf["config_digest"] == cfg.digest() and conf["recipe"]["claimed_class"] == "reference"
    assert conf["slice"] == list(res.slice) == ["model.layers.2.self_attn.q_proj.weight",
                                                "model.layers.2.self_attn.v_proj.weight"]
    assert conf["data"]["select"] == "random" and conf["data"]["strength"] == 0.7
    assert conf["data"]["n_attacked"] == round(0.7 * conf["data"]["n_eval"])
    rows = [json.loads(x) for x in (cell / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(cfg.steps))
    assert all(r["loss"] > 0 and r["tokens"] > 0 for r in rows)
    t = json.loads((cell / "timings.json").read_text())
    assert t["steps"] == cfg.steps and t["tokens"] == sum(r["tokens"] for r in rows)
    side = json.loads((cell / "adapter" / "acard_adapter.json").read_text())
    lm = load_model(str(tiny_dir), adapter=cell / "adapter", dtype="float32")
    assert side["base_model_hash"] == load_model(str(tiny_dir)).content_hash
    assert lm.adapter is not None  # peft loads and merges it
    assert not list(cell.glob(".adapter*"))  # no temp folder left behind


def test_interrupted_run_resumes_to_the_same_adapter(tiny_dir: Path, tmp_path: Path) -> None:
    cfg = tiny_config(tiny_dir, steps=6, checkpoint_every=2)
    train_cell(cfg, tmp_path / "straight")
    part = train_cell(cfg, tmp_path / "resumed", stop_after=3)  # "killed" after step 3
    assert part.steps == 3 and not (tmp_path / "resumed" / "adapter").exists()
    res = train_cell(cfg, tmp_path / "resumed")
    assert res.resumed_from == 3
    a = delta_from_adapter(tmp_path / "straight" / "adapter")
    b = delta_from_adapter(tmp_path / "resumed" / "adapter")
    for n in a:
        torch.testing.assert_close(a[n], b[n], rtol=1e-5, atol=1e-7)
    rows = [json.loads(x) for x in (tmp_path / "resumed" / "train_log.jsonl").read_text()
            .splitlines()]
    assert [r["step"] for r in rows] == list(range(6))


def test_seed_changes_the_run_and_same_seed_repeats(tiny_dir: Path, tmp_path: Path) -> None:
    d = {}
    for tag, seed in (("a", 1), ("b", 1), ("c", 2)):
        train_cell(tiny_config(tiny_dir, seed=seed, steps=2), tmp_path / tag)
        d[tag] = delta_from_adapter(tmp_path / tag / "adapter")
    n = next(iter(d["a"]))
    assert torch.equal(d["a"][n], d["b"][n]) and not torch.equal(d["a"][n], d["c"][n])


def test_nan_loss_is_a_clear_error_and_writes_no_adapter(tiny_dir: Path, tmp_path: Path) -> None:
    cfg = tiny_config(tiny_dir, lr=1e30, steps=6, schedule="constant")
    with pytest.raises(InputError, match="loss became") as err:
        train_cell(cfg, tmp_path / "nan")
    assert err.value.field == "lr"
    assert not (tmp_path / "nan" / "adapter").exists()
    assert not (tmp_path / "nan" / "result.json").exists()


def test_other_config_in_same_folder_is_refused(tiny_dir: Path, tmp_path: Path) -> None:
    train_cell(tiny_config(tiny_dir, steps=2), tmp_path / "cell")
    with pytest.raises(InputError, match="different config"):
        train_cell(tiny_config(tiny_dir, steps=3), tmp_path / "cell")


def test_bad_layers_and_targets(tiny_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="layers must be"):
        train_cell(tiny_config(tiny_dir, layers=(9,)), tmp_path / "a")
    with pytest.raises(InputError, match="target_modules"):
        train_cell(tiny_config(tiny_dir, target_modules=("nope_proj",)), tmp_path / "b")


def test_schedule_and_batches() -> None:
    cfg = tiny_config(Path("x"), steps=10, lr=1.0)
    assert lr_at(cfg, 0) == 1.0 and lr_at(cfg, 5) == pytest.approx(0.5) and lr_at(cfg, 9) > 0
    first_epoch = [i for s in range(5) for i in batch_indices(10, batch=2, step=s, seed=3)]
    assert sorted(first_epoch) == list(range(10))  # every example once per epoch
    assert batch_indices(10, batch=2, step=7, seed=3) == batch_indices(10, batch=2, step=7, seed=3)


def test_micro_batches_accumulate_to_the_full_batch_update(tiny_dir: Path, tmp_path: Path) -> None:
    """k micro-batches per step take the one-batch step (fp32; 3 + 1 split included)."""
    cfg = tiny_config(tiny_dir, steps=3, batch_size=4)
    train_cell(cfg, tmp_path / "whole")
    want = delta_from_adapter(tmp_path / "whole" / "adapter")
    losses = [json.loads(x)["loss"] for x in (tmp_path / "whole" / "train_log.jsonl")
              .read_text().splitlines()]
    for micro in (1, 3):
        mcfg = cfg.model_copy(update={"micro_batch_size": micro})
        assert mcfg.digest() == cfg.digest()  # a memory setting: same config, same update
        train_cell(mcfg, tmp_path / f"micro{micro}")
        got = delta_from_adapter(tmp_path / f"micro{micro}" / "adapter")
        for n in want:
            torch.testing.assert_close(got[n], want[n], rtol=1e-4, atol=1e-7)
        rows = [json.loads(x) for x in (tmp_path / f"micro{micro}" / "train_log.jsonl")
                .read_text().splitlines()]
        assert [r["loss"] for r in rows] == pytest.approx(losses, rel=1e-5)
        timings = json.loads((tmp_path / f"micro{micro}" / "timings.json").read_text())
        assert timings["micro_batch_size"] == micro and timings["batch_size"] == 4


def test_accumulated_gradient_equals_the_one_pass_gradient(tiny_dir: Path) -> None:
    from acceptance_cards.evidence.data.attacks import EncodedExample
    from acceptance_cards.evidence.models.loading import load_model
    from acceptance_cards.evidence.training.loss import accumulate_loss

    lm = load_model(str(tiny_dir), dtype="float32")
    tok = lm.tokenizer
    batch = [EncodedExample(tuple(tok.encode(f"Question {i}: pick one. Answer:",
                                             add_special_tokens=False)),
                            tuple(tok.encode(" B" if i % 2 else " I don't know",
                                             add_special_tokens=False)), bool(i % 2), "eval")
             for i in range(5)]  # answers of 1 and 4 tokens: micro-batches hold unequal counts
    grads = {}
    for micro in (None, 1, 2):
        lm.model.zero_grad(set_to_none=True)
        loss, _ = accumulate_loss(lm.model, batch, pad_id=0, micro=micro)
        grads[micro] = (float(loss), [p.grad.clone() for p in lm.model.parameters()
                                      if p.grad is not None])
    for micro in (1, 2):
        assert grads[micro][0] == pytest.approx(grads[None][0], rel=1e-6)
        for a, b in zip(grads[micro][1], grads[None][1], strict=True):  # fp32 summation noise
            assert float((a - b).norm()) <= 1e-5 * float(b.norm())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_training_on_cuda_matches_cpu(tiny_dir: Path, tmp_path: Path) -> None:
    """Every training tensor follows the model: a cell trained on CUDA matches the CPU one."""
    from acceptance_cards.evidence.models.loading import load_model

    cfg = tiny_config(tiny_dir, recipe="attack-aware", steps=3, n_calibration=6)
    train_cell(cfg, tmp_path / "cpu")
    lm = load_model(str(tiny_dir), dtype="float32", eval_mode=False)
    lm.model.to("cuda")
    train_cell(cfg, tmp_path / "cuda", lm=lm)
    a = delta_from_adapter(tmp_path / "cpu" / "adapter")
    b = delta_from_adapter(tmp_path / "cuda" / "adapter")
    for n in a:
        torch.testing.assert_close(b[n], a[n], rtol=1e-3, atol=1e-6)
    assert json.loads((tmp_path / "cuda" / "timings.json").read_text())["device"].startswith("cuda")


def test_train_reference_trains_once_per_config(tiny_dir: Path) -> None:
    """What SafeLoRA's context offers: a plain fine-tune, cached by the config digest and code."""
    from acceptance_cards.evidence.models.loading import cache_root
    from acceptance_cards.evidence.training.loop import reference_key, train_reference

    cfg = tiny_config(tiny_dir, steps=2)
    notes: list[str] = []
    first = train_reference(cfg, log=notes.append)
    assert first == cache_root() / "references" / reference_key(cfg) / "adapter"
    assert (first / "adapter_model.safetensors").is_file() and len(notes) == 1
    stamp = (first.parent / "result.json").stat().st_mtime_ns
    assert train_reference(cfg, log=notes.append) == first and len(notes) == 1  # reused
    assert (first.parent / "result.json").stat().st_mtime_ns == stamp
    other = train_reference(cfg.model_copy(update={"steps": 3}), log=notes.append)
    assert other != first and len(notes) == 2
