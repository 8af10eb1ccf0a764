"""`acard train` / `acard mechanism` end to end on the tiny model; bad input exits 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from acceptance_cards.cli import main
from acceptance_cards.mechanism import load_mechanism


def _main(argv: list[str]) -> None:
    """Run the CLI; success (exit 0) returns, any other exit propagates as SystemExit."""
    try:
        main(argv)
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise


def _train(tiny_dir: Path, out: Path, *extra: str) -> None:
    _main(["train", "--model", str(tiny_dir), "--recipe", "adamw", "--task", "sandbagging",
          "--seed", "42", "--layers", "2", "--steps", "3", "--n-examples", "16",
          "--batch-size", "4", "--threads", "1", "-o", str(out), *extra])


def test_train_then_mechanism(tiny_dir: Path, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    cell = tmp_path / "adamw-s42"
    _train(tiny_dir, cell)
    assert (cell / "adapter" / "adapter_model.safetensors").is_file()
    _train(tiny_dir, cell)  # rerun of a finished cell: nothing to do
    assert "already trained" in capsys.readouterr().out
    _main(["mechanism", "--adapter", str(cell / "adapter"), "--n-calibration", "6",
          "--resamples", "200", "--threads", "1", "-o", str(tmp_path / "mech.json")])
    m = load_mechanism(tmp_path / "mech.json")
    assert m.slice == ["model.layers.2.self_attn.q_proj.weight",
                       "model.layers.2.self_attn.v_proj.weight"]
    assert m.n_calibration == 6 and m.norm_dw > 0 and m.norm_gt > 0 and m.norm_ga > 0
    raw = json.loads((tmp_path / "mech.json").read_text())
    assert raw["rho"] == pytest.approx(m.alpha_a / m.alpha_t)  # type: ignore[operator]
    assert raw["recipe"] == "adamw" and m.rho_ci is not None


@pytest.mark.parametrize("args, message", [
    (["--slice", "model.layers.2.self_attn.q_proj"], "differs from the adapter's targets"),
    (["--slice", "model.layers.*.self_attn.q_proj,model.layers.*.self_attn.v_proj"],
     "does not update"),
    (["--slice", "model.layers.7.mlp"], "matches no parameter"),
])
def test_mechanism_refuses_a_slice_that_is_not_the_adapters(
        tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
        message: str) -> None:
    cell = tmp_path / "cell"
    _train(tiny_dir, cell)
    capsys.readouterr()
    out = tmp_path / "mech.json"
    with pytest.raises(SystemExit) as ex:
        _main(["mechanism", "--adapter", str(cell / "adapter"), "-o", str(out), *args])
    assert ex.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists()  # nothing half-written


def test_mechanism_refuses_an_adapter_of_another_base(
        tiny_dir: Path, other_tiny_dir: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    cell = tmp_path / "cell"
    _train(tiny_dir, cell)
    capsys.readouterr()
    with pytest.raises(SystemExit) as ex:
        _main(["mechanism", "--adapter", str(cell / "adapter"), "--base", str(other_tiny_dir),
              "-o", str(tmp_path / "m.json")])
    assert ex.value.code == 2
    assert "trained on base" in capsys.readouterr().err


def test_train_bad_options_exit_2(tiny_dir: Path, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    for extra, message in ((["--strength", "1.5"], "attack_strength"),
                           (["--param", "alpha=2"], "no parameter"),
                           (["--layers", "x-y"], "layers")):
        with pytest.raises(SystemExit) as ex:
            _train(tiny_dir, tmp_path / "bad", *extra)
        assert ex.value.code == 2
        assert message in capsys.readouterr().err


def test_killed_training_resumes_from_its_checkpoint(tiny_dir: Path, tmp_path: Path) -> None:
    """A real interruption: SIGKILL the `acard train` process, rerun, it resumes."""
    import os
    import signal
    import subprocess
    import sys
    import time

    conf = tmp_path / "cfg.json"
    conf.write_text(json.dumps({"model": str(tiny_dir), "steps": 120, "n_examples": 32,
                                "batch_size": 4, "layers": [2], "dtype": "float32",
                                "checkpoint_every": 5}))
    cell = tmp_path / "cell"
    cmd = [sys.executable, "-m", "acceptance_cards", "train", "--config", str(conf),
           "--recipe", "adamw", "--seed", "42", "--threads", "1", "-o", str(cell)]
    env = os.environ | {"PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not list((cell / "checkpoints").glob("step-*")):
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    ckpts = sorted((cell / "checkpoints").glob("step-*.safetensors"))
    assert ckpts and not (cell / "adapter").exists()
    done = int(ckpts[-1].stem.split("-")[1])
    assert 0 < done < 120
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    assert f"resuming from step {done}" in out.stdout
    rows = [json.loads(x)["step"] for x in (cell / "train_log.jsonl").read_text().splitlines()]
    assert rows == list(range(120))  # every step logged exactly once
    assert (cell / "adapter" / "adapter_model.safetensors").is_file()
