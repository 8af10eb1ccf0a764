"""Which package modules some code imports, transitively: the code part of a cache key.

An audit step is keyed by, among others, the hash of the code that computes it
(:func:`acceptance_cards.audit.run.steps.code_version`); the evidence layer's own
caches outside the audit store (base-model slice gradients, SafeLoRA's stand-in
reference) key on :func:`closure_hash` of their code. Listing those files by
hand goes stale (an edit to ``evidence/gradients.py`` once re-ran no training
step that used it), so the list is *derived*: starting from a step kind's root
modules, every ``import`` / ``from … import`` statement of the package — at
module level or inside a function, relative or absolute — is followed to the
module it names, transitively (:func:`module_closure`, static analysis with
:mod:`ast`, no import executed, so planning an audit needs no torch).

Rules:

- ``from .x import name`` depends on module ``x``, and also on ``x.name`` when
  that is a submodule (``from . import models``);
- a module also depends on the ``__init__`` of every package above it (Python
  runs them on import), except the top-level package's: that one only
  re-exports the torch-free core's public API, and its ``__version__`` is
  hashed into every key anyway; following it would make every card-engine
  edit re-run hours of training;
- imports outside the package (torch, numpy, …) are not followed; their
  versions are recorded in each step's manifest;
- an import of a package module that does not exist is an error
  (:class:`MissingModule`), never skipped: a key that silently leaves out
  code is a stale cache waiting to happen.

Example:
    >>> from pathlib import Path
    >>> import acceptance_cards
    >>> root = Path(acceptance_cards.__file__).parent
    >>> "evidence.gradients.slices" in module_closure(root, ["evidence.mechanism.signature"])
    True
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path

#: The package whose modules are followed (absolute imports spell it out).
PACKAGE = "acceptance_cards"


class MissingModule(ImportError):
    """A step's code names a package module that does not exist."""


def module_file(root: Path, name: str) -> Path | None:
    """The source file of package module ``name`` (dotted, relative to ``root``), or None."""
    parts = name.split(".") if name else []
    base = root.joinpath(*parts)
    for f in (base.with_suffix(".py") if parts else None, base / "__init__.py"):
        if f is not None and f.is_file():
            return f
    return None


def _imports(root: Path, name: str, path: Path) -> Iterator[tuple[str, int, bool]]:
    """(module, line, required) for every package import in ``path``; ``required`` is False
    for ``from M import x`` candidates that may be a name rather than a submodule."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == PACKAGE or alias.name.startswith(PACKAGE + "."):
                    yield alias.name[len(PACKAGE) + 1:], node.lineno, True
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".") if package else []
                if node.level - 1 > len(parts):
                    raise MissingModule(f"{path}:{node.lineno}: relative import beyond the package")
                base = ".".join(parts[: len(parts) - (node.level - 1)])
                target = ".".join(p for p in (base, node.module or "") if p)
            elif node.module == PACKAGE or (node.module or "").startswith(PACKAGE + "."):
                target = (node.module or "")[len(PACKAGE) + 1:]
            else:
                continue
            yield target, node.lineno, True
            for alias in node.names:
                yield ".".join(p for p in (target, alias.name) if p), node.lineno, False


def _parents(name: str) -> Iterable[str]:
    """The packages above ``name`` whose ``__init__`` runs on import (not the top level)."""
    parts = name.split(".")
    return (".".join(parts[:i]) for i in range(1, len(parts)))


def module_closure(root: Path, roots: Iterable[str]) -> dict[str, Path]:
    """Every package module that ``roots`` import, transitively, with its source file.

    ``root`` is the package folder; module names are dotted and relative to it
    (``"evidence.training.loop"``; ``""`` is the top-level ``__init__``).

    Raises:
        MissingModule: a root, or a module some code imports, does not exist.
    """
    out: dict[str, Path] = {}
    todo: list[tuple[str, str]] = [(r, "the step's root modules") for r in roots]
    while todo:
        name, why = todo.pop()
        if name in out:
            continue
        f = module_file(root, name)
        if f is None:
            raise MissingModule(f"{why} import {PACKAGE}.{name}, which does not exist")
        out[name] = f
        todo += [(p, f"{name} (as its parent package)") for p in _parents(name)]
        for target, line, required in _imports(root, name, f):
            # ``from .mod import name``: follow ``mod.name`` only when it is a submodule
            if required or module_file(root, target) is not None:
                todo.append((target, f"{f.relative_to(root)}:{line}"))
    return out


def closure_hash(roots: Iterable[str], root: Path | None = None) -> str:
    """sha256 of every source file ``roots`` import, transitively (names and bytes).

    ``root`` is the package folder (default: this installed package; a test passes
    an edited copy). A cache keyed on it is invalidated by any edit to the code
    that computes its contents, never by a hand-bumped version number.

    Example:
        >>> len(closure_hash(["evidence.gradients.slices"]))
        64
    """
    if root is None:
        return _installed_closure_hash(tuple(sorted(set(roots))))
    closure = module_closure(root, roots)
    h = hashlib.sha256()
    for name in sorted(closure):
        h.update(name.encode() + b"\0" + closure[name].read_bytes() + b"\0")
    return h.hexdigest()


@lru_cache(maxsize=8)
def _installed_closure_hash(roots: tuple[str, ...]) -> str:
    """:func:`closure_hash` of this installed package (the sources do not change under a run)."""
    return closure_hash(roots, Path(__file__).resolve().parents[1])


__all__ = ["PACKAGE", "MissingModule", "closure_hash", "module_closure", "module_file"]
