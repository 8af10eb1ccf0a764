"""Caches outside the audit store are keyed by their code, and one reference trains once.

The base-model gradient cache and SafeLoRA's stand-in reference cache key on the
hash of their code's import closure (``_util.code_deps.closure_hash``): editing
any module that code imports — in a temporary copy of the package — changes the
key, so a stale cache is never read. Two cells asking for the same reference at
once train it once (a file lock around check-and-train).
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from helpers_train import tiny_config

import acceptance_cards
from acceptance_cards._util.code_deps import closure_hash, module_closure
from acceptance_cards.evidence.gradients import slices
from acceptance_cards.evidence.training import loop

PKG = Path(acceptance_cards.__file__).resolve().parent


@pytest.fixture(scope="module")
def pkg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dst = tmp_path_factory.mktemp("pkg") / "acceptance_cards"
    shutil.copytree(PKG, dst, ignore=shutil.ignore_patterns("__pycache__"))
    return dst


def _edit(pkg: Path, rel: str) -> bytes:
    f = pkg / rel
    old = f.read_bytes()
    f.write_bytes(old + b"\n# edited\n")
    return old


@pytest.mark.parametrize("rel", ["evidence/models/head.py", "evidence/data/tasks.py",
                                 "evidence/gradients/slices.py", "evidence/models/loading.py"])
def test_editing_the_gradient_code_changes_the_gradient_cache_key(pkg: Path, rel: str) -> None:
    cal: Any = SimpleNamespace(hash="c" * 64)
    base = closure_hash(slices.GRADIENT_CODE, pkg)
    assert base == closure_hash(slices.GRADIENT_CODE)  # the copy is the installed code
    assert slices._cache_key("m", ["w"], cal, "float32") == slices._cache_key(
        "m", ["w"], cal, "float32", code=base)
    old = _edit(pkg, rel)
    try:
        edited = closure_hash(slices.GRADIENT_CODE, pkg)
    finally:
        (pkg / rel).write_bytes(old)
    assert edited != base
    assert slices._cache_key("m", ["w"], cal, "float32", code=edited) != slices._cache_key(
        "m", ["w"], cal, "float32")


@pytest.mark.parametrize("rel", ["evidence/training/loop.py", "evidence/training/recipes/adamw.py",
                                 "evidence/models/head.py", "evidence/data/attacks.py"])
def test_editing_the_training_code_changes_the_reference_key(pkg: Path, tiny_dir: Path,
                                                             rel: str) -> None:
    assert rel.removesuffix(".py").replace("/", ".") in module_closure(pkg, loop.REFERENCE_CODE)
    cfg = tiny_config(tiny_dir, recipe="adamw", seed=7)
    base = loop.reference_key(cfg, pkg)
    assert base == loop.reference_key(cfg)
    assert loop.reference_key(cfg.model_copy(update={"seed": 8})) != base
    old = _edit(pkg, rel)
    try:
        assert loop.reference_key(cfg, pkg) != base
    finally:
        (pkg / rel).write_bytes(old)


def test_one_reference_asked_for_twice_at_once_trains_once(tiny_dir: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tiny_config(tiny_dir, recipe="adamw", seed=11, steps=2, n_examples=8)
    real = loop.train_cell
    calls: list[Path] = []
    started = threading.Barrier(2)

    def counted(cfg: Any, out: Path, **kw: Any) -> Any:
        calls.append(out)
        return real(cfg, out, **kw)

    monkeypatch.setattr(loop, "train_cell", counted)
    results: list[Path] = []
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            started.wait()
            results.append(loop.train_reference(cfg))
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(calls) == 1 and results[0] == results[1]
    assert (results[0] / "adapter_model.safetensors").is_file()
