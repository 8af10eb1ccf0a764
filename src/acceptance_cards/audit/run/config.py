"""The audit config (TOML): models × recipes × seeds × primary task × cross task.

Example (``examples/quick.toml`` is a complete one)::

    [audit]
    name = "quick"
    primary_task = "sandbagging"
    cross_task = "sycophancy"
    seeds = [42]

    [[models]]
    name = "smollm2"
    spec = "smollm2"

    [[recipes]]
    name = "attack-aware"
    claimed_class = "attack-targeted"
    params = { alpha = 1.0 }

A model may restrict its cells to a spot check (``seeds = [42]``,
``recipes = ["attack-aware"]``), and ``[train_by_task.<task>]`` overrides
``[train]`` for one task (the cross task often needs other steps or attack
strength to install its gap).

Every section maps onto the library call it configures; unknown keys are an
error naming the file and the key, so a typo never silently falls back to a
default. A recipe that is already trained elsewhere can point at its adapters
(``adapters = { 42 = "path/to/adapter" }``) and skip training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..._util.files import read_toml_object, validation_error
from ...card.model import CardOptions
from ...constants import FRESH_SUBJECT_FRACTION
from ...diagnostics import ClaimedClass
from ...vocab import DEVICE_HELP, DEVICE_PATTERN, ScorerChoice


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AuditSection(_Strict):
    """What to audit."""

    name: str = "audit"
    primary_task: str = "sandbagging"
    cross_task: str | None = Field(
        "sycophancy", description='Cross task of gate (d); "" or "none": no cross task ((d) not run).')
    seeds: list[int] = Field(default_factory=lambda: [42], min_length=1)
    baseline_recipe: str = Field("adamw", description="The matched baseline every cell is compared to.")
    evaluate_base: bool = Field(True, description="Also evaluate the un-tuned base model (reference gap).")

    @field_validator("cross_task")
    @classmethod
    def _no_cross(cls, v: str | None) -> str | None:
        # TOML has no null: an empty string or "none" says "no cross task".
        return None if v is None or v.strip().lower() in ("", "none") else v

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, v: list[int]) -> list[int]:
        return _distinct(v)


def _distinct(seeds: list[int]) -> list[int]:
    """``seeds`` unchanged if no seed repeats (a repeat would name two cells alike)."""
    dup = sorted({s for s in seeds if seeds.count(s) > 1})
    if dup:
        raise ValueError(f"seeds repeat: {dup}; each seed is one cell per recipe")
    return seeds


class ModelSpec(_Strict):
    """A base model: alias (``smollm2``, ``gemma3-270m``), GGUF path, HF folder or hub id."""

    name: str
    spec: str
    dtype: str = "auto"
    seeds: list[int] | None = Field(
        None, min_length=1, description="Only these seeds for this model (a spot check); default: all.")
    recipes: list[str] | None = Field(
        None, min_length=1, description="Only these defense recipes for this model; default: all.")

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, v: list[int] | None) -> list[int] | None:
        return None if v is None else _distinct(v)


class RecipeSpec(_Strict):
    """A defense recipe with its hyper-parameters and the class it claims."""

    name: str
    recipe: str | None = Field(None, description="Registered recipe id (defaults to `name`).")
    claimed_class: ClaimedClass = "unstated"
    params: dict[str, Any] = Field(default_factory=dict)
    cross_restricted: bool = Field(False, description="Cross task runs a restricted variant.")
    adapters: dict[str, str] = Field(
        default_factory=dict, description="Pre-trained adapters to reuse, keyed by seed (primary task)."
    )

    @property
    def recipe_id(self) -> str:
        return self.recipe or self.name


class SplitSection(_Strict):
    """How the MMLU split is drawn (see :func:`acceptance_cards.evidence.data.split.make_split`)."""

    seed: int = 0
    n_heldout: int = Field(48, ge=2)
    n_fresh: int = Field(150, ge=2)
    fresh_subject_fraction: float = Field(FRESH_SUBJECT_FRACTION, gt=0, lt=1)
    mmlu_path: str | None = None


class EvalSection(_Strict):
    """Evaluation sizes and scorer."""

    scorer: ScorerChoice = Field(
        "letter", description='letter, option, or "both" (cards then show scorer agreement).')
    n_heldout: int | None = Field(None, description="Held-out questions to evaluate (default: all).")
    heldout_templates: int = Field(10, ge=1, le=10, description="Templates per framing for (a).")
    n_fresh: int | None = Field(None, description="Fresh questions to evaluate (default: all).")
    fresh_templates: int = Field(2, ge=1, le=2, description="Templates per framing for (b), (d).")




class ComputeSection(_Strict):
    """Where the model steps run.

    ``device``: ``auto`` (CUDA, then MPS, then CPU), ``cpu``, ``cuda``, ``cuda:N``
    or ``mps``. On Ray it also sets each model step's request: one GPU per step
    on CUDA (Ray chooses which, so ``cuda:N`` is ``cuda`` there), CPUs otherwise.
    """

    device: str = Field("cpu", pattern=DEVICE_PATTERN,
                        description=DEVICE_HELP)


class AuditConfig(_Strict):
    """A whole audit."""

    audit: AuditSection = Field(default_factory=AuditSection)
    models: list[ModelSpec] = Field(min_length=1)
    recipes: list[RecipeSpec] = Field(min_length=1)
    split: SplitSection = Field(default_factory=SplitSection)
    eval: EvalSection = Field(default_factory=EvalSection)
    train: dict[str, Any] = Field(default_factory=dict, description="Shared training config.")
    train_by_task: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Per-task training overrides, merged over [train] (e.g. [train_by_task.sycophancy]).")
    mechanism: dict[str, Any] = Field(default_factory=dict, description="Gradient/ρ options.")
    compute: ComputeSection = Field(default_factory=ComputeSection)
    thresholds: CardOptions = Field(default_factory=CardOptions)

    @model_validator(mode="after")
    def _unique(self) -> AuditConfig:
        for what, names in (("models", [m.name for m in self.models]),
                            ("recipes", [r.name for r in self.recipes])):
            dup = {n for n in names if names.count(n) > 1}
            if dup:
                raise ValueError(f"duplicate {what} names: {sorted(dup)}")
        stray_tasks = sorted(set(self.train_by_task) - set(self.tasks()))
        if stray_tasks:
            raise ValueError(f"train_by_task names tasks this audit does not run: {stray_tasks}")
        known = {r.name for r in self.defense_recipes()}
        for m in self.models:
            unknown = sorted(set(m.recipes or ()) - known)
            if unknown:
                raise ValueError(f"model {m.name!r} lists recipes that are not defense recipes "
                                 f"of this audit: {unknown}")
            stray = sorted(set(m.seeds or ()) - set(self.audit.seeds))
            if stray:
                raise ValueError(f"model {m.name!r} lists seeds not in [audit] seeds: {stray}")
        return self

    def recipe(self, name: str) -> RecipeSpec:
        """A recipe by name; the baseline recipe exists even when not listed."""
        for r in self.recipes:
            if r.name == name:
                return r
        if name == self.audit.baseline_recipe:
            return RecipeSpec(name=name, claimed_class="unstated")
        raise KeyError(name)

    def defense_recipes(self) -> list[RecipeSpec]:
        """Recipes that get a card (every listed recipe except the baseline)."""
        return [r for r in self.recipes if r.name != self.audit.baseline_recipe]

    def tasks(self) -> list[str]:
        """The tasks this audit fine-tunes on: the primary task, then the cross task if any."""
        return [self.audit.primary_task] + ([self.audit.cross_task] if self.audit.cross_task else [])

    def train_for(self, task: str) -> dict[str, Any]:
        """The training config of ``task``: [train] with that task's overrides on top."""
        return {**self.train, **self.train_by_task.get(task, {})}

    def cells_of(self, model: ModelSpec) -> list[tuple[RecipeSpec, int]]:
        """(recipe, seed) pairs audited on ``model``: all, or the model's spot-check subset."""
        recipes = [r for r in self.defense_recipes() if model.recipes is None or r.name in model.recipes]
        seeds = [s for s in self.audit.seeds if model.seeds is None or s in model.seeds]
        return [(r, s) for r in recipes for s in seeds]


def load_config(path: str | Path) -> AuditConfig:
    """Parse and validate an audit TOML file; errors name the file and the key."""
    p = Path(path)
    raw = read_toml_object(p, what="audit config")
    try:
        return AuditConfig.model_validate(raw)
    except ValidationError as exc:
        raise validation_error(exc, path=p) from None
