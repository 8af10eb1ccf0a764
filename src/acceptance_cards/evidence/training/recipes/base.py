"""What a defense recipe is: a small plug-in to the one LoRA training loop.

A recipe may (i) add a term to the loss (:meth:`Recipe.extra_loss`), (ii)
edit each optimiser update after it is taken (:meth:`Recipe.after_step`), and
(iii) transform the trained adapter before it is saved (:meth:`Recipe.finalize`).
Everything else — data, LoRA config, AdamW, cosine schedule, clipping, seed —
is the matched baseline's, so ΔG compares like with like (SPEC §1).

Each recipe declares the mechanism class it *claims* (gate (c) tests the claim):
``reference`` (the AdamW baseline), ``shrinkage`` or ``attack-targeted``, and
its parameters as a typed :class:`RecipeParams` model: each field's docstring is
its help text (``acard recipes``), its constraints are its range, and unknown
keys are refused. A bad value is one :class:`InputError` naming
``recipe_params.<field>``.

Example:
    >>> from pydantic import Field
    >>> class Scale(RecipeParams):
    ...     factor: float = Field(0.5, ge=0.0)
    >>> class Nothing(Recipe):
    ...     name = "nothing"; claimed_class = "shrinkage"; Params = Scale
    >>> Nothing(factor=2).params()
    {'factor': 2.0}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from pydantic import BaseModel, ConfigDict, ValidationError

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


class RecipeParams(BaseModel):
    """Base of a recipe's typed parameters (none): frozen, strict, unknown keys refused.

    Subclass it with one field per parameter; the docstring under a field is its
    help text and ``Field(ge=..., le=...)`` its range. ``strict`` keeps a string
    or a bool from passing as a number (a TOML ``alpha = "2"`` is a typo, not 2).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False,
                              use_attribute_docstrings=True)


class Recipe:
    """Base class: the plain AdamW baseline behaviour (no extra term, no edits)."""

    name: ClassVar[str] = "base"
    claimed_class: ClassVar[str] = "reference"
    #: Class under a permissive relabel, reported beside the strict claim (SafeLoRA).
    permissive_class: ClassVar[str | None] = None
    #: Whether :meth:`after_step` needs the parameters from before the step.
    needs_snapshot: ClassVar[bool] = False
    #: The parameters' model; subclasses narrow :attr:`p` to it.
    Params: ClassVar[type[RecipeParams]] = RecipeParams

    def __init__(self, **params: Any) -> None:
        self.p: RecipeParams = parse_params(type(self), params)

    def params(self) -> dict[str, Any]:
        """The resolved parameters (defaults filled in), recorded in the config."""
        return self.p.model_dump(mode="json")

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


def parse_params(cls: type[Recipe], raw: Mapping[str, Any]) -> RecipeParams:
    """``raw`` validated by ``cls.Params``; the first problem as one :class:`InputError`.

    Example:
        >>> try:
        ...     parse_params(Recipe, {"alpha": 1})
        ... except InputError as exc:
        ...     print(exc.message)
        recipe 'base' has no parameter 'alpha'; known: none
    """
    try:
        return cls.Params.model_validate(dict(raw))
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(x) for x in err["loc"])
        if err["type"] == "extra_forbidden":
            known = ", ".join(cls.Params.model_fields) or "none"
            raise InputError(f"recipe {cls.name!r} has no parameter {key!r}; known: {known}",
                             field="recipe_params") from None
        msg = str(err["msg"]).removeprefix("Value error, ")
        got = f", got {err['input']!r}" if err["type"] not in ("missing", "value_error") else ""
        raise InputError(f"{msg}{got}", field=f"recipe_params.{key}" if key else "recipe_params"
                         ) from None


