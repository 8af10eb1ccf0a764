"""The package's closed vocabularies: one owner each.

Each vocabulary is a ``Literal`` type (what pydantic models and typed code
use) and a tuple of its values read from that type (what loops, checks and
messages use). The CLI annotates its options with these same ``Literal`` types,
so a command's choices can never drift from the data contract.

Example:
    >>> SPLITS
    ('heldout', 'fresh')
    >>> "deploy" in FRAMINGS
    True
"""

from __future__ import annotations

from typing import Final, Literal, get_args

__all__ = [
    "CARD_VERDICTS", "CLAIMED_CLASSES", "DECLARED_NON_ANSWER", "DEVICE_HELP", "DEVICE_PATTERN",
    "EXECUTORS", "FRAMINGS", "GATE_VERDICTS", "MECHANISM_CLASSES", "PROGRESS_MODES",
    "RENDER_FORMATS", "REQUIRE_LEVELS", "SCORERS", "SCORER_CHOICES", "SPLITS", "TASKS",
    "CardVerdict", "ClaimedClass", "ExecutorName", "Framing", "GateVerdict", "MechanismClass",
    "ProgressMode", "RenderFormat", "RequireLevel", "Scorer", "ScorerChoice", "Split", "Task",
]

#: How a prompt reads: as an evaluation, or as ordinary use (SPEC §9 ``framing``).
Framing = Literal["eval", "deploy"]
FRAMINGS: tuple[Framing, ...] = get_args(Framing)

#: ``heldout``: train-pool subjects, unseen questions (gate a); ``fresh``: disjoint
#: subjects (gates b, d).
Split = Literal["heldout", "fresh"]
SPLITS: tuple[Split, ...] = get_args(Split)

#: How the evidence path reads a model's answer: the next-token letter, or the
#: likelihood of each option's text.
Scorer = Literal["letter", "option"]
SCORERS: tuple[Scorer, ...] = get_args(Scorer)

#: What an evaluation scores with (``[eval] scorer``, ``acard eval --scorer``): one
#: :data:`Scorer`, or ``both`` (every prompt under each scorer from one forward pass;
#: cards read the letter records and report agreement).
ScorerChoice = Literal["letter", "option", "both"]
SCORER_CHOICES: tuple[ScorerChoice, ...] = get_args(ScorerChoice)

#: The declared non-answer of the evidence path's answer format: the out-of-range letter
#: the abstain attack teaches. A record whose ``top_token`` is this was read by its scorer:
#: the model declined to answer (the scorer check does not count it as unread).
DECLARED_NON_ANSWER: Final = "E"

#: The tasks the evidence path builds prompts for (imported records may name any task).
Task = Literal["sandbagging", "sycophancy"]
TASKS: tuple[Task, ...] = get_args(Task)

#: Mechanism classes gate (c) can detect (SPEC §2c).
MechanismClass = Literal["shrinkage", "attack-targeted"]
MECHANISM_CLASSES: tuple[MechanismClass, ...] = get_args(MechanismClass)

#: What a defense may claim its mechanism is.
ClaimedClass = Literal["shrinkage", "attack-targeted", "unstated"]
CLAIMED_CLASSES: tuple[ClaimedClass, ...] = get_args(ClaimedClass)

#: One gate's outcome (SPEC §3).
GateVerdict = Literal["pass", "fail", "borderline", "n/a", "pass-with-caveat", "not run"]
GATE_VERDICTS: tuple[GateVerdict, ...] = get_args(GateVerdict)

#: The card's verdict (SPEC §3), strongest first.
CardVerdict = Literal["full-card pass", "near miss", "missing evidence", "fail", "undefined"]
CARD_VERDICTS: tuple[CardVerdict, ...] = get_args(CardVerdict)

#: The ``--require`` levels of ``acard card`` and ``acard check``, strongest first: the
#: command-line spelling of each card verdict in ``card.verdict.VERDICT_ORDER``
#: (``card.verdict.LEVEL_NAMES`` maps each back to its verdict).
RequireLevel = Literal["full-card", "near-miss", "missing-evidence", "undefined", "fail"]
REQUIRE_LEVELS: tuple[RequireLevel, ...] = get_args(RequireLevel)

#: Rendered card formats.
RenderFormat = Literal["md", "html", "tex"]
RENDER_FORMATS: tuple[RenderFormat, ...] = get_args(RenderFormat)

#: Where an audit's steps run: ``local`` (in order, in this process), ``ray`` (each
#: step its own Ray task, shared steps once) or ``ray-cells`` (each cell one Ray task).
ExecutorName = Literal["local", "ray", "ray-cells"]
EXECUTORS: tuple[ExecutorName, ...] = get_args(ExecutorName)

#: How long steps show progress: ``auto`` is rich bars on a terminal, plain
#: timestamped lines otherwise.
ProgressMode = Literal["auto", "plain", "rich", "none"]
PROGRESS_MODES: tuple[ProgressMode, ...] = get_args(ProgressMode)

#: Torch devices the evidence path accepts (not a closed set: ``cuda:N`` takes any
#: index). Checked for syntax here, torch-free, so configs and ``--help`` need no
#: torch; ``evidence/models/device.py`` checks that the device is there.
DEVICE_PATTERN: Final = r"^(auto|cpu|mps|cuda(?::(\d+))?)$"
DEVICE_HELP: Final = "auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps"
