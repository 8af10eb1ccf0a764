"""The Ray executors on the tiny audit: same cards and matrix as the local executor.

Step-level (``--executor ray``): every step its own task, so steps of one cell
that do not depend on each other run side by side; cell-level (``ray-cells``):
one task per cell, its steps in sequence. Also: a two-node cluster started on
this machine (``--address``), and a driver killed mid-run that resumes.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import pytest
from tiny_audit import acard, outputs

from acceptance_cards._util.errors import InputError
from acceptance_cards.audit.run.ray_steps import ray_device, step_options


def test_device_and_requests_on_a_cluster() -> None:
    assert ray_device("cuda:1", {"CPU": 8.0, "GPU": 2.0}, source="a.toml") == "cuda"
    assert ray_device("auto", {"CPU": 8.0, "GPU": 1.0}, source="a.toml") == "cuda"
    assert ray_device("auto", {"CPU": 8.0}, source="a.toml") == "auto"
    assert ray_device("cpu", {"CPU": 8.0, "GPU": 1.0}, source="a.toml") == "cpu"
    with pytest.raises(InputError) as exc:
        ray_device("cuda", {"CPU": 2.0}, source="a.toml")
    assert str(exc.value).startswith("a.toml: field `compute.device`: ") and "no GPU" in str(exc.value)
    assert step_options("cuda", cpus=2.0) == {"model": {"num_cpus": 2.0, "num_gpus": 1.0},
                                              "light": {"num_cpus": 1.0, "num_gpus": 0.0}}
    assert step_options("cpu", cpus=1.0)["model"] == {"num_cpus": 1.0, "num_gpus": 0.0}


def _intervals(out: Path) -> list[tuple[str, float, float]]:
    """(label, start, end) of every attempt of every finished step, from the attempt logs."""
    spans = []
    for m in (out / "artifacts" / "steps").rglob("manifest.json"):
        man = json.loads(m.read_text())
        for a in man["attempts"]:
            start = datetime.fromisoformat(a["started"]).timestamp()
            spans.append((f"{man['kind']} {man['label']}", start, start + a["seconds"]))
    return sorted(spans, key=lambda s: s[1])


def _overlapping(out: Path) -> list[tuple[str, str]]:
    """Pairs of steps whose attempts ran at the same time."""
    spans = _intervals(out)
    return [(a[0], b[0]) for i, a in enumerate(spans) for b in spans[i + 1:] if b[1] < a[2]]


def test_step_level_ray_matches_local_and_runs_a_cells_steps_side_by_side(
        config: Path, first_run: Path) -> None:
    pytest.importorskip("ray")
    out = config.parent / "out-ray-steps"
    r = acard("audit", str(config), "-o", str(out), "--executor", "ray")
    assert r.returncode == 0, r.stderr[-3000:]
    assert outputs(out) == outputs(first_run)
    # the workers' step events reached the driver's display
    for step in ("train adamw sandbagging", "eval attack-aware-s1 sycophancy fresh", "mechanism"):
        assert f"tiny/attack-aware/s1: {step}" in r.stdout, (step, r.stdout[-2000:])
    # one cell, yet its independent steps (e.g. the baseline and defense fine-tunes) overlapped:
    # each step was its own task on the 2 CPUs
    assert _overlapping(out), _intervals(out)
    # the local run's steps ran one after another
    assert _overlapping(first_run) == []


def test_cell_level_ray_matches_local_and_runs_a_cell_in_sequence(config: Path, first_run: Path) -> None:
    pytest.importorskip("ray")
    out = config.parent / "out-ray-cells"
    r = acard("audit", str(config), "-o", str(out), "--executor", "ray-cells")
    assert r.returncode == 0, r.stderr[-3000:]
    assert outputs(out) == outputs(first_run)
    assert "tiny/attack-aware/s1: mechanism" in r.stdout
    assert _overlapping(out) == []  # one cell: one task, its steps in order


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ray_cli() -> str:
    return str(Path(sys.executable).with_name("ray"))


def test_two_node_cluster_on_one_machine(config: Path, first_run: Path, tmp_path: Path) -> None:
    """`ray start --head`, then a second node with its own resources, the store on a path both see.

    Each node offers one CPU, so steps that overlapped ran on different nodes. The nodes
    run with ``--block`` in their own process groups and are stopped by those groups' ids
    (``ray stop`` would stop every Ray process of this user on the machine). The cluster
    uses token authentication (Ray's default when a token exists) with its own token.
    """
    pytest.importorskip("ray")
    port = _free_port()
    address = f"127.0.0.1:{port}"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RAY_ADDRESS": "", "RAY_AUTH_MODE": "token",
           "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    common = ["--block", "--num-gpus=0", "--disable-usage-stats"]
    # a short session folder: Ray's socket paths inside it must fit the 107-byte limit
    session = Path(tempfile.mkdtemp(prefix="acard-ray-"))
    logs = [(tmp_path / f"node{i}.log").open("w") for i in (1, 2)]
    head = subprocess.Popen([_ray_cli(), "start", "--head", f"--port={port}", "--num-cpus=1",
                             "--include-dashboard=false", f"--temp-dir={session}", *common],
                            env=env, stdout=logs[0], stderr=subprocess.STDOUT, start_new_session=True)
    nodes = [head]
    try:
        _wait_for_nodes(address, 1, env, tmp_path / "node1.log")
        nodes.append(subprocess.Popen(
            [_ray_cli(), "start", f"--address={address}", "--num-cpus=1",
             '--resources={"second_node": 1}', *common],
            env=env, stdout=logs[1], stderr=subprocess.STDOUT, start_new_session=True))
        _wait_for_nodes(address, 2, env, tmp_path / "node2.log")
        out = tmp_path / "shared-store"
        r = acard("audit", str(config), "-o", str(out), "--executor", "ray", "--address", address,
                  env_extra=env)
        assert r.returncode == 0, r.stderr[-3000:]
        assert outputs(out) == outputs(first_run)
        assert _overlapping(out), "no two steps ran at once: the second node did no work"
    finally:
        for p in reversed(nodes):  # ours only: each node's process group, by its id
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=60)
        for f in logs:
            f.close()
        shutil.rmtree(session, ignore_errors=True)


def _wait_for_nodes(address: str, n: int, env: dict[str, str], log: Path) -> None:
    """Wait until the cluster at ``address`` has ``n`` live nodes (a loaded machine takes a while)."""
    host, port = address.rsplit(":", 1)
    probe = ("import ray,sys; ray.init(address=sys.argv[1], log_to_driver=False); "
             "print(sum(1 for x in ray.nodes() if x['Alive']))")
    deadline = time.time() + 180
    while time.time() < deadline:
        try:  # the head's GCS port first: a client started before it listens can hang
            socket.create_connection((host, int(port)), timeout=5).close()
            r = subprocess.run([sys.executable, "-c", probe, address], capture_output=True, text=True,
                               env=env, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            time.sleep(1)
            continue
        if r.returncode == 0 and r.stdout.strip().splitlines()[-1:] == [str(n)]:
            return
        time.sleep(1)
    raise AssertionError(f"the cluster at {address} did not reach {n} nodes:\n{log.read_text()[-3000:]}")


def test_a_killed_driver_resumes(config: Path, first_run: Path) -> None:
    """SIGKILL the step-level driver mid-run: its tasks stop with it (no step stays locked), and
    a re-run reuses every finished step and ends with the local executor's cards and matrix."""
    pytest.importorskip("ray")
    from acceptance_cards.audit.run.store import Store

    out = config.parent / "out-ray-killed"
    p = subprocess.Popen([sys.executable, "-m", "acceptance_cards", "audit", str(config), "-o", str(out),
                          "--executor", "ray"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    steps, work = out / "artifacts" / "steps", out / "artifacts" / "work"
    deadline = time.time() + 600
    while time.time() < deadline and p.poll() is None:
        if list(steps.glob("train/*/manifest.json")) and list(work.glob("*/*")):
            break
        time.sleep(0.1)
    assert p.poll() is None, "the audit finished before it could be killed"
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    store = Store(out / "artifacts")
    deadline = time.time() + 120
    while time.time() < deadline and any(store.is_running(w.parent.name, w.name) for w in work.glob("*/*")):
        time.sleep(0.5)
    assert not any(store.is_running(w.parent.name, w.name) for w in work.glob("*/*")), \
        "a step of the killed driver is still running"
    stamps = {m: m.stat().st_mtime_ns for m in steps.rglob("manifest.json")}
    r = acard("audit", str(config), "-o", str(out), "--executor", "ray")
    assert r.returncode == 0, r.stderr[-3000:]
    assert all(m.stat().st_mtime_ns == t for m, t in stamps.items())  # finished steps reused
    assert outputs(out) == outputs(first_run)
    # the attempt logs: every attempt before the last was interrupted, the last finished
    for m in steps.rglob("manifest.json"):
        ends = [a["end"] for a in json.loads(m.read_text())["attempts"]]
        assert ends == ["interrupted"] * (len(ends) - 1) + ["finished"], (m, ends)


@pytest.mark.parametrize("executor", ["ray", "ray-cells"])
def test_a_bad_input_inside_a_ray_task_is_one_line(tmp_path: Path, executor: str) -> None:
    """An InputError raised in a task (here: the model folder is missing) reaches the user as
    the one line naming file and field, exit 2 — not Ray's wrapped remote traceback."""
    from tiny_audit import CONFIG

    cfg = tmp_path / "audit.toml"
    cfg.write_text(CONFIG.format(model=tmp_path / "no-such-model"))
    r = acard("audit", str(cfg), "-o", str(tmp_path / "out"), "--executor", executor,
              "--progress", "none")
    err = r.stderr.strip()
    assert r.returncode == 2, err[-2000:]
    assert "no-such-model" in err and "model" in err, err
    assert "Traceback" not in err and "ray::" not in err and "RayTaskError" not in err, err
    assert len(err.splitlines()) == 1, err


def test_root_cause_unwraps_nested_task_errors() -> None:
    from acceptance_cards.audit.run.executors import root_cause

    class Wrapped(Exception):
        def __init__(self, cause: BaseException) -> None:
            super().__init__("wrapped")
            self.cause = cause

    inner = InputError("bad value", field="x")
    assert root_cause(Wrapped(Wrapped(inner)), Wrapped) is inner
    assert root_cause(inner, Wrapped) is inner
    plain = ValueError("no cause attribute")
    assert root_cause(plain, Wrapped) is plain


def test_key_device_is_decided_on_the_driver(config: Path, tmp_path: Path) -> None:
    """A zero-GPU task (the model task) keys `cuda` steps without resolving `cuda` itself."""
    import torch

    from acceptance_cards.audit.run.config import load_config
    from acceptance_cards.audit.run.pipeline import Pipeline
    from acceptance_cards.audit.run.ray_steps import key_device

    assert key_device(ray_device("cuda:1", {"GPU": 2.0}, source="x")) == "cuda"
    assert key_device(ray_device("auto", {"GPU": 1.0}, source="x")) == "cuda"
    assert key_device(ray_device("auto", {"CPU": 4.0}, source="x")) is None
    assert key_device("mps") == "mps"
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    cfg = load_config(config)
    pipe = Pipeline(cfg, tmp_path, device="cuda", key_device="cuda")
    assert pipe.model_inputs(cfg.models[0])["device"] == "cuda"  # no CUDA here: not resolved
