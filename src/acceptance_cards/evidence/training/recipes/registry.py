"""Recipe names -> recipe classes: the built-ins, installed plug-ins, ``module:Class``.

Wherever a recipe name is accepted (``TrainConfig.recipe``, ``acard train
--recipe``, an audit config's ``recipe =``), three spellings resolve:

1. a built-in name (``adamw``, ``ac-adamw``, ``attack-aware``, ``safelora``);
2. a name another installed package registers in the entry-point group
   ``acceptance_cards.recipes`` (``name = "pkg.module:Class"`` in its
   ``[project.entry-points."acceptance_cards.recipes"]``);
3. ``module:Class`` — any importable :class:`~.base.Recipe` subclass, no
   installation needed (the module must be on ``sys.path``).

Built-ins win a name clash, so a plug-in cannot silently replace the matched
baseline. An unknown name is one :class:`InputError` listing the known ones.
``docs/writing-a-recipe.md`` walks through a complete plug-in.

Example:
    >>> recipe_class("attack-aware").claimed_class
    'attack-targeted'
    >>> recipe_class("acceptance_cards.evidence.training.recipes.adamw:AdamW").name
    'adamw'
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from ...._util.errors import InputError
from .ac_adamw import ACAdamW
from .adamw import AdamW
from .attack_aware import AttackAware
from .base import CLAIM_CLASSES, Recipe
from .safelora import SafeLoRA

#: The entry-point group third-party packages register recipes under.
ENTRY_POINT_GROUP = "acceptance_cards.recipes"

#: Built-in recipe name -> class (always available, also from a source checkout).
BUILTIN: dict[str, type[Recipe]] = {cls.name: cls for cls in (AdamW, ACAdamW, AttackAware, SafeLoRA)}


def _plugins() -> dict[str, EntryPoint]:
    """Installed plug-ins by name (built-in names excluded: those always mean the built-in)."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name not in BUILTIN}


def known_recipes() -> list[str]:
    """Every name that resolves without ``module:Class``: built-ins, then plug-ins (sorted)."""
    return [*BUILTIN, *sorted(_plugins())]


def _checked(obj: object, spec: str) -> type[Recipe]:
    if not (isinstance(obj, type) and issubclass(obj, Recipe)):
        raise InputError(f"{spec!r} is not a Recipe subclass (evidence.training.recipes.Recipe)",
                         field="recipe")
    if obj.claimed_class not in CLAIM_CLASSES:
        raise InputError(f"{spec!r} claims {obj.claimed_class!r}; one of {', '.join(CLAIM_CLASSES)}",
                         field="recipe")
    return obj


def _import(spec: str) -> type[Recipe]:
    """``module:Class`` (the class may be dotted: ``module:Outer.Inner``)."""
    module, _, qual = spec.partition(":")
    if not module or not qual:
        raise InputError(f"expected module:Class, got {spec!r}", field="recipe")
    try:
        obj: Any = importlib.import_module(module)
    except (ImportError, AttributeError) as exc:  # AttributeError: the module's own code
        raise InputError(f"cannot import {module!r} for recipe {spec!r}: {exc}", field="recipe"
                         ) from None
    for part in qual.split("."):
        if not hasattr(obj, part):
            raise InputError(f"module {module!r} has no {qual!r}", field="recipe")
        obj = getattr(obj, part)
    return _checked(obj, spec)


def recipe_class(spec: str) -> type[Recipe]:
    """The recipe class a name (built-in, plug-in) or ``module:Class`` names.

    Example:
        >>> try:
        ...     recipe_class("sgd")
        ... except InputError as exc:
        ...     print(exc.message)
        unknown recipe 'sgd'; one of adamw, ac-adamw, attack-aware, safelora (or module:Class)
    """
    if spec in BUILTIN:
        return BUILTIN[spec]
    if ":" in spec:
        return _import(spec)
    ep = _plugins().get(spec)
    if ep is None:
        raise InputError(f"unknown recipe {spec!r}; one of {', '.join(known_recipes())} "
                         "(or module:Class)", field="recipe")
    try:
        obj = ep.load()
    except (ImportError, AttributeError) as exc:  # AttributeError: ``module:Missing``
        raise InputError(f"recipe {spec!r} (entry point {ep.value!r}) does not import: {exc}",
                         field="recipe") from None
    return _checked(obj, f"{spec} = {ep.value}")


def make_recipe(spec: str, params: Mapping[str, Any] | None = None) -> Recipe:
    """Instantiate a recipe by name or ``module:Class`` with validated parameters.

    Example:
        >>> make_recipe("attack-aware", {"alpha": 0.5}).params()
        {'alpha': 0.5}
    """
    return recipe_class(spec)(**dict(params or {}))


def source_digest(spec: str) -> str | None:
    """sha256 of a plug-in recipe's module source (``None`` for a built-in).

    A built-in's code is hashed into the audit's step keys with the package; a
    plug-in's is not, so a caller keying cached work on a recipe adds this.

    Example:
        >>> source_digest("adamw") is None
        True
    """
    cls = recipe_class(spec)
    if BUILTIN.get(cls.name) is cls:
        return None
    path = inspect.getsourcefile(cls)
    if path is None:
        return None
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def claimed_class(spec: str) -> str:
    """The mechanism class a recipe claims (``reference`` for the baseline)."""
    return recipe_class(spec).claimed_class


def card_class(spec: str, *, permissive: bool = False) -> str:
    """The class to put on a card's ``--claimed-class``.

    The baseline makes no defense claim, so it maps to ``unstated``; SafeLoRA's
    strict claim is ``attack-targeted`` and ``permissive=True`` gives its relabel.
    """
    cls = recipe_class(spec)
    if permissive and cls.permissive_class:
        return cls.permissive_class
    return "unstated" if cls.claimed_class == "reference" else cls.claimed_class


def _type_name(annotation: Any) -> str:
    if get_origin(annotation) is Literal:
        return " | ".join(str(a) for a in get_args(annotation))
    name = getattr(annotation, "__name__", None)
    return str(name) if name is not None else str(annotation).replace("typing.", "")


@dataclass(frozen=True)
class ParamHelp:
    """One parameter as ``acard recipes`` shows it."""

    name: str
    type: str
    default: Any
    range: str
    help: str


def describe_params(cls: type[Recipe]) -> list[ParamHelp]:
    """A recipe's parameters: name, type, default, range and help (its field docstrings).

    Example:
        >>> [(p.name, p.default, p.range) for p in describe_params(AttackAware)]
        [('alpha', 1.0, '>= 0.0, <= 4.0')]
    """
    out = []
    for name, f in cls.Params.model_fields.items():
        bounds = [f"{sym} {getattr(m, attr)}" for m in f.metadata
                  for attr, sym in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="))
                  if getattr(m, attr, None) is not None]
        out.append(ParamHelp(name, _type_name(f.annotation), f.default, ", ".join(bounds),
                             " ".join((f.description or "").split())))
    return out
