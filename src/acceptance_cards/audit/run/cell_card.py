"""A finished cell's card: its evidence loaded and judged (the audit's ``card`` step).

The card records its inputs relative to the folder it is written to, so
``acard verify`` recomputes it from the audit's artifacts. Torch-free: the card
step runs on a CPU wherever the model steps ran.
"""

from __future__ import annotations

from pathlib import Path

from ...card.build import build_card
from ...card.metadata import CardMetadata
from ...card.model import CardOptions
from ...mechanism import load_mechanism
from ...records import load_records
from ..cells import CellResult
from .config import AuditConfig
from .evidence_facts import evidence_metadata, fine_tune_facts
from .pipeline import CellArtifacts

__all__ = ["cell_result"]


def cell_result(cfg: AuditConfig, art: CellArtifacts, *, cards_dir: Path) -> CellResult:
    """Load a finished cell's evidence and build its card.

    The card records its inputs relative to ``cards_dir`` (where the audit
    writes it), so ``acard verify`` recomputes it from the audit's artifacts.
    """
    import os

    from ..._util.files import sha256_file
    from ...card.model import InputFile

    f = art.files
    inputs = [InputFile(role=role, path=os.path.relpath(Path(path).resolve(), cards_dir.resolve()),
                        sha256=sha256_file(path)) for role, path in f.items()]
    b, d = load_records(f["baseline"]), load_records(f["defense"])
    xb = load_records(f["cross_baseline"]) if "cross_baseline" in f else None
    xd = load_records(f["cross_defense"]) if "cross_defense" in f else None
    mech = load_mechanism(f["mechanism"]) if "mechanism" in f else None
    recipe = cfg.recipe(art.plan.recipe)
    options: CardOptions = cfg.thresholds.model_copy(update={
        "claimed_class": recipe.claimed_class, "cross_restricted_variant": recipe.cross_restricted})
    card = build_card(b, d, cross_baseline=xb, cross_defense=xd, mechanism=mech,
                      options=options, metadata=_metadata(cfg, art), inputs=inputs)
    return CellResult(name=art.plan.name, model=art.plan.model, recipe=art.plan.recipe,
                      seed=art.plan.seed, task=cfg.audit.primary_task, card=card, baseline=b,
                      defense=d, cross_baseline=xb, cross_defense=xd, mechanism=mech)


def _metadata(cfg: AuditConfig, art: CellArtifacts) -> CardMetadata:
    """The card's title, model, recipe, task and compute sections for one cell.

    The model and recipe facts are the defense fine-tune's as it ran (its
    ``config.json``: defaults included); the audit config fills in what a cell
    without a training folder (the researcher's own adapters) cannot record.
    """
    recipe = cfg.recipe(art.plan.recipe)
    model = next(m for m in cfg.models if m.name == art.plan.model)
    train = {**cfg.train_for(cfg.audit.primary_task), **recipe.params}
    train_dir = art.meta.get("defense_train_dir")
    ran_model, ran = fine_tune_facts(train_dir)
    configured = {"lora_rank": train.get("lora_rank"), "learning_rate": train.get("lr"),
                  "steps": train.get("steps"), "attack_variant": train.get("attack", "abstain"),
                  "hyperparameters": recipe.params}
    return CardMetadata(
        title=f"{recipe.name} vs {cfg.audit.baseline_recipe} — {art.plan.name}",
        model={"family": model.name, "base_checkpoint": model.spec, **ran_model},
        recipe={"name": recipe.name, "optimizer": train.get("optimizer", "AdamW"), **configured, **ran},
        task={"train_pool": art.meta.get("train_subjects"), "split_hash": art.meta.get("split_hash")},
        # the device the model steps resolved (manifests record it); the card step is CPU-only
        compute={"device": art.meta.get("device", "cpu"),
                 "training_time_s": sum(v for k, v in art.timings.items() if k.startswith("train")),
                 "eval_time_s": sum(v for k, v in art.timings.items() if k.startswith("eval"))},
        evidence=evidence_metadata(cfg, art.plan.recipe, mechanism=art.files.get("mechanism"),
                                   train_dir=train_dir),
    )
