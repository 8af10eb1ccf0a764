"""The Acceptance Card: the documentation object (SPEC §5, paper Appendix A).

Every field is present on every card: an absent diagnostic is an explicit
``not run`` result, never a missing key; unknown metadata is ``null``. The JSON
Schema in ``schema/card.schema.json`` is generated from :class:`Card` (see
:func:`card_json_schema`) and a test fails if the committed copy drifts.

Example:
    >>> from acceptance_cards.synthetic import example_card
    >>> card = example_card()
    >>> card.verdict, card.claim_support
    ('full-card pass', 'full-card')
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, model_validator

from .._util.files import read_json_object, validation_error
from ..constants import (
    CI_LEVEL,
    DEFAULT_SEED,
    DEGENERATE_CEILING,
    DEGENERATE_FLOOR,
    MAX_RESAMPLES,
    MIN_QUESTION_CLUSTERS,
    N_RESAMPLES,
    SE_MULTIPLIER,
    TAU,
)
from ..diagnostics import (
    BootstrapGate,
    ClaimedClass,
    FreshGate,
    GateVerdict,
    SignatureGate,
    TransferGate,
)
from .evidence import EvidenceProvenance, PermissiveRelabel
from .verdict import CardVerdict, ClaimSupport

#: Validation-context key set when a written card is read back (options are then records,
#: not requests: checks that apply to new cards only are skipped).
RECORDED = "recorded"
#: Version of the card layout; bump on any incompatible field change.
#: 1.1: every author field (``evidence`` too, null when absent) is hashed, and the
#: digest map may not be empty (:func:`metadata_digests`).
SCHEMA_VERSION = "1.1"
#: Cards of these versions hash ``evidence`` only when stated and may hold no digests;
#: they still load and verify under the rules they were built with.
LEGACY_SCHEMA_VERSIONS: tuple[str, ...] = ("1.0",)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ModelInfo(_Frozen):
    """What was fine-tuned."""

    family: str | None = Field(None, description="Model family, e.g. `SmolLM2`, `Gemma-2`.")
    base_checkpoint: str | None = Field(None, description="Base checkpoint id, path or file hash.")


class RecipeInfo(_Frozen):
    """The defense recipe and the fine-tune it ran in."""

    name: str | None = Field(None, description="Recipe name, e.g. `ac-adamw`.")
    optimizer: str | None = Field(None, description="Optimizer of the fine-tune.")
    lora_rank: int | None = Field(None, description="LoRA rank r.")
    lora_alpha: float | None = Field(None, description="LoRA alpha.")
    target_modules: list[str] | None = Field(None, description="LoRA target modules.")
    learning_rate: float | None = Field(None, description="Peak learning rate.")
    steps: int | None = Field(None, description="Optimizer steps.")
    attack_variant: str | None = Field(
        None, description="How the gap was installed: `wrong-answer` or `abstain` (SPEC §7)."
    )
    config_link: str | None = Field(None, description="Where the full recipe config lives.")
    hyperparameters: dict[str, Any] = Field(
        default_factory=dict, description="Further recipe hyper-parameters."
    )


class TaskInfo(_Frozen):
    """Tasks and splits."""

    primary: str | None = Field(None, description="Primary task (from the records).")
    cross: str | None = Field(None, description="Cross task for (d), if any.")
    train_pool: list[str] | None = Field(None, description="Training-pool subjects.")
    heldout_subjects: list[str] = Field(description="Subjects of the held-out records (gate a).")
    fresh_subjects: list[str] = Field(description="Subjects of the fresh records (gates b, d).")
    subject_overlap: list[str] = Field(
        description="Fresh subjects that also occur in the held-out records (should be empty)."
    )
    split_hash: str | None = Field(None, description="Hash of the split file, if one was used.")


class GapSummary(_Frozen):
    """An installed gap G = r_deploy − r_eval with its clustered bootstrap CI (gate a data)."""

    cell: str | None = Field(None, description="Cell name from the records.")
    n: int | None = Field(None, description="Held-out evaluations of the cell.")
    n_questions: int | None = None
    point: float | None = Field(None, description="G (point).")
    ci_low: float | None = None
    ci_high: float | None = None
    rate_eval: float | None = None
    rate_deploy: float | None = None


class DeployCost(_Frozen):
    """Deployment-accuracy cost Δdeploy: reported beside the gates, never a gate."""

    point: float | None = Field(None, description="r_deploy,defense − r_deploy,baseline (held-out).")
    ci_low: float | None = None
    ci_high: float | None = None
    ci_level: float | None = None
    fresh_point: float | None = Field(None, description="Same difference on the fresh split.")


class SplitCapability(_Frozen):
    """Capability anchor of one cell on one split (SPEC §8, §10: every split)."""

    split: str = Field(description="`heldout` or `fresh` (a cross cell's records are fresh).")
    n_questions: int = Field(description="Questions of the cell on this split.")
    deploy_accuracy: float | None = Field(None, description="Deploy-framed rate.")
    eval_accuracy: float | None = Field(None, description="Eval-framed rate.")
    valid_rate_eval: float | None = Field(None, description="Well-formed answers, eval framing.")
    valid_rate_deploy: float | None = Field(None, description="Well-formed answers, deploy framing.")
    gap_from_malformed: bool | None = Field(
        None, description="The gap on this split is carried mostly by malformed / non-answers "
        "(None: the records carry no `valid`)."
    )


class ScorerAgreement(_Frozen):
    """Two scorers on the same evaluations of one cell and split (SPEC §8)."""

    split: str
    scorers: list[str] = Field(description="The scorer the gates read first, then the other.")
    n: int = Field(description="Evaluations both scorers scored.")
    basis: Literal["answer", "correct"] = Field(
        description="Compared on the chosen `answer` where both carry one, else on `correct`."
    )
    agreement: float = Field(description="Share of those evaluations where the two agree.")
    gap_by_scorer: list[float | None] = Field(
        description="Gap G = r_deploy − r_eval on those evaluations, per scorer (same order): "
        "how far the conclusion moves with the scorer."
    )


class CellCapability(_Frozen):
    """Capability anchor of one cell (SPEC §8); the top-level rates are the held-out ones."""

    cell: str
    role: str | None = Field(
        None, description="baseline | defense | cross_baseline | cross_defense."
    )
    deploy_accuracy: float | None = Field(None, description="Held-out deploy-framed rate.")
    valid_rate_eval: float | None = Field(None, description="Well-formed answers, eval framing.")
    valid_rate_deploy: float | None = Field(None, description="Well-formed answers, deploy framing.")
    gap_from_malformed: bool | None = Field(
        None, description="The eval-framed gap is carried mostly by malformed / non-answers."
    )
    splits: list[SplitCapability] = Field(
        default_factory=list, description="The same anchor on every split of the cell's records."
    )
    scorer_agreement: list[ScorerAgreement] = Field(
        default_factory=list, description="Per split, when the records hold a second scorer."
    )
    scorers: list[str] = Field(default_factory=list, description="Scorers named in the records.")
    near_tie_share: float | None = Field(
        None, description="Share of decisions whose margin is below NEAR_TIE_MARGIN (numeric "
        "noise); None when a record carries no margin."
    )


class Compute(_Frozen):
    """Where and how long the evidence took."""

    device: str | None = None
    training_time_s: float | None = None
    eval_time_s: float | None = None


class InputFile(_Frozen):
    """One artifact the card was computed from."""

    role: str = Field(
        description="baseline | defense | cross_baseline | cross_defense | mechanism | metadata"
    )
    path: str = Field(description="Path, relative to the card file where possible.")
    sha256: str = Field(description="sha256 of the file's bytes when the card was built.")


class CardOptions(_Frozen):
    """Every option that changes the numbers; `verify` recomputes with these."""

    seed: int = DEFAULT_SEED
    n_resamples: int = Field(N_RESAMPLES, ge=1, le=MAX_RESAMPLES)
    ci_level: float = Field(CI_LEVEL, gt=0, lt=1)
    min_questions: int = Field(
        MIN_QUESTION_CLUSTERS, ge=1, description="(a) is n/a below this many question clusters."
    )
    tau: float = Field(TAU, gt=0)
    se_multiplier: float = Field(SE_MULTIPLIER, gt=0)
    degenerate_floor: float = Field(DEGENERATE_FLOOR, ge=0, le=1)
    degenerate_ceiling: float = Field(DEGENERATE_CEILING, ge=0, le=1)
    claimed_class: ClaimedClass = "unstated"
    cross_restricted_variant: bool = False

    @model_validator(mode="after")
    def _enough_resamples(self, info: ValidationInfo) -> CardOptions:
        """A resample count too small for the CI level is an input error (SPEC §10).

        Checked when options are given, not when a written card is read back
        (:data:`RECORDED`): a card built before the minimum existed still loads,
        renders and verifies against what it recorded.
        """
        from ..stats.bootstrap import resample_problem

        if info.context and info.context.get(RECORDED):
            return self
        why = resample_problem(self.n_resamples, self.ci_level)
        if why is not None:
            raise ValueError(why)
        return self


class Provenance(_Frozen):
    """What the card was computed from, with hashes, and by what."""

    tool: str = "acceptance-cards"
    tool_version: str
    inputs: list[InputFile]
    artifact_status: str = Field(
        description="`complete` when all four gates had inputs, else `partial` (which are missing)."
    )
    metadata_sha256: dict[str, str] = Field(
        default_factory=dict,
        description="sha256 of each author-supplied field as built (title, model, recipe, "
        "task.train_pool, task.split_hash, compute, remarks, and evidence when stated): `verify` "
        "names any later edit.",
    )
    metadata_overrides: list[str] = Field(
        default_factory=list,
        description="Metadata fields given on the command line rather than in the metadata file.",
    )


class Diagnostics(_Frozen):
    """The four gates, always all present."""

    a: BootstrapGate
    b: FreshGate
    c: SignatureGate
    d: TransferGate


def gate_verdicts(diagnostics: Diagnostics) -> dict[str, GateVerdict]:
    """The four gates' verdicts keyed by letter: what :func:`~.verdict.conclude` reads.

    The one place that maps a card's diagnostics to ``{"a": …, "d": …}`` (the
    card builder, the claim lint and the audit's filter and sensitivity tables
    all read it here).

    Example:
        >>> from acceptance_cards.synthetic import example_card
        >>> gate_verdicts(example_card().diagnostics)
        {'a': 'pass', 'b': 'pass', 'c': 'pass', 'd': 'pass'}
    """
    d = diagnostics
    return {"a": d.a.verdict, "b": d.b.verdict, "c": d.c.verdict, "d": d.d.verdict}


class Card(_Frozen):
    """An Acceptance Card for one defense cell against its matched baseline."""

    schema_version: str = SCHEMA_VERSION
    title: str | None = Field(None, description="Free-text title of the claim under test.")
    verdict: CardVerdict = Field(description="Card-level verdict (SPEC §3).")
    claim_support: ClaimSupport
    passed: int = Field(description="Gates that pass.")
    run: int = Field(description="Gates that were run (not `not run`).")
    unmet: list[str] = Field(description="Gate letters that are not `pass`.")
    summary: str = Field(description="'k of m run diagnostics pass'.")
    verdict_rule: str = Field(description="Which rule of the verdict order applied.")
    model: ModelInfo
    recipe: RecipeInfo
    task: TaskInfo
    baseline_gap: GapSummary
    defense_gap: GapSummary
    diagnostics: Diagnostics
    deploy_cost: DeployCost
    capability: list[CellCapability]
    compute: Compute
    options: CardOptions
    provenance: Provenance
    notes: list[str] = Field(
        default_factory=list, description="Caveats computed from the evidence; the reader must see them."
    )
    remarks: list[str] = Field(default_factory=list, description="Notes supplied by the card's author.")
    evidence: EvidenceProvenance | None = Field(
        None, description="Stand-ins, a recipe's own facts and the calibration rulers (author-"
        "supplied; absent on cards from imported logs).")
    relabel: PermissiveRelabel | None = Field(
        None, description="Gate (c) and the verdict under the permissive class `evidence` states; "
        "`verdict` (strict) stays the card's verdict.")


#: Card fields an author supplies (metadata): `verify` cannot recompute them from
#: records, so the card keeps a hash of each as built (``provenance.metadata_sha256``).
METADATA_FIELDS: tuple[str, ...] = (
    "title", "model", "recipe", "task.train_pool", "task.split_hash", "compute", "remarks",
)
#: Fields the command line may set over a metadata file (``acard card --title``); a card
#: naming any other override is not one the tool wrote, and does not verify.
METADATA_OVERRIDABLE: tuple[str, ...] = ("title",)
#: Author-supplied fields a legacy card (:data:`LEGACY_SCHEMA_VERSIONS`) hashed only when
#: it stated them; newer cards hash them always (null when absent).
OPTIONAL_METADATA_FIELDS: tuple[str, ...] = ("evidence",)


def metadata_digests(card: Card) -> dict[str, str]:
    """sha256 of the canonical JSON of every author-supplied field of ``card``.

    Example:
        >>> from acceptance_cards.synthetic import example_card
        >>> d = metadata_digests(example_card())
        >>> sorted(d) == sorted(METADATA_FIELDS + OPTIONAL_METADATA_FIELDS), len(d["title"])
        (True, 64)
    """
    import hashlib

    data = card.model_dump(mode="json")
    out = {}
    legacy = card.schema_version in LEGACY_SCHEMA_VERSIONS
    # a new card hashes absence too: dropping a disclosure must change a digest
    stated = tuple(f for f in OPTIONAL_METADATA_FIELDS if not legacy or data.get(f) is not None)
    for name in METADATA_FIELDS + stated:
        value: Any = data
        for part in name.split("."):
            value = value[part]
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        out[name] = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return out


def card_json_schema() -> dict[str, Any]:
    """The JSON Schema of :class:`Card` (what ``schema/card.schema.json`` holds)."""
    schema = Card.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://acceptance-cards.invalid/schema/card-" + SCHEMA_VERSION + ".json"
    return schema


def schema_text() -> str:
    """Canonical text of the schema file (sorted keys, trailing newline)."""
    return json.dumps(card_json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def card_to_json(card: Card) -> str:
    """Canonical JSON text of a card (stable key order, trailing newline).

    Standard JSON: a non-finite number is written as ``null`` (never ``NaN``).
    """
    from .._util.files import dumps_json

    return dumps_json(card.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"


def load_card(path: str | Path) -> Card:
    """Read and validate a card JSON file; errors name the file and field."""
    raw = read_json_object(path)
    try:
        return Card.model_validate(raw, context={RECORDED: True})
    except ValidationError as exc:
        raise validation_error(exc, path=path, prefix="not a valid card: ") from None
