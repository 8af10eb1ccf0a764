"""Defense recipes: the registry the training loop and the CLI read.

Each recipe is one small module plugging into :mod:`..train` and declaring the
mechanism class it claims (gate (c) tests the claim):

============== =================== ==========================================
name           claimed class       what it does
============== =================== ==========================================
adamw          reference           the matched baseline
ac-adamw       shrinkage           + Fisher-weighted penalty on top-k rows
attack-aware   attack-targeted     removes α of each step's g_A component
safelora       attack-targeted*    Safe LoRA projection onto span(V)
============== =================== ==========================================

\\* strict coding; ``permissive_class`` gives the shrinkage relabel.

Example:
    >>> make_recipe("attack-aware", {"alpha": 0.5}).params()
    {'alpha': 0.5}
    >>> claimed_class("ac-adamw")
    'shrinkage'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...._util.errors import InputError
from .ac_adamw import ACAdamW
from .adamw import AdamW
from .attack_aware import AttackAware
from .base import CLAIM_CLASSES, LoraPair, Recipe, RecipeContext
from .safelora import SafeLoRA

#: Recipe name -> class.
RECIPES: dict[str, type[Recipe]] = {
    cls.name: cls for cls in (AdamW, ACAdamW, AttackAware, SafeLoRA)
}

__all__ = ["CLAIM_CLASSES", "RECIPES", "LoraPair", "Recipe", "RecipeContext", "card_class",
           "claimed_class", "make_recipe"]


def make_recipe(name: str, params: Mapping[str, Any] | None = None) -> Recipe:
    """Instantiate a recipe by name with validated parameters."""
    cls = RECIPES.get(name)
    if cls is None:
        raise InputError(f"unknown recipe {name!r}; one of {', '.join(RECIPES)}", field="recipe")
    return cls(**dict(params or {}))


def claimed_class(name: str) -> str:
    """The mechanism class a recipe claims (``reference`` for the baseline)."""
    make_recipe(name)  # validates the name
    return RECIPES[name].claimed_class


def card_class(name: str, *, permissive: bool = False) -> str:
    """The class to put on a card's ``--claimed-class``.

    The baseline makes no defense claim, so it maps to ``unstated``; SafeLoRA's
    strict claim is ``attack-targeted`` and ``permissive=True`` gives its relabel.
    """
    cls = RECIPES.get(name)
    if cls is None:
        raise InputError(f"unknown recipe {name!r}; one of {', '.join(RECIPES)}", field="recipe")
    if permissive and cls.permissive_class:
        return cls.permissive_class
    return "unstated" if cls.claimed_class == "reference" else cls.claimed_class
