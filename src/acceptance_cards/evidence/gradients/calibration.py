"""Calibration items for base-model gradients: one builder, two disjoint rulers.

Both the training recipes that read base-model gradients (Attack-Aware's g_A,
AC-AdamW's Fisher) and gate (c)'s signature ρ draw calibration items here, from
the split's **train pool** (never a held-out or fresh question), each under one
eval- and one deploy-framed *training* wording. The pool itself is built once,
by :func:`train_pool_for`, which also checks a split file against the MMLU
source it was drawn from (the training data use the same pool).

Why two rulers: a recipe that removes its update's component along g_A makes ρ
vanish *by construction* if gate (c) measures ρ against the very same g_A. So
the train pool is partitioned by a fixed hash of each question id into a
``gate`` half and a ``recipe`` half (:func:`calibration_role`): whatever ``n``
or seed either side uses, the two sets never share an item. Each set's hash is
recorded beside the result it produced (the cell's ``result.json`` and the
mechanism file), so a card can show both.

Example:
    >>> from acceptance_cards.evidence.data.mmlu import MCItem
    >>> from acceptance_cards.evidence.data.templates import Template
    >>> pool = [MCItem(f"mmlu-x-{i}", "x", "Q?", ("a", "b", "c", "d"), 1) for i in range(5)]
    >>> ts = [Template("e", "eval", "train", "Test."), Template("d", "deploy", "train", "Hi.")]
    >>> cal = calibration_set(pool, ts, task="sandbagging", variant="abstain", n=3)
    >>> [c.attack for c in cal.items], len(cal.hash)
    (['E', 'E', 'E'], 64)
    >>> sorted({calibration_role(f"mmlu-x-{i}") for i in range(20)})
    ['gate', 'recipe']
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from ..._util.errors import InputError
from ..data.attacks import attack_target, check_variant, training_templates
from ..data.mmlu import MCItem
from ..data.tasks import target_letter
from ..data.templates import Template

__all__ = ["CALIBRATION_SEEDS", "DEFAULT_N_CALIBRATION", "CalibrationItem", "CalibrationRole",
           "CalibrationSet", "CalibrationSpec", "TrainPool", "calibration_for", "calibration_role",
           "calibration_set", "train_pool_for"]

#: Calibration items (each under both framings). Reconstructed default; the paper
#: does not state its count. 64 items keep the per-item cache of a mid-depth q/v
#: slice near 110 MB and the bootstrap on ρ meaningful.
DEFAULT_N_CALIBRATION = 64

CalibrationRole = Literal["gate", "recipe"]
#: Draw seed per ruler: gate (c)'s set and the recipes' set (disjoint halves of the pool).
CALIBRATION_SEEDS: dict[CalibrationRole, int] = {"gate": 0, "recipe": 1}
#: Salt of the question-id hash that partitions the train pool (changing it moves every item).
_PARTITION_SALT = "acard-calibration-role-v1:"


class CalibrationSpec(Protocol):
    """What the builder reads from a training config (:class:`~..training.config.TrainConfig`
    has these fields; a protocol keeps this stage below the training stage)."""

    @property
    def task(self) -> str: ...
    @property
    def attack(self) -> str: ...
    @property
    def split(self) -> str | None: ...
    @property
    def split_seed(self) -> int: ...
    @property
    def templates(self) -> str | None: ...
    @property
    def extra_wordings(self) -> bool: ...
    @property
    def n_calibration(self) -> int | None: ...


@dataclass(frozen=True)
class CalibrationItem:
    """One calibration item: its two framings and the two targets."""

    item: MCItem
    eval_template: Template
    deploy_template: Template
    key: str
    attack: str


@dataclass(frozen=True)
class CalibrationSet:
    """Calibration items plus the task/variant they stand for; ``hash`` keys the cache."""

    items: tuple[CalibrationItem, ...]
    task: str
    variant: str
    hash: str


@dataclass(frozen=True)
class TrainPool:
    """The split's train pool with the wordings training may use, and its provenance."""

    items: tuple[MCItem, ...]
    templates: tuple[Template, ...]
    forbidden_ids: frozenset[str]
    provenance: dict[str, Any]


def calibration_role(question_id: str) -> CalibrationRole:
    """Which ruler a train-pool question belongs to (a fixed hash of its id).

    Example:
        >>> calibration_role("mmlu-anatomy-0") in ("gate", "recipe")
        True
    """
    digest = hashlib.sha256((_PARTITION_SALT + question_id).encode()).digest()
    return "gate" if digest[0] % 2 == 0 else "recipe"


def calibration_set(
    pool: Sequence[MCItem],
    templates: Sequence[Template],
    *,
    task: str,
    variant: str,
    n: int = DEFAULT_N_CALIBRATION,
    seed: int = 0,
    forbidden_ids: frozenset[str] = frozenset(),
) -> CalibrationSet:
    """Draw ``n`` items of ``pool``, each with one eval and one deploy training template."""
    check_variant(variant)
    bad = [t.id for t in templates if t.use != "train"]
    if bad:
        raise InputError(f"calibration uses training templates only; {bad[0]!r} is not",
                         field="template_id")
    ev = [t for t in templates if t.framing == "eval"]
    dep = [t for t in templates if t.framing == "deploy"]
    if not ev or not dep:
        raise InputError("need eval and deploy training templates", field="templates")
    leaked = [it.question_id for it in pool if it.question_id in forbidden_ids]
    if leaked:
        raise InputError(f"calibration item {leaked[0]!r} is a held-out/fresh question",
                         field="question_id")
    if not 0 < n <= len(pool):
        raise InputError(f"need 1..{len(pool)} calibration items, asked for {n}",
                         field="n_calibration")
    rng = np.random.Generator(np.random.PCG64(seed))
    chosen = [pool[i] for i in rng.permutation(len(pool))[:n]]
    out = tuple(
        CalibrationItem(it, ev[int(rng.integers(len(ev)))], dep[int(rng.integers(len(dep)))],
                        target_letter(it, task=task), attack_target(it, task=task, variant=variant))
        for it in chosen)
    body = json.dumps([[c.item.question_id, c.eval_template.id, c.eval_template.before,
                        c.deploy_template.id, c.deploy_template.before, c.key, c.attack]
                       for c in out] + [task, variant], separators=(",", ":"))
    return CalibrationSet(out, task, variant, hashlib.sha256(body.encode()).hexdigest())


def train_pool_for(spec: CalibrationSpec) -> TrainPool:
    """The train pool of ``spec``'s split (a split file is checked against the MMLU source).

    Shared by the attack data and both calibration sets, so they read one pool.
    """
    from ..data.mmlu import load_mmlu_source
    from ..data.split import check_source, load_split, make_split, train_pool
    from ..data.templates import load_templates

    source = load_mmlu_source()
    if spec.split is not None:
        split = load_split(spec.split)
        check_source(split, source)
    else:
        split = make_split(source, seed=spec.split_seed)
    templates = load_templates(spec.templates)
    return TrainPool(tuple(train_pool(split, source.items)),
                     tuple(training_templates(templates.templates, extra=spec.extra_wordings)),
                     frozenset(split.heldout_ids) | frozenset(split.fresh_ids),
                     {"split_hash": split.hash, "mmlu_sha256": source.sha256,
                      "templates_sha256": templates.sha256})


def calibration_for(spec: CalibrationSpec, *, role: CalibrationRole = "gate",
                    n: int | None = None, pool: TrainPool | None = None) -> CalibrationSet:
    """The calibration set of one ruler for ``spec``'s task, attack and split.

    ``role="gate"``: what gate (c) measures ρ with; ``role="recipe"``: what a
    training recipe reads base-model gradients on. The two come from disjoint
    halves of the train pool (:func:`calibration_role`) with their own seeds
    (:data:`CALIBRATION_SEEDS`). ``n`` defaults to ``spec.n_calibration``, else
    :data:`DEFAULT_N_CALIBRATION`.
    """
    tp = pool if pool is not None else train_pool_for(spec)
    half = [it for it in tp.items if calibration_role(it.question_id) == role]
    return calibration_set(half, tp.templates, task=spec.task, variant=spec.attack,
                           n=n or spec.n_calibration or DEFAULT_N_CALIBRATION,
                           seed=CALIBRATION_SEEDS[role], forbidden_ids=tp.forbidden_ids)
