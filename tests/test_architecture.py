"""The package's layout holds: stages import only downward, no import cycles,
small modules and functions (docs/architecture.md).

Every ``import`` in the package is read from the source (module level, inside
functions and under ``TYPE_CHECKING`` alike: an import moved into a function to
dodge a loop is still an arrow), resolved to a package module, and checked.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

import acceptance_cards

PKG = Path(acceptance_cards.__file__).resolve().parent
NAME = "acceptance_cards"

#: The stages, bottom first. A module may import from its own unit and from units of
#: lower stages only; units that share a stage never import each other.
STAGES: tuple[tuple[str, ...], ...] = (
    ("_version", "constants", "vocab"),
    ("_util",),
    ("records", "mechanism"),
    ("clusters",),
    ("stats",),
    ("diagnostics",),
    ("card",),
    ("render",),
    ("synthetic", "importers", "export"),
    ("evidence",),
    ("audit",),
    ("cli",),
    ("__main__", ""),
)

#: Inside these folders, the sub-stages (bottom first) the same rule applies to.
SUBSTAGES: dict[str, tuple[tuple[str, ...], ...]] = {
    "_util": (("errors",), ("files",), ("writes", "lazy", "threads")),
    "evidence": (("data",), ("models",), ("eval", "gradients"), ("training",), ("mechanism",)),
    "audit": (("cells",), ("run", "report")),
}

MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _modules() -> dict[str, Path]:
    out = {}
    for f in sorted(PKG.rglob("*.py")):
        parts = list(f.relative_to(PKG).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


MODULES = _modules()


def _resolve(mod: str, node: ast.ImportFrom | ast.Import, is_pkg: bool) -> Iterator[str]:
    """Package modules (dotted, relative to the package) that ``node`` imports."""
    if isinstance(node, ast.Import):
        bases = [a.name for a in node.names]
        names: list[str] = []
    else:
        if node.level:
            here = mod.split(".") if mod else []
            pkg = here if is_pkg else here[:-1]
            keep = len(pkg) - (node.level - 1)
            base = ".".join([NAME, *pkg[:keep], *([node.module] if node.module else [])])
        else:
            base = node.module or ""
        bases = [base]
        names = [a.name for a in node.names]
    for base in bases:
        if base != NAME and not base.startswith(NAME + "."):
            continue
        inner = base[len(NAME) + 1:]
        subs = [f"{inner}.{n}".strip(".") for n in names if f"{inner}.{n}".strip(".") in MODULES]
        yield from subs or [inner]


@cache
def graph() -> dict[str, set[str]]:
    """module -> package modules it imports (anywhere in its source)."""
    out: dict[str, set[str]] = {}
    for mod, f in MODULES.items():
        tree = ast.parse(f.read_text(encoding="utf-8"))
        is_pkg = f.name == "__init__.py"
        deps: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                deps.update(d for d in _resolve(mod, node, is_pkg) if d != mod)
        out[mod] = deps
    return out


def _place(mod: str, stages: tuple[tuple[str, ...], ...]) -> tuple[int, str] | None:
    head = mod.split(".")[0]
    for rank, units in enumerate(stages):
        if head in units:
            return rank, head
    return None


def _violation(src: str, dst: str) -> str | None:
    a, b = _place(src, STAGES), _place(dst, STAGES)
    assert a is not None and b is not None, (src, dst)
    if a[1] != b[1]:
        if a[0] <= b[0]:
            return f"{src} -> {dst}: stage {a[1]!r} must not import {b[1]!r}"
        return None
    sub = SUBSTAGES.get(a[1])
    if sub is None or "." not in src or "." not in dst:
        return None
    sa, sb = _place(src.split(".", 1)[1], sub), _place(dst.split(".", 1)[1], sub)
    if sa is None or sb is None or sa[1] == sb[1]:
        return None
    if sa[0] <= sb[0]:
        return f"{src} -> {dst}: {a[1]}/{sa[1]} must not import {a[1]}/{sb[1]}"
    return None


def test_every_module_has_a_stage() -> None:
    missing = [m for m in MODULES if _place(m, STAGES) is None]
    assert not missing


def test_no_import_runs_upward_or_sideways() -> None:
    bad = sorted(v for src, deps in graph().items() for d in deps
                 if (v := _violation(src, d)) is not None)
    assert not bad, "\n".join(bad)


def test_no_import_cycles() -> None:
    g = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in g[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in g:
        if v not in index:
            visit(v)
    assert not cycles


def test_the_walk_sees_a_known_arrow_and_a_planted_cycle() -> None:
    g = graph()
    assert "records" in g["clusters"]
    assert "card.model" in g["card.build"]
    assert _violation("records", "card.model") is not None
    assert _violation("evidence.data.split", "evidence.training.loop") is not None
    assert _violation("cli.card_cmds", "card.build") is None


@pytest.mark.parametrize("mod", sorted(MODULES))
def test_modules_and_functions_are_small(mod: str) -> None:
    text = MODULES[mod].read_text(encoding="utf-8")
    assert text.count("\n") <= MAX_MODULE_LINES, f"{mod}: {text.count(chr(10))} lines"
    long = [f"{n.name} ({n.end_lineno - n.lineno + 1} lines)"
            for n in ast.walk(ast.parse(text))
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno
            and n.end_lineno - n.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, f"{mod}: " + ", ".join(long)
