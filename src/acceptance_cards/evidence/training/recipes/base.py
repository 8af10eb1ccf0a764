"""What a defense recipe is: a small plug-in to the one LoRA training loop.

A recipe may (i) add a term to the loss (:meth:`Recipe.extra_loss`), (ii)
edit each optimiser update after it is taken (:meth:`Recipe.after_step`), and
(iii) transform the trained adapter before it is saved (:meth:`Recipe.finalize`).
Everything else — data, LoRA config, AdamW, cosine schedule, clipping, seed —
is the matched baseline's, so ΔG compares like with like (SPEC §1).

Each recipe declares the mechanism class it *claims* (gate (c) tests the claim):
``reference`` (the AdamW baseline), ``shrinkage`` or ``attack-targeted``.

Example:
    >>> class Nothing(Recipe):
    ...     name = "nothing"; claimed_class = "shrinkage"
    >>> Nothing().params()
    {}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch

from ...._util.errors import InputError
from ..config import TrainConfig

#: Mechanism classes a recipe may claim. ``reference`` is the baseline's (no claim).
CLAIM_CLASSES = ("reference", "shrinkage", "attack-targeted")


@dataclass(frozen=True)
class LoraPair:
    """One adapted matrix: ``ΔW = B @ A * scaling`` (``A``: r×in, ``B``: out×r)."""

    name: str
    a: torch.nn.Parameter
    b: torch.nn.Parameter
    scaling: float

    def delta(self) -> torch.Tensor:
        """The current ΔW of this matrix (fp32, on the autograd graph)."""
        return (self.b @ self.a) * self.scaling


@dataclass
class RecipeContext:
    """What the training loop hands a recipe.

    ``gradients()`` lazily returns the cached base-model slice gradients
    (:class:`~acceptance_cards.evidence.gradients.slices.SliceGradients`, on the
    training device) over the *recipe's* calibration items — disjoint from the
    items gate (c) measures with; only the recipes that need them pay for them.
    ``train_reference(cfg)`` trains a plain fine-tune with ``cfg`` (or reuses
    one cached under the ACARD cache by ``cfg.digest()``) and returns its
    adapter folder, so a recipe never imports the training loop.
    """

    pairs: dict[str, LoraPair]
    base_weights: Mapping[str, torch.Tensor]
    gradients: Callable[[], Any]
    config: TrainConfig
    train_reference: Callable[[TrainConfig], Path]
    cell_dir: Path
    log: Callable[[str], None] = print
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def slice_names(self) -> list[str]:
        """Base parameter names the adapters update (the declared slice)."""
        return sorted(self.pairs)


class Recipe:
    """Base class: the plain AdamW baseline behaviour (no extra term, no edits)."""

    name: ClassVar[str] = "base"
    claimed_class: ClassVar[str] = "reference"
    #: Class under a permissive relabel, reported beside the strict claim (SafeLoRA).
    permissive_class: ClassVar[str | None] = None
    #: Whether :meth:`after_step` needs the parameters from before the step.
    needs_snapshot: ClassVar[bool] = False
    #: Allowed parameters and their defaults.
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, **params: Any) -> None:
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            raise InputError(f"recipe {self.name!r} has no parameter {unknown[0]!r}; "
                             f"known: {', '.join(sorted(self.defaults)) or 'none'}",
                             field="recipe_params")
        self._params = {**self.defaults, **params}
        self.validate()

    def validate(self) -> None:
        """Check parameter values; raise :class:`InputError` naming the parameter."""

    def params(self) -> dict[str, Any]:
        """The resolved parameters (defaults filled in), recorded in the config."""
        return dict(self._params)

    def setup(self, ctx: RecipeContext) -> None:
        """Called once before the first step (and again on resume)."""

    def extra_loss(self, ctx: RecipeContext) -> torch.Tensor | None:
        """A term added to the task loss at each step (None: nothing)."""
        return None

    def after_step(self, ctx: RecipeContext, before: Mapping[str, torch.Tensor]) -> None:
        """Edit the update just taken; ``before`` holds the parameters before the step."""

    def finalize(self, ctx: RecipeContext) -> dict[str, Any]:
        """Transform the trained adapter in place; return facts to record."""
        return {}


def number(params: Mapping[str, Any], key: str, *, low: float | None = None,
           high: float | None = None, strict_low: bool = False) -> float:
    """A numeric recipe parameter, range-checked into one clear :class:`InputError`."""
    v = params[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise InputError(f"must be a number, got {v!r}", field=f"recipe_params.{key}")
    if low is not None and (v <= low if strict_low else v < low):
        raise InputError(f"must be {'>' if strict_low else '>='} {low}, got {v}",
                         field=f"recipe_params.{key}")
    if high is not None and v > high:
        raise InputError(f"must be <= {high}, got {v}", field=f"recipe_params.{key}")
    return float(v)
