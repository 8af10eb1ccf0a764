"""Defense recipes: the registry the training loop and the CLI read.

Each recipe is one small module plugging into :mod:`..loop`, declaring the
mechanism class it claims (gate (c) tests the claim) and its typed parameters
(a :class:`RecipeParams` model beside the class):

============== =================== ==========================================
name           claimed class       what it does
============== =================== ==========================================
adamw          reference           the matched baseline
ac-adamw       shrinkage           + Fisher-weighted penalty on top-k rows
attack-aware   attack-targeted     removes α of each step's g_A component
safelora       attack-targeted*    Safe LoRA projection onto span(V)
============== =================== ==========================================

\\* strict coding; ``permissive_class`` gives the shrinkage relabel.

A researcher's own recipe needs no edit here: register it in the entry-point
group ``acceptance_cards.recipes`` or name it ``module:Class``
(:mod:`.registry`, ``docs/writing-a-recipe.md``).

Example:
    >>> make_recipe("attack-aware", {"alpha": 0.5}).params()
    {'alpha': 0.5}
    >>> claimed_class("ac-adamw")
    'shrinkage'
"""

from __future__ import annotations

from .base import CLAIM_CLASSES, LoraPair, Recipe, RecipeContext, RecipeParams
from .registry import (
    BUILTIN,
    ENTRY_POINT_GROUP,
    card_class,
    claimed_class,
    describe_params,
    known_recipes,
    make_recipe,
    recipe_class,
    source_digest,
)

__all__ = ["BUILTIN", "CLAIM_CLASSES", "ENTRY_POINT_GROUP", "LoraPair", "Recipe", "RecipeContext",
           "RecipeParams", "card_class", "claimed_class", "describe_params", "known_recipes",
           "make_recipe", "recipe_class", "source_digest"]
