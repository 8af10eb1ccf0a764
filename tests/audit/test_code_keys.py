"""No stale audit steps (issue 12 item 7): a step's code key covers every package module
its code imports, transitively (function-local imports included), and a missing module
is an error. Every edit is made in a temporary copy of the package."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import acceptance_cards
from acceptance_cards._util.code_deps import MissingModule, module_closure
from acceptance_cards.audit.run import steps
from acceptance_cards.audit.run.steps import STEP_MODULES, code_hash, code_version

PKG = Path(acceptance_cards.__file__).resolve().parent
KINDS = sorted(STEP_MODULES)

#: Which function in audit/run/steps.py runs each kind of step (plus the helpers it calls).
STEP_FUNCTIONS = {
    "split": ("make_split",),
    "eval": ("evaluate_cell", "_load"),
    "train": ("train_cell",),
    "mechanism": ("mechanism_cell", "_relativise_adapter"),
}


@pytest.fixture(scope="module")
def pkg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dst = tmp_path_factory.mktemp("pkg") / "acceptance_cards"
    shutil.copytree(PKG, dst, ignore=shutil.ignore_patterns("__pycache__"))
    return dst


def _edited_key(pkg: Path, kind: str, rel: str) -> str:
    """The ``kind`` key with one byte appended to ``rel`` (restored afterwards)."""
    f = pkg / rel
    old = f.read_bytes()
    f.write_bytes(old + b"\n# edited\n")
    try:
        return code_hash(pkg, kind, "v")
    finally:
        f.write_bytes(old)


@pytest.mark.parametrize("kind", KINDS)
def test_editing_any_module_in_the_closure_changes_the_key(pkg: Path, kind: str) -> None:
    base = code_hash(pkg, kind, "v")
    closure = module_closure(pkg, STEP_MODULES[kind])
    assert len(closure) >= len(STEP_MODULES[kind])
    for path in closure.values():
        rel = path.relative_to(pkg).as_posix()
        assert _edited_key(pkg, kind, rel) != base, (kind, rel)
    assert code_hash(pkg, kind, "v") == base  # every edit was undone


@pytest.mark.parametrize("kind, rel", [
    ("train", "evidence/gradients/slices.py"), ("train", "evidence/models/delta_w.py"),
    ("train", "evidence/training/checkpoints.py"), ("mechanism", "evidence/gradients/slices.py"),
    ("mechanism", "evidence/models/delta_w.py"), ("mechanism", "evidence/training/checkpoints.py"),
    ("train", "evidence/training/recipes/base.py"), ("train", "_util/threads.py"), ("eval", "_util/files.py"),
])
def test_the_modules_once_left_out_now_change_the_key(pkg: Path, kind: str, rel: str) -> None:
    assert _edited_key(pkg, kind, rel) != code_hash(pkg, kind, "v")


@pytest.mark.parametrize("kind, rel", [
    ("train", "card/claims.py"), ("train", "render/html.py"), ("train", "audit/report/html.py"),
    ("train", "cli/card_cmds.py"), ("train", "__init__.py"), ("train", "evidence/eval/scoring.py"),
    ("train", "evidence/mechanism/signature.py"), ("eval", "evidence/training/loop.py"),
    ("split", "evidence/models/loading.py"), ("mechanism", "card/build.py"),
])
def test_a_module_outside_the_closure_does_not_change_the_key(pkg: Path, kind: str,
                                                               rel: str) -> None:
    assert (pkg / rel).is_file()
    assert _edited_key(pkg, kind, rel) == code_hash(pkg, kind, "v")


def test_a_missing_module_is_an_error_naming_it(pkg: Path) -> None:
    f = pkg / "evidence" / "models" / "delta_w.py"
    old = f.read_bytes()
    f.unlink()
    try:
        with pytest.raises(MissingModule, match=r"acceptance_cards\.evidence\.models\.delta_w"):
            code_hash(pkg, "train", "v")
        code_hash(pkg, "eval", "v")  # a kind that never imports it is unaffected
    finally:
        f.write_bytes(old)


def test_a_function_local_import_of_a_missing_module_names_file_and_line(pkg: Path) -> None:
    f = pkg / "evidence" / "training" / "loop.py"
    old = f.read_bytes()
    f.write_bytes(old + b"\n\ndef _late():\n    from .no_such_module import x\n    return x\n")
    try:
        line = old.decode().count("\n") + 4
        with pytest.raises(MissingModule, match=rf"evidence/training/loop\.py:{line}.*no_such_module"):
            code_hash(pkg, "train", "v")
    finally:
        f.write_bytes(old)


def test_a_function_local_import_is_followed(pkg: Path) -> None:
    f = pkg / "evidence" / "data" / "split.py"
    old = f.read_bytes()
    f.write_bytes(old + b"\n\ndef _late() -> None:\n    from ...card.claims import lint_claim\n")
    try:
        assert "card.claims" in module_closure(pkg, STEP_MODULES["split"])
        assert _edited_key(pkg, "split", "card/claims.py") != code_hash(pkg, "split", "v")
    finally:
        f.write_bytes(old)


def test_unknown_kind_is_an_error() -> None:
    with pytest.raises(KeyError):
        code_hash(PKG, "no-such-kind", "v")


def test_code_version_is_the_hash_of_the_installed_package() -> None:
    for kind in KINDS:
        assert code_version(kind) == code_hash(PKG, kind, acceptance_cards.__version__)


def _function_imports(names: tuple[str, ...]) -> set[str]:
    """Package modules imported inside the given functions of audit/run/steps.py."""
    tree = ast.parse(Path(steps.__file__).read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in names:
            for sub in ast.walk(node):
                if isinstance(sub, ast.ImportFrom) and sub.level == 3 and sub.module:
                    out.add(sub.module)
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_each_step_functions_imports_are_in_its_closure(kind: str) -> None:
    imported = _function_imports(STEP_FUNCTIONS[kind])
    assert imported, kind
    assert imported <= set(module_closure(PKG, STEP_MODULES[kind])), kind


_RUNTIME = """
import json, sys
import acceptance_cards
before = set(sys.modules)
for m in sys.argv[1:]:
    __import__("acceptance_cards." + m)
print(json.dumps(sorted(m[len("acceptance_cards."):] for m in set(sys.modules) - before
                        if m.startswith("acceptance_cards."))))
"""


@pytest.mark.parametrize("kind", ["mechanism"])  # the largest closure (it holds train's)
def test_static_closure_covers_what_python_actually_imports(kind: str) -> None:
    """Independent of the ast walk: the modules a real import loads (beyond the top-level
    package's own) are all in the closure."""
    pytest.importorskip("torch")
    out = subprocess.run([sys.executable, "-c", _RUNTIME, *STEP_MODULES[kind]], check=True,
                         capture_output=True, text=True).stdout
    loaded = set(json.loads(out))
    assert loaded and loaded <= set(module_closure(PKG, STEP_MODULES[kind])), loaded
