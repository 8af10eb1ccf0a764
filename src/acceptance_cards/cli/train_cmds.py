"""Training and mechanism commands: ``acard train``, ``acard mechanism``.

``acard train`` fine-tunes one cell (recipe × task × seed) into a folder and
resumes an interrupted run from its last checkpoint when rerun with the same
arguments. ``acard mechanism`` computes gate (c)'s mechanism file from a cell's
adapter (or a full checkpoint) against cached base-model gradients.

Heavy layers (torch, transformers, peft) are imported inside the command bodies.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from .._util.errors import InputError
from .._util.lazy import require
from ..vocab import Task
from .eval_cmds import DEVICE_OPTION_HELP

_out = Console(highlight=False, soft_wrap=True)


def _parse_params(items: list[str]) -> dict[str, Any]:
    """``key=value`` pairs; values parsed as JSON when they parse (numbers, null, lists)."""
    out: dict[str, Any] = {}
    for raw in items:
        if "=" not in raw:
            raise InputError(f"expected key=value, got {raw!r}", field="param")
        key, value = raw.split("=", 1)
        try:
            out[key.strip()] = json.loads(value)
        except ValueError:
            out[key.strip()] = value
    return out


def _layers(spec: str | None) -> tuple[int, ...] | None:
    """``all`` | ``15`` | ``12-17`` | ``3,15,20`` -> layer indices (None = all)."""
    if spec is None or spec.strip().lower() == "all":
        return None
    out: list[int] = []
    try:
        for part in spec.split(","):
            if "-" in part:
                lo, hi = part.split("-", 1)
                out.extend(range(int(lo), int(hi) + 1))
            else:
                out.append(int(part))
    except ValueError:
        raise InputError(f"expected all, N, A-B or a comma list, got {spec!r}",
                         field="layers") from None
    return tuple(sorted(set(out)))


def _train_config(base: Path | None, options: dict[str, Any]) -> Any:
    """The cell's TrainConfig: ``base`` (or the defaults) with every option given applied.

    Options left at ``None`` keep the base's value; ``target_modules`` (comma list),
    ``layers`` (:func:`_layers`), ``split`` (a path) and ``recipe_params``
    (``key=value`` items) arrive as typed on the command line.
    """
    from ..evidence.training.config import TrainConfig, config_from_dict, load_config

    parse: dict[str, Callable[[Any], Any]] = {
        "target_modules": lambda t: tuple(x.strip() for x in t.split(",") if x.strip()),
        "layers": _layers, "split": str, "recipe_params": _parse_params}
    overrides = {key: parse.get(key, lambda v: v)(value) for key, value in options.items()
                 if value is not None and value != []}
    body = (load_config(base) if base is not None else TrainConfig()).model_dump()
    return config_from_dict(body | overrides, source=str(base) if base else "<options>")


def _already_trained(output: Path, cfg: Any) -> bool:
    """Whether ``output`` holds a finished cell trained with exactly ``cfg``."""
    from ..evidence.training.layout import CellLayout

    cell = CellLayout(output)
    if not cell.finished():
        return False
    old = json.loads(cell.config.read_text(encoding="utf-8"))
    return bool(old.get("config_digest") == cfg.digest())


def _train_with_progress(cfg: Any, output: Path, lm: Any) -> None:
    """Run the training loop under a progress display and print what it produced."""
    from ..evidence.training.loop import train_cell
    from .progress import task_progress

    what = f"{cfg.recipe}/{cfg.task} s{cfg.seed}"
    # a live bar on a terminal, timestamped lines in a log (see cli/progress.py)
    with task_progress(_out, "auto", f"{what} training steps", cfg.steps) as update:

        def tick(step: int, total: int, loss: float) -> None:
            update(step, description=f"{what} loss {loss:.3f} training steps")

        result = train_cell(cfg, output, lm=lm, progress=tick, log=_out.print)
    _out.print(f"adapter: {result.adapter_dir}  ({result.steps} steps, "
               f"{result.train_seconds:.0f} s, final loss {result.final_loss:.3f})")


def train_cmd(
    output: Annotated[Path, typer.Option("--output", "-o", help="Cell folder (created/resumed).")],
    recipe: Annotated[str, typer.Option(help="adamw | ac-adamw | attack-aware | safelora")
                      ] = "adamw",
    task: Annotated[Task, typer.Option(help="Which task's attack data.")] = "sandbagging",
    seed: Annotated[int, typer.Option(help="Cell seed (data order, LoRA init).")] = 42,
    config: Annotated[Path | None, typer.Option(
        help="Base TrainConfig JSON; the options below override it.")] = None,
    model: Annotated[str | None, typer.Option(help="Base model (default smollm2).")] = None,
    attack: Annotated[str | None, typer.Option(help="abstain | wrong-answer")] = None,
    strength: Annotated[float | None, typer.Option(
        help="Share of eval-framed examples attacked, in [0, 1].")] = None,
    select: Annotated[str | None, typer.Option(
        help="Which eval-framed examples are attacked: random | hint-letter (sycophancy).")
    ] = None,
    steps: Annotated[int | None, typer.Option(min=1)] = None,
    lr: Annotated[float | None, typer.Option()] = None,
    batch_size: Annotated[int | None, typer.Option(min=1)] = None,
    rank: Annotated[int | None, typer.Option(min=1, help="LoRA rank.")] = None,
    alpha: Annotated[int | None, typer.Option(min=1, help="LoRA alpha.")] = None,
    targets: Annotated[str | None, typer.Option(help="LoRA target modules, comma list.")] = None,
    layers: Annotated[str | None, typer.Option(help="all | 15 | 12-17 | 3,15")] = None,
    n_examples: Annotated[int | None, typer.Option(min=1)] = None,
    extra_wordings: Annotated[bool | None, typer.Option(
        "--extra-wordings/--shipped-wordings",
        help="Train on 16 + 16 training-only wordings, or only the 4 + 4 shipped ones.")] = None,
    split_file: Annotated[Path | None, typer.Option(help="Split file (default: seed-0 split).")
                          ] = None,
    param: Annotated[list[str] | None, typer.Option(
        "--param", "-p", help="Recipe parameter key=value (repeatable), e.g. alpha=2.")] = None,
    device: Annotated[str, typer.Option(help=DEVICE_OPTION_HELP)] = "auto",
    threads: Annotated[int | None, typer.Option(min=1, help="Torch CPU threads.")] = None,
) -> None:
    """Fine-tune one cell: adapter (safetensors), config, training log and timings.

    Rerunning the same command after an interruption resumes from the last
    checkpoint; a finished cell is left as it is.
    """
    torch = require("torch")
    require("peft")
    from ..evidence.models.device import resolve_device
    from ..evidence.models.loading import load_model, pick_threads

    dev = resolve_device(device)  # a missing device is exit 2 before anything loads
    torch.set_num_threads(threads or pick_threads())
    cfg = _train_config(config, {
        "recipe": recipe, "task": task, "seed": seed, "model": model, "attack": attack,
        "attack_strength": strength, "attack_select": select, "steps": steps, "lr": lr,
        "batch_size": batch_size, "lora_rank": rank, "lora_alpha": alpha,
        "n_examples": n_examples, "extra_wordings": extra_wordings, "target_modules": targets,
        "layers": layers, "split": split_file, "recipe_params": param})
    if _already_trained(output, cfg):
        _out.print(f"{output}: already trained ({cfg.steps} steps); nothing to do")
        return
    with _out.status(f"loading {cfg.model} on {dev}"):
        lm = load_model(cfg.model, dtype=cfg.dtype, device=dev, eval_mode=False)
    _train_with_progress(cfg, output, lm)


def _mechanism_device(device: str) -> str:
    """Check ``--device`` of ``acard mechanism``; exit 2 before any work if it is not there."""
    from ..evidence.models.device import resolve_device

    return str(resolve_device(device))


def mechanism_cmd(
    output: Annotated[Path, typer.Option("--output", "-o", help="Mechanism JSON to write.")],
    adapter: Annotated[Path | None, typer.Option(help="peft adapter folder (a cell's adapter/).")
                       ] = None,
    tuned: Annotated[Path | None, typer.Option(
        help="Full fine-tuned checkpoint folder instead of an adapter (needs --slice).")] = None,
    base: Annotated[str | None, typer.Option(help="Base model (default: the cell's).")] = None,
    slice_: Annotated[str | None, typer.Option(
        "--slice", help="Declared slice: parameter/module names or globs, comma list. "
                        "Must equal the adapter's targets (default: exactly those).")] = None,
    config: Annotated[Path | None, typer.Option(
        help="Training config (default: config.json next to the adapter).")] = None,
    n_calibration: Annotated[int | None, typer.Option(min=1)] = None,
    resamples: Annotated[int, typer.Option(min=0, help="Bootstrap resamples for ρ's CI.")
                         ] = 2000,
    ci_level: Annotated[float, typer.Option(min=0.5, max=0.999)] = 0.95,
    seed: Annotated[int, typer.Option(min=0, help="Bootstrap seed.")] = 0,
    device: Annotated[str, typer.Option(help=DEVICE_OPTION_HELP)] = "auto",
    threads: Annotated[int | None, typer.Option(min=1, help="Torch CPU threads.")] = None,
) -> None:
    """Gate (c): ρ's scalars for one fine-tune on its declared slice, written as JSON."""
    from .._util.files import check_outputs

    check_outputs({"--output": output}, [adapter, tuned, config])
    torch = require("torch")
    from ..evidence.mechanism.signature import mechanism_for_adapter, mechanism_for_checkpoints
    from ..evidence.models.loading import pick_threads
    from ..evidence.training.config import load_config
    from .progress import task_progress

    dev = _mechanism_device(device)
    torch.set_num_threads(threads or pick_threads())
    if (adapter is None) == (tuned is None):
        raise InputError("give exactly one of --adapter or --tuned", field="adapter")
    cfg = load_config(config) if config is not None else None
    with task_progress(_out, "auto",
                       "base-model gradients (cached after the first cell)", None) as update:

        def tick(done: int, total: int) -> None:
            update(done, total)

        if adapter is not None:
            mech = mechanism_for_adapter(adapter, output, base=base, slice_spec=slice_,
                                         config=cfg, n_calibration=n_calibration, n_boot=resamples,
                                         ci_level=ci_level, seed=seed, progress=tick,
                                         device=dev)
        else:
            if cfg is None or slice_ is None or tuned is None:
                raise InputError("--tuned needs --config and --slice", field="slice")
            mech = mechanism_for_checkpoints(tuned, output, config=cfg, slice_spec=slice_,
                                             base=base, n_calibration=n_calibration,
                                             n_boot=resamples, ci_level=ci_level, seed=seed,
                                             progress=tick, device=dev)
    extra = mech.model_extra or {}
    rho = extra.get("rho")
    ci = f" CI {mech.rho_ci[0]:+.3f}..{mech.rho_ci[1]:+.3f}" if mech.rho_ci else ""
    _out.print(f"{output}: ρ = {'undefined' if rho is None else f'{rho:+.4f}'}{ci}  "
               f"(α_T {extra.get('alpha_t')}, α_A {extra.get('alpha_a')}, "
               f"{len(mech.slice)} blocks, {mech.n_calibration} calibration items)")


def register(app: typer.Typer) -> None:
    """Attach ``train`` and ``mechanism`` to ``app``."""
    app.command("train")(train_cmd)
    app.command("mechanism")(mechanism_cmd)
