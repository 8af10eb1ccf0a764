"""The files of one trained cell's folder: one owner for their names.

A cell folder (what ``acard train -o`` and an audit's train step write)::

    config.json          the resolved config, recipe parameters, provenance
    train_log.jsonl      one line per step (loss, lr, grad norm, seconds)
    checkpoints/         step-NNNNNN.safetensors (LoRA factors + optimiser state)
    adapter/             the PEFT adapter (+ acard_adapter.json: what trained it)
    timings.json         seconds per phase, summed over attempts
    result.json          what the run produced (written last: the cell is done)

Torch-free: the audit's status reader and the CLI use it without the extra.

Example:
    >>> from pathlib import Path
    >>> CellLayout(Path("cells/adamw-s42")).adapter_weights.as_posix()
    'cells/adamw-s42/adapter/adapter_model.safetensors'
    >>> CellLayout(Path("c")).checkpoint(80).name
    'step-000080.safetensors'
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = ["ADAPTER_SIDECAR", "CHECKPOINT_GLOB", "CellLayout", "checkpoint_step"]

#: The sidecar our training loop writes inside an adapter folder.
ADAPTER_SIDECAR: Final = "acard_adapter.json"
#: PEFT's own file names inside an adapter folder.
ADAPTER_WEIGHTS: Final = "adapter_model.safetensors"
ADAPTER_CONFIG: Final = "adapter_config.json"
#: Checkpoint files inside ``checkpoints/``.
CHECKPOINT_GLOB: Final = "step-*.safetensors"


def checkpoint_step(path: Path) -> int:
    """The step a checkpoint file was written at.

    Example:
        >>> checkpoint_step(Path("step-000080.safetensors"))
        80
    """
    return int(path.stem.split("-")[1])


@dataclass(frozen=True)
class CellLayout:
    """Where each file of the cell folder ``root`` lives."""

    root: Path

    @property
    def config(self) -> Path:
        """The resolved config and provenance (``config.json``)."""
        return self.root / "config.json"

    @property
    def train_log(self) -> Path:
        """One JSON line per optimiser step."""
        return self.root / "train_log.jsonl"

    @property
    def checkpoints(self) -> Path:
        """The folder of resumable checkpoints."""
        return self.root / "checkpoints"

    def checkpoint(self, step: int) -> Path:
        """The checkpoint file written at ``step``."""
        return self.checkpoints / f"step-{step:06d}.safetensors"

    def checkpoint_files(self) -> list[Path]:
        """Existing checkpoints, oldest first."""
        return sorted(self.checkpoints.glob(CHECKPOINT_GLOB))

    @property
    def adapter(self) -> Path:
        """The trained PEFT adapter folder."""
        return self.root / "adapter"

    @property
    def adapter_weights(self) -> Path:
        """The adapter's weights (present once training finished)."""
        return self.adapter / ADAPTER_WEIGHTS

    @property
    def adapter_sidecar(self) -> Path:
        """What trained the adapter (config digest, base model, recipe facts)."""
        return self.adapter / ADAPTER_SIDECAR

    @property
    def timings(self) -> Path:
        """Seconds per phase."""
        return self.root / "timings.json"

    @property
    def result(self) -> Path:
        """Written last: its presence means the cell finished."""
        return self.root / "result.json"

    def finished(self) -> bool:
        """Whether training finished (adapter weights and result both written)."""
        return self.adapter_weights.is_file() and self.result.is_file()
