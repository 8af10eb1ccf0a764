"""`acard results`: pack an audit's evidence into a committable folder, and size it.

Example:
    $ acard results pack out/cpu-full results/cpu-full --config examples/cpu-full.toml
    $ acard verify results/cpu-full/cards/*.json
    $ acard results sizes results/cpu-full
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from .._util.errors import InputError
from .._util.files import read_bytes

if TYPE_CHECKING:
    from ..audit.report.pack import ConfigInfo
    from ..audit.run.config import AuditConfig

_out = Console(highlight=False, soft_wrap=True)

results_app = typer.Typer(
    name="results", no_args_is_help=True,
    help="Pack an audit's evidence into a small results folder that `acard verify` "
         "recomputes with no model; report its size.")


def _mb(n: int) -> str:
    return f"{n / 1_000_000:.2f} MB"


def _config_info(config: Path, audit_out: Path) -> ConfigInfo:
    """The config's text and canonical hash; its cells must all have cards in ``audit_out``."""
    from ..audit.report.outputs import safe_names
    from ..audit.report.pack import ConfigInfo
    from ..audit.run.config import load_config
    from ..audit.run.pipeline import plan_cells
    from ..audit.run.store import canonical_json

    cfg = load_config(config)
    names = [p.name for p in plan_cells(cfg)]
    stems = safe_names([*names, "positive-control"])
    missing = [n for n in names if not (audit_out / "cards" / f"{stems[n]}.json").is_file()]
    if missing:
        raise InputError(f"the audit has no card for cell(s) {', '.join(missing)} of this "
                         "config (an unfinished or another audit)", path=config, field="cells")
    for plan in plan_cells(cfg):
        _check_card_matches(cfg, plan.recipe, audit_out / "cards" / f"{stems[plan.name]}.json")
    digest = hashlib.sha256(canonical_json(cfg.model_dump(mode="json")).encode()).hexdigest()
    return ConfigInfo(text=read_bytes(config, what="audit config"), canonical_sha256=digest)


def _check_card_matches(cfg: AuditConfig, recipe_name: str, card_file: Path) -> None:
    """The card's recorded options (thresholds, claimed class) and recipe match the config.

    The fine-tune's facts the card records from its run (LoRA rank, learning
    rate, steps, attack …) must equal what the config sets for them.

    Raises:
        InputError: naming the card file and the first field that differs.
    """
    from .._util.files import read_json_object
    from ..audit.run.evidence_facts import TRAIN_FIELDS

    card = read_json_object(card_file)
    recipe = cfg.recipe(recipe_name)
    want = cfg.thresholds.model_copy(update={
        "claimed_class": recipe.claimed_class,
        "cross_restricted_variant": recipe.cross_restricted}).model_dump(mode="json")
    got, rec = card.get("options"), card.get("recipe")
    got = got if isinstance(got, dict) else {}
    rec = rec if isinstance(rec, dict) else {}
    checks = [(f"options.{k}", got.get(k), v) for k, v in want.items()]
    checks += [("recipe.name", rec.get("name"), recipe.name),
               ("recipe.hyperparameters", rec.get("hyperparameters"), dict(recipe.params))]
    # the fine-tune as it ran (its config.json): what the config sets must be what ran
    train = {**cfg.train_for(cfg.audit.primary_task), **recipe.params}
    checks += [(f"recipe.{field}", rec.get(field), train[key])
               for key, field in TRAIN_FIELDS.items() if key in train and field in rec]
    for field, have, expected in checks:
        if have != expected:
            raise InputError(f"the card records {have!r}, the config gives {expected!r} "
                             "(another config produced these cards)", path=card_file, field=field)


@results_app.command("pack")
def pack(
    audit_out: Annotated[Path, typer.Argument(metavar="AUDIT_OUT",
                                              help="Output folder of `acard audit`.")],
    results_dir: Annotated[Path, typer.Argument(metavar="RESULTS_DIR",
                                                help="Folder to write (new, empty, or an earlier pack).")],
    config: Annotated[Path | None, typer.Option(
        help="The audit's config: copied in, its hash recorded, and every cell it plans "
             "must have a card.")] = None,
) -> None:
    """Copy the evidence every card records (records as deterministic .jsonl.gz, mechanism
    files), rebuild each card from the copies, copy matrix/filter/figures/sensitivity, and
    write MANIFEST.json. Nothing is written if any card fails to rebuild identically."""
    from ..audit.report.pack import pack_audit

    info = _config_info(config, audit_out) if config is not None else None
    res = pack_audit(audit_out, results_dir, config=info)
    for name in res.cards:
        _out.print(f"packed {name}: rebuilt from the packed evidence, identical", markup=False)
    _print_sizes({k: (sum(1 for f in res.files if f.kind == k),
                      sum(f.size for f in res.files if f.kind == k))
                  for k in sorted({f.kind for f in res.files})})
    _out.print(f"packed {len(res.files)} files, {_mb(res.total_bytes)} "
               f"(the same evidence unpacked: {_mb(res.source_bytes)}) into {results_dir}",
               markup=False)
    _out.print(f"check: acard verify {results_dir}/cards/*.json", markup=False)


def _print_sizes(sizes: dict[str, tuple[int, int]]) -> None:
    for kind, (n, size) in sorted(sizes.items()):
        _out.print(f"{kind:12s} {n:5d} file(s) {_mb(size):>12s}", markup=False)


@results_app.command("sizes")
def sizes(
    results_dir: Annotated[Path, typer.Argument(metavar="RESULTS_DIR")],
    budget_mb: Annotated[float | None, typer.Option(
        min=0.0, help="Exit 1 if the folder is larger (MB = 10^6 bytes; "
                      "default: the committed-results budget).")] = None,
) -> None:
    """Print files and bytes per kind (card, records, mechanism, figure, …) and the total."""
    from ..audit.report.pack import RESULTS_BUDGET_BYTES, folder_sizes

    by_kind = folder_sizes(results_dir)
    _print_sizes(by_kind)
    total = sum(size for _, size in by_kind.values())
    budget = RESULTS_BUDGET_BYTES if budget_mb is None else int(budget_mb * 1_000_000)
    _out.print(f"total        {sum(n for n, _ in by_kind.values()):5d} file(s) {_mb(total):>12s}"
               f" (budget {_mb(budget)})", markup=False)
    if total > budget:
        _out.print(f"over budget by {_mb(total - budget)}", markup=False)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the ``results`` command group to ``app``."""
    app.add_typer(results_app)
