"""The metadata file of ``acard card --meta``: typed, so a wrong type is an input error.

A TOML or JSON file with the top-level keys ``title``, ``model``, ``recipe``,
``task``, ``compute``, ``notes`` and ``evidence`` (stand-ins, a recipe's own
facts, calibration rulers and a permissive class: see
:class:`~.evidence.EvidenceProvenance`; e.g. ``[[evidence.stand_ins]]`` tables
with ``what``, ``why`` and ``affects``). Types are checked strictly (TOML and JSON
both carry types, so ``lora_rank = "eight"`` or ``title = 5`` is a mistake, not
something to coerce), ``notes`` must be a list of strings (a lone string would
otherwise become one remark per character), and numbers must be finite.

Example:
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "meta.toml"
    >>> _ = p.write_text('title = "t"\\nnotes = ["one note"]\\n[recipe]\\nlora_rank = 8\\n')
    >>> m = load_metadata(p)
    >>> m.title, m.notes, m.recipe["lora_rank"]
    ('t', ('one note',), 8)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from .._util.errors import InputError
from .._util.files import read_json_object, read_toml_object, validation_error
from .evidence import EvidenceProvenance
from .model import Compute, ModelInfo, RecipeInfo

#: Deepest nesting a metadata value may have (recipe hyper-parameters are a few levels at
#: most); deeper input is refused rather than risk the recursion limit when the card is written.
MAX_DEPTH = 32
#: Suffixes read as TOML; anything else is read as JSON.
TOML_SUFFIXES: tuple[str, ...] = (".toml",)


@dataclass(frozen=True)
class CardMetadata:
    """Free metadata a user adds to a card (model, recipe, task extras, compute, notes, evidence)."""

    title: str | None = None
    model: Mapping[str, Any] | None = None
    recipe: Mapping[str, Any] | None = None
    task: Mapping[str, Any] | None = None
    compute: Mapping[str, Any] | None = None
    notes: tuple[str, ...] = ()
    evidence: Mapping[str, Any] | None = None


class TaskMeta(BaseModel):
    """Task extras a user may state (the rest of the card's task section comes from the records).

    ``primary`` and ``cross`` are the records' task names: stated, they must agree with
    the records (a contradiction is an input error), never replace them.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    primary: str | None = None
    cross: str | None = None
    train_pool: list[str] | None = None
    split_hash: str | None = None


class MetadataFile(BaseModel):
    """The whole metadata file; unknown keys are refused, so a typo cannot vanish."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str | None = None
    model: ModelInfo | None = None
    recipe: RecipeInfo | None = None
    task: TaskMeta | None = None
    compute: Compute | None = None
    notes: list[str] = []
    evidence: EvidenceProvenance | None = None


def _first_problem(data: Any) -> tuple[str, str] | None:
    """(dotted path, problem) of the first NaN/±inf or too-deep value (TOML and JSON allow both).

    Walked with an explicit stack, so no nesting the parsers accept can overflow it.
    """
    stack: list[tuple[str, Any, int]] = [("", data, 0)]
    while stack:
        where, obj, depth = stack.pop()
        if isinstance(obj, float) and not math.isfinite(obj):
            return where or "(top level)", "must be a finite number"
        if depth > MAX_DEPTH:
            return where, f"nested deeper than {MAX_DEPTH} levels"
        items: Any = ()
        if isinstance(obj, dict):
            items = obj.items()
        elif isinstance(obj, list):
            items = enumerate(obj)
        stack.extend((f"{where}.{k}" if where else str(k), v, depth + 1)
                     for k, v in reversed(list(items)))
    return None


def load_metadata(path: str | Path) -> CardMetadata:
    """Read and validate a metadata file; errors name the file and the field."""
    p = Path(path)
    data = (read_toml_object(p, what="metadata file") if p.suffix.lower() in TOML_SUFFIXES
            else read_json_object(p, what="metadata file"))
    bad = _first_problem(data)
    if bad:
        raise InputError(bad[1], path=p, field=bad[0])
    try:
        m = MetadataFile.model_validate(data, strict=True)
    except ValidationError as exc:
        raise validation_error(exc, path=p) from None
    dump = m.model_dump(exclude_none=True, exclude_unset=True)
    return CardMetadata(
        title=m.title, model=dump.get("model"), recipe=dump.get("recipe"), task=dump.get("task"),
        compute=dump.get("compute"), notes=tuple(m.notes), evidence=dump.get("evidence"),
    )
