"""Training and mechanism commands: ``acard train``, ``acard mechanism``.

``acard train`` fine-tunes one cell (recipe × task × seed) into a folder and
resumes an interrupted run from its last checkpoint when rerun with the same
arguments. ``acard mechanism`` computes gate (c)'s mechanism file from a cell's
adapter (or a full checkpoint) against cached base-model gradients.

Heavy layers (torch, transformers, peft) are imported inside the command bodies.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from .._util.errors import InputError
from .._util.lazy import require

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


def train_cmd(
    output: Annotated[Path, typer.Option("--output", "-o", help="Cell folder (created/resumed).")],
    recipe: Annotated[str, typer.Option(help="adamw | ac-adamw | attack-aware | safelora")
                      ] = "adamw",
    task: Annotated[str, typer.Option(help="sandbagging | sycophancy")] = "sandbagging",
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
    targets: Annotated[str | None, typer.Option(help="LoRA target modules, comma list.")
                       ] = None,
    layers: Annotated[str | None, typer.Option(help="all | 15 | 12-17 | 3,15")] = None,
    n_examples: Annotated[int | None, typer.Option(min=1)] = None,
    extra_wordings: Annotated[bool | None, typer.Option(
        "--extra-wordings/--shipped-wordings",
        help="Train on 16 + 16 training-only wordings, or only the 4 + 4 shipped ones.")] = None,
    split_file: Annotated[Path | None, typer.Option(help="Split file (default: seed-0 split).")
                          ] = None,
    param: Annotated[list[str] | None, typer.Option(
        "--param", "-p", help="Recipe parameter key=value (repeatable), e.g. alpha=2.")] = None,
    threads: Annotated[int | None, typer.Option(min=1, max=2)] = None,
) -> None:
    """Fine-tune one cell: adapter (safetensors), config, training log and timings.

    Rerunning the same command after an interruption resumes from the last
    checkpoint; a finished cell is left as it is.
    """
    torch = require("torch")
    require("peft")
    from ..evidence.models.loading import load_model, pick_threads
    from ..evidence.training.config import TrainConfig, config_from_dict, load_config
    from ..evidence.training.loop import train_cell
    from .progress import ProgressMode, task_progress

    torch.set_num_threads(threads or pick_threads())
    base = load_config(config).model_dump() if config is not None else TrainConfig().model_dump()
    overrides: dict[str, Any] = {"recipe": recipe, "task": task, "seed": seed}
    for key, value in (("model", model), ("attack", attack), ("attack_strength", strength),
                       ("attack_select", select),
                       ("steps", steps), ("lr", lr), ("batch_size", batch_size),
                       ("lora_rank", rank), ("lora_alpha", alpha), ("n_examples", n_examples),
                       ("extra_wordings", extra_wordings)):
        if value is not None:
            overrides[key] = value
    if targets is not None:
        overrides["target_modules"] = tuple(t.strip() for t in targets.split(",") if t.strip())
    if layers is not None:
        overrides["layers"] = _layers(layers)
    if split_file is not None:
        overrides["split"] = str(split_file)
    if param:
        overrides["recipe_params"] = _parse_params(param)
    cfg = config_from_dict(base | overrides, source=str(config) if config else "<options>")
    done = output / "adapter" / "adapter_model.safetensors"
    if done.is_file() and (output / "result.json").is_file():
        old = json.loads((output / "config.json").read_text(encoding="utf-8"))
        if old.get("config_digest") == cfg.digest():
            _out.print(f"{output}: already trained ({cfg.steps} steps); nothing to do")
            return
    with _out.status(f"loading {cfg.model}"):
        lm = load_model(cfg.model, dtype=cfg.dtype, eval_mode=False)
    # a live bar on a terminal, timestamped lines in a log (see cli/progress.py)
    with task_progress(_out, ProgressMode.auto, f"{cfg.recipe}/{cfg.task} s{cfg.seed} training steps",
                       cfg.steps) as update:

        def tick(step: int, total: int, loss: float) -> None:
            update(step, description=f"{cfg.recipe}/{cfg.task} s{cfg.seed} loss {loss:.3f} "
                                     "training steps")

        result = train_cell(cfg, output, lm=lm, progress=tick, log=_out.print)
    _out.print(f"adapter: {result.adapter_dir}  ({result.steps} steps, "
               f"{result.train_seconds:.0f} s, final loss {result.final_loss:.3f})")


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
    threads: Annotated[int | None, typer.Option(min=1, max=2)] = None,
) -> None:
    """Gate (c): ρ's scalars for one fine-tune on its declared slice, written as JSON."""
    from .._util.files import check_outputs

    check_outputs({"--output": output}, [adapter, tuned, config])
    torch = require("torch")
    from ..evidence.mechanism.signature import mechanism_for_adapter, mechanism_for_checkpoints
    from ..evidence.models.loading import pick_threads
    from ..evidence.training.config import load_config
    from .progress import ProgressMode, task_progress

    torch.set_num_threads(threads or pick_threads())
    if (adapter is None) == (tuned is None):
        raise InputError("give exactly one of --adapter or --tuned", field="adapter")
    cfg = load_config(config) if config is not None else None
    with task_progress(_out, ProgressMode.auto,
                       "base-model gradients (cached after the first cell)", None) as update:

        def tick(done: int, total: int) -> None:
            update(done, total)

        if adapter is not None:
            mech = mechanism_for_adapter(adapter, output, base=base, slice_spec=slice_,
                                         config=cfg, n_calibration=n_calibration, n_boot=resamples,
                                         ci_level=ci_level, seed=seed, progress=tick)
        else:
            if cfg is None or slice_ is None or tuned is None:
                raise InputError("--tuned needs --config and --slice", field="slice")
            mech = mechanism_for_checkpoints(tuned, output, config=cfg, slice_spec=slice_,
                                             base=base, n_calibration=n_calibration,
                                             n_boot=resamples, ci_level=ci_level, seed=seed,
                                             progress=tick)
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
