"""A whole audit on a tiny random model: train → eval → mechanism → card → matrix → report.

Real code paths throughout (transformers, peft LoRA training, the evaluator,
base-model gradients); only the model is tiny. Also: re-running does no
finished work, a SIGKILLed run resumes to identical outputs (the Ray executors:
test_ray_steps.py).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")

from tiny_audit import acard as _acard  # noqa: E402
from tiny_audit import outputs as _outputs  # noqa: E402

from acceptance_cards.audit.run.status import AuditStatus  # noqa: E402


def test_whole_pipeline_writes_every_output(first_run: Path) -> None:
    out = first_run
    card = json.loads((out / "cards" / "tiny-attack-aware-s1.json").read_text())
    assert set(card["diagnostics"]) == {"a", "b", "c", "d"}
    # every gate had evidence: nothing is `not run`
    assert all(card["diagnostics"][g]["verdict"] != "not run" for g in "abcd")
    c = card["diagnostics"]["c"]
    assert c["slice"] and c["claimed_class"] == "attack-targeted"
    assert card["task"]["cross"] == "sycophancy" and card["task"]["split_hash"]
    assert card["recipe"]["name"] == "attack-aware" and card["compute"]["training_time_s"] > 0
    for name in ("matrix.csv", "matrix.md", "matrix.tex", "filter.csv", "report.html", "timings.json"):
        assert (out / name).is_file(), name
    assert list((out / "figures").glob("*.svg")) and list((out / "figures").glob("*.png"))
    assert "tiny/attack-aware/s1" in (out / "matrix.csv").read_text()
    timings = json.loads((out / "timings.json").read_text())["tiny/attack-aware/s1"]
    kinds = {k.split(":")[0] for k in timings["steps"]}
    assert kinds == {"split", "train", "eval", "mechanism"}
    # the model steps record the device they resolved ([compute] device, default cpu), which is
    # also part of their keys; the card's compute section names it
    manifests = [json.loads(m.read_text()) for m in (out / "artifacts" / "steps").rglob("manifest.json")]
    model_steps = [m for m in manifests if m["kind"] != "split"]
    assert model_steps and all(m["device"] == "cpu" and m["inputs"]["model"]["device"] == "cpu"
                               for m in model_steps)
    assert card["compute"]["device"] == "cpu"
    # each evaluation's manifest records the dtype its model ran in (the key: the configured one)
    assert {m["dtype"] for m in model_steps if m["kind"] == "eval"} == {"float32"}
    # the card verifies against its recorded inputs
    from acceptance_cards.card.model import load_card
    from acceptance_cards.card.verify import verify_card

    assert verify_card(load_card(out / "cards" / "tiny-attack-aware-s1.json"),
                       card_dir=out / "cards").differences == []


def test_rerun_does_no_finished_work(config: Path, first_run: Path) -> None:
    before = _outputs(first_run)
    r = _acard("audit", str(config), "-o", str(first_run))
    assert r.returncode == 0, r.stderr[-3000:]
    cached = json.loads((first_run / "timings.json").read_text())["tiny/attack-aware/s1"]["cached"]
    assert cached and all(cached.values()), cached
    assert _outputs(first_run) == before


def test_sigkill_then_resume_matches_uninterrupted(config: Path, first_run: Path) -> None:
    out = config.parent / "out-killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.Popen([sys.executable, "-m", "acceptance_cards", "audit", str(config), "-o", str(out)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    # kill once the first training step has finished and another step is under way
    deadline = time.time() + 600
    steps = out / "artifacts" / "steps"
    while time.time() < deadline and p.poll() is None:
        if len(list(steps.glob("train/*/manifest.json"))) >= 1 and list(steps.glob("eval/*")):
            break
        time.sleep(0.2)
    assert p.poll() is None, "the audit finished before it could be killed"
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    finished = {m.parent for m in steps.rglob("manifest.json")}
    stamps = {d: (d / "manifest.json").stat().st_mtime_ns for d in finished}
    assert not (out / "report.html").exists()
    _check_status_of_interrupted_run(config, out)
    r = _acard("audit", str(config), "-o", str(out))
    assert r.returncode == 0, r.stderr[-3000:]
    # finished steps were not rerun, and the result equals the uninterrupted run
    assert all((d / "manifest.json").stat().st_mtime_ns == t for d, t in stamps.items())
    assert _outputs(out) == _outputs(first_run)


#: The tiny audit's distinct steps: one split; baseline and defense fine-tunes on
#: the primary and cross task; their held-out + fresh (primary) and fresh (cross)
#: evaluations; one mechanism.
TINY_STEPS = {"split": 1, "train": 4, "eval": 6, "mechanism": 1}


def _status(config: Path, out: Path) -> AuditStatus:
    from acceptance_cards.audit.run.config import load_config
    from acceptance_cards.audit.run.status import audit_status

    return audit_status(load_config(config), out)


def test_status_of_a_finished_and_an_unstarted_audit(config: Path, first_run: Path,
                                                     tmp_path: Path) -> None:
    done = _status(config, first_run)
    assert {k: c["done"] for k, c in done.counts().items()} == TINY_STEPS
    assert done.cells_done == done.cells == ("tiny/attack-aware/s1",) and done.others == ()
    # the recorded seconds are the manifests' own
    steps = first_run / "artifacts" / "steps"
    manifests = [json.loads(m.read_text()) for m in steps.rglob("manifest.json")]
    assert sum(done.seconds_done().values()) == pytest.approx(sum(m["seconds"] for m in manifests))
    empty = _status(config, tmp_path / "nothing-yet")
    assert {k: c["pending"] for k, c in empty.counts().items()} == TINY_STEPS
    assert empty.cells_done == ()
    # a second name for the same weights: the runner would reuse every step, so status
    # counts each once and calls both cells complete
    text = config.read_text()
    model = text.split("[[models]]")[1].split("[[recipes]]")[0]
    twin = config.parent / "twin.toml"
    twin.write_text(text.replace("[[recipes]]", "[[models]]" + model.replace('"tiny"', '"twin"')
                                 + "[[recipes]]", 1))
    both = _status(twin, first_run)
    assert {k: c["done"] for k, c in both.counts().items()} == TINY_STEPS
    assert both.cells_done == ("tiny/attack-aware/s1", "twin/attack-aware/s1")
    r = _acard("audit", str(config), "-o", str(first_run), "--status")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "cells complete: 1 of 1" in r.stdout
    # interim outputs of a finished audit are its outputs
    before = _outputs(first_run)
    r = _acard("audit", str(config), "-o", str(first_run), "--finished")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "1 of 1 cells finished" in r.stdout
    assert _outputs(first_run) == before
    assert "Interim report" not in (first_run / "report.html").read_text()


def _check_status_of_interrupted_run(config: Path, out: Path) -> None:
    st = _status(config, out)
    steps = out / "artifacts" / "steps"
    finished_before = {m.parent for m in steps.rglob("manifest.json")}
    for kind, c in st.counts().items():
        # every finished step is found by recomputing its key, none twice
        assert c["done"] == len(list(steps.glob(f"{kind}/*/manifest.json"))), kind
        assert c["running"] == 0, kind  # the killed process holds no lock
        assert sum(c.values()) == TINY_STEPS[kind], kind
    interrupted = [s for s in st.steps if s.state == "partial"]
    assert len(interrupted) == len(list((out / "artifacts" / "work").glob("*/*")))
    assert st.cells_done == ()
    # interim outputs run nothing: no cell has finished, so the report says so
    r = _acard("audit", str(config), "-o", str(out), "--finished")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "0 of 1 cells finished" in r.stdout
    assert "Interim report" in (out / "report.html").read_text()
    assert {m.parent for m in steps.rglob("manifest.json")} == finished_before
    assert len(list((out / "artifacts" / "work").glob("*/*"))) == len(interrupted)


_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (start|done|cached|cell| ) +(.*)$")


def _plain_events(log: str) -> list[tuple[str, str]]:
    """(event, rest) of each timestamped progress line in a captured log."""
    return [(m[1], m[2]) for m in map(_LINE.match, log.splitlines()) if m]


#: Training steps of the fine-tune the kill/resume test interrupts: long enough that a kill
#: after the first heartbeat lands at least 100 steps before its end, on an idle or a busy machine.
LONG_STEPS = 600


def _checkpoint_step(work: Path) -> int:
    """The last training checkpoint's step in a train step's work folder (0: none yet)."""
    steps = [int(c.stem.split("-")[1]) for c in (work / "checkpoints").glob("step-*.safetensors")]
    return max(steps, default=0)


def test_killed_step_records_every_attempt_and_logs_plain_progress(config: Path) -> None:
    """A fine-tune SIGKILLed after a heartbeat and resumed records both attempts' seconds;
    with output redirected (not a terminal), progress is timestamped lines, while it runs."""
    from acceptance_cards.audit.run.attempts import HEARTBEAT_SECONDS, read_attempts
    from acceptance_cards.cli.progress import PLAIN_INTERVAL_SECONDS

    # primary-task fine-tunes long enough that the kill after the first heartbeat lands
    # well before the step ends
    cfg = config.parent / "long-train.toml"
    longer = f"[train_by_task.sandbagging]\nsteps = {LONG_STEPS}\n\n[mechanism]"
    cfg.write_text(config.read_text().replace("[mechanism]", longer))
    out, log = config.parent / "out-attempts", config.parent / "attempts-log.txt"
    with log.open("w") as fh:
        p = subprocess.Popen([sys.executable, "-m", "acceptance_cards", "audit", str(cfg), "-o", str(out)],
                             stdout=fh, stderr=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "1"})
        work, deadline = out / "artifacts" / "work" / "train", time.time() + 600
        killed: dict[str, list[dict[str, Any]]] = {}
        while time.time() < deadline and p.poll() is None and not killed:
            # the long fine-tune, past its first heartbeat and well before its end: a short
            # step (3 training steps, then model loading dominates) can pass a heartbeat in
            # its last moments and finish before the kill lands
            killed = {w.name: a for w in work.glob("*") if (a := read_attempts(w))
                      and a[-1]["end"] == "running" and a[-1]["seconds"] >= HEARTBEAT_SECONDS
                      and 0 < _checkpoint_step(w) <= LONG_STEPS - 100}
            time.sleep(0.2)
        assert p.poll() is None, "the audit finished before it could be killed"
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
    # the redirected log showed the run's progress while it ran
    events = _plain_events(log.read_text())
    assert ("start", "tiny/attack-aware/s1: train adamw sandbagging") in events, log.read_text()
    assert ("done", "tiny/attack-aware/s1: split") in [(e, r.rsplit(" (", 1)[0]) for e, r in events]
    key = next(iter(killed))
    first = read_attempts(work / key)  # as the kill left it: up to its last heartbeat
    assert first[-1]["end"] == "running", "the step finished before the kill landed"
    start = time.monotonic()
    r = _acard("audit", str(cfg), "-o", str(out))
    wall = time.monotonic() - start
    assert r.returncode == 0, r.stderr[-3000:]
    m = json.loads((out / "artifacts" / "steps" / "train" / key / "manifest.json").read_text())
    assert [a["end"] for a in m["attempts"]] == ["interrupted", "finished"]
    assert m["attempts"][0]["seconds"] == first[0]["seconds"] >= HEARTBEAT_SECONDS
    assert m["seconds"] == pytest.approx(sum(a["seconds"] for a in m["attempts"]))
    assert m["seconds"] >= first[0]["seconds"] + m["attempts"][1]["seconds"] - 1e-6
    # the status and the timings report the summed figure
    manifests = [json.loads(f.read_text()) for f in (out / "artifacts" / "steps").rglob("manifest.json")]
    assert sum(_status(cfg, out).seconds_done().values()) == pytest.approx(
        sum(x["seconds"] for x in manifests))
    # the resumed run's captured output: per step a start and a done line, or a cached line
    events = _plain_events(r.stdout)
    labels = {x["label"] for x in manifests}
    assert len(labels) == sum(TINY_STEPS.values())
    for label in labels:
        mine = [e for e, rest in events if rest.split(" (")[0] == f"tiny/attack-aware/s1: {label}"]
        assert mine in (["cached"], ["start", "done"]), (label, r.stdout[-3000:])
    assert ("cell", "tiny/attack-aware/s1 finished (1 of 1 cells)") in events
    periodic = [rest for e, rest in events if e == " "]
    assert len(periodic) <= sum(TINY_STEPS.values()) * (wall / PLAIN_INTERVAL_SECONDS + 1)


def test_finished_needs_no_local_device_and_matches_keys_as_status_does(
        config: Path, first_run: Path, tmp_path: Path) -> None:
    """`--finished` for a CUDA run on a machine without CUDA: no device error; `auto` takes the CPU steps."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    cuda = tmp_path / "cuda.toml"
    cuda.write_text(config.read_text() + '\n[compute]\ndevice = "cuda"\n')
    r = _acard("audit", str(cuda), "-o", str(first_run), "--finished")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "0 of 1 cells finished" in r.stdout, r.stdout  # the CPU steps are not the CUDA run's
    auto = tmp_path / "auto.toml"
    auto.write_text(config.read_text() + '\n[compute]\ndevice = "auto"\n')
    r = _acard("audit", str(auto), "-o", str(first_run), "--finished")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "1 of 1 cells finished" in r.stdout, r.stdout
    # leave the shared run's outputs as a plain run writes them
    assert _acard("audit", str(config), "-o", str(first_run)).returncode == 0
