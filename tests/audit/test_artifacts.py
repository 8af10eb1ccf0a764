"""The artifact store: content addressing, manifests, resume after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from acceptance_cards._util.files import sha256_file
from acceptance_cards.audit.run.store import StepCorrupted, StepMissing, Store, step_key


def test_key_is_content_address() -> None:
    assert step_key("train", {"a": 1, "b": [1, 2]}) == step_key("train", {"b": [1, 2], "a": 1})
    assert step_key("train", {"a": 1}) != step_key("train", {"a": 2})
    assert step_key("train", {"a": 1}) != step_key("eval", {"a": 1})


def test_reuse_only_store_returns_finished_steps_and_never_runs(tmp_path: Path) -> None:
    Store(tmp_path).run("demo", {"a": 1}, lambda w: (w / "x.txt").write_text("x"))
    ro = Store(tmp_path, reuse_only=True)
    calls: list[Path] = []
    found = ro.run("demo", {"a": 1}, calls.append)
    assert found.cached and (found.path / "x.txt").read_text() == "x"
    with pytest.raises(StepMissing, match="demo step late has not finished"):
        ro.run("demo", {"a": 2}, calls.append, label="late")
    assert calls == [] and not ro.work_dir("demo", step_key("demo", {"a": 2})).exists()


def test_run_once_then_cached_with_manifest(tmp_path: Path) -> None:
    store = Store(tmp_path)
    calls = []

    def fn(work: Path) -> dict[str, int]:
        calls.append(1)
        (work / "out.txt").write_text("x")
        (work / "sub").mkdir(exist_ok=True)
        (work / "sub" / "y.json").write_text("{}")
        return {"n_items": 3}

    r1 = store.run("k", {"v": 1}, fn)
    r2 = store.run("k", {"v": 1}, fn)
    assert len(calls) == 1 and not r1.cached and r2.cached
    m = json.loads((r1.path / "manifest.json").read_text())
    assert m["outputs"] == {"out.txt": sha256_file(r1.path / "out.txt"),
                            "sub/y.json": sha256_file(r1.path / "sub/y.json")}
    assert m["n_items"] == 3 and m["seconds"] >= 0 and "numpy" in m["versions"]
    assert not store.work_dir("k", r1.key).exists()
    # other inputs -> another step
    store.run("k", {"v": 2}, fn)
    assert len(calls) == 2
    # a corrupted finished output is detected, never silently trusted
    (r1.path / "out.txt").write_text("tampered")
    with pytest.raises(StepCorrupted):
        store.run("k", {"v": 1}, fn)


def test_failed_step_leaves_nothing_final(tmp_path: Path) -> None:
    store = Store(tmp_path)

    def boom(work: Path) -> None:
        (work / "partial.txt").write_text("half")
        raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        store.run("k", {"v": 1}, boom)
    key = step_key("k", {"v": 1})
    assert store.lookup("k", key) is None
    # the next attempt sees the partial state in its work folder (resume)
    seen = []

    def resume(work: Path) -> None:
        seen.append((work / "partial.txt").read_text())
        (work / "done.txt").write_text("ok")

    store.run("k", {"v": 1}, resume)
    assert seen == ["half"]


_CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from acceptance_cards.audit.run.store import Store
    store = Store(Path(sys.argv[1]))
    store.run("fast", {"i": 0}, lambda w: (w / "a.txt").write_text("a"))
    def slow(w):
        n = len(list(w.glob("chunk-*")))
        for i in range(n, 50):
            (w / f"chunk-{i}").write_text(str(i))
            print("chunk", i, flush=True)
            time.sleep(0.05)
    store.run("slow", {"i": 1}, slow)
    print("finished", flush=True)
""")


def test_sigkill_mid_step_resumes_without_redoing_finished_work(tmp_path: Path) -> None:
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    root = tmp_path / "store"
    env = dict(os.environ)
    p = subprocess.Popen([sys.executable, str(script), str(root)], stdout=subprocess.PIPE, text=True,
                         env=env)
    assert p.stdout is not None
    for line in p.stdout:
        if line.startswith("chunk 10"):
            break
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    store = Store(root)
    fast_key, slow_key = step_key("fast", {"i": 0}), step_key("slow", {"i": 1})
    fast = store.lookup("fast", fast_key)
    assert fast is not None and store.lookup("slow", slow_key) is None
    fast_mtime = (fast.path / "manifest.json").stat().st_mtime_ns
    time.sleep(0.01)
    out = subprocess.run([sys.executable, str(script), str(root)], capture_output=True, text=True,
                         env=env, check=True).stdout
    # resumed from chunk >= 10, the finished step was not rerun
    first = int(out.splitlines()[0].split()[1])
    assert first >= 10 and out.strip().endswith("finished")
    assert (fast.path / "manifest.json").stat().st_mtime_ns == fast_mtime
    slow = store.lookup("slow", slow_key)
    assert slow is not None and len(slow.manifest["outputs"]) == 50


_TIMED_CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from acceptance_cards.audit.run.store import Store
    store = Store(Path(sys.argv[1]), heartbeat=0.1)
    def slow(w):
        n = len(list(w.glob("chunk-*")))
        for i in range(n, 40):
            (w / f"chunk-{i}").write_text(str(i))
            print("chunk", i, flush=True)
            time.sleep(0.05)
    store.run("slow", {"i": 1}, slow)
""")


def _stop_child(tmp_path: Path, source: str, *, at_chunk: int, sig: int,
                exit_code: int | None = None) -> tuple[Path, Path]:
    """Run ``source`` on a store, send ``sig`` once it printed chunk ``at_chunk``; (script, store)."""
    script, root = tmp_path / "child.py", tmp_path / "store"
    script.write_text(source)
    p = subprocess.Popen([sys.executable, str(script), str(root)], stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None
    for line in p.stdout:
        if line.startswith(f"chunk {at_chunk}"):
            break
    os.kill(p.pid, sig)
    code = p.wait()
    assert exit_code is None or code == exit_code
    return script, root


def test_resumed_step_records_the_time_of_every_attempt(tmp_path: Path) -> None:
    from acceptance_cards.audit.run.attempts import read_attempts

    script, root = _stop_child(tmp_path, _TIMED_CHILD, at_chunk=20, sig=signal.SIGKILL)
    store, key = Store(root), step_key("slow", {"i": 1})
    killed = read_attempts(store.work_dir("slow", key))
    # the killed attempt's time is on disk up to its last heartbeat (~1 s of 20 chunks)
    assert len(killed) == 1 and killed[0]["end"] == "running" and killed[0]["seconds"] >= 0.5
    out = subprocess.run([sys.executable, str(script), str(root)], capture_output=True, text=True,
                         check=True).stdout
    resumed_chunks = len(out.splitlines())
    assert 0 < resumed_chunks <= 20
    done = store.lookup("slow", key)
    assert done is not None
    attempts = done.manifest["attempts"]
    assert [a["end"] for a in attempts] == ["interrupted", "finished"]
    assert attempts[0]["seconds"] == killed[0]["seconds"]
    # the recorded seconds are the sum over both attempts, not the last one's alone
    assert done.seconds == pytest.approx(attempts[0]["seconds"] + attempts[1]["seconds"])
    assert done.seconds >= killed[0]["seconds"] + resumed_chunks * 0.05
    assert attempts[1]["seconds"] >= resumed_chunks * 0.05


_SIGTERM_CHILD = _TIMED_CHILD.replace(
    "store = Store(", "import signal\n"
    "signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # what a Ray worker does\n"
    "store = Store(")


@pytest.mark.parametrize(("raised", "end"), [(KeyboardInterrupt, "interrupted"),
                                             (SystemExit, "interrupted"),
                                             (ValueError, "failed")])
def test_an_attempt_stopped_from_outside_is_interrupted_not_failed(
        tmp_path: Path, raised: type[BaseException], end: str) -> None:
    from acceptance_cards.audit.run.attempts import read_attempts

    store = Store(tmp_path)

    def stopped(w: Path) -> None:
        raise raised

    with pytest.raises(raised):
        store.run("demo", {"a": 1}, stopped)
    assert [a["end"] for a in read_attempts(store.work_dir("demo", step_key("demo", {"a": 1})))] \
        == [end]


def test_a_sigterm_stopped_step_resumes_as_interrupted(tmp_path: Path) -> None:
    """A Ray worker whose driver died gets SIGTERM, raised in Python as SystemExit: its attempt
    was stopped, not failed, and the re-run's log says so."""
    script, root = _stop_child(tmp_path, _SIGTERM_CHILD, at_chunk=5, sig=signal.SIGTERM,
                               exit_code=143)
    subprocess.run([sys.executable, str(script), str(root)], capture_output=True, check=True)
    done = Store(root).lookup("slow", step_key("slow", {"i": 1}))
    assert done is not None
    assert [a["end"] for a in done.manifest["attempts"]] == ["interrupted", "finished"]
