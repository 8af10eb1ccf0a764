"""Torch thread count: derived from the cores this process may use, and the load."""

from __future__ import annotations

import os

import pytest

from acceptance_cards._util import threads


@pytest.mark.parametrize(("cores", "load", "want"), [
    (16, 0.0, 16),   # an idle 16-core machine uses all 16 (no fixed cap of 2)
    (16, 10.2, 6),   # one thread per idle core
    (16, 40.0, 1),   # oversubscribed: at least 1
    (2, 0.4, 2),
    (2, 1.6, 1),
])
def test_threads_follow_cores_and_load(monkeypatch: pytest.MonkeyPatch, cores: int, load: float,
                                       want: int) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    assert threads.available_cores() == cores
    assert threads.pick_threads() == want
    assert threads.pick_threads(max_threads=3) == min(3, want)


def test_affinity_narrower_than_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert threads.pick_threads() == 3


def test_no_affinity_api_falls_back_to_cpu_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert threads.available_cores() == 8 and threads.pick_threads() == 8
