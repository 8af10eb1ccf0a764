"""Small helpers shared by the training tests (tiny-model configs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from acceptance_cards.evidence.training.config import TrainConfig

#: Mid-depth q/v of the 4-layer tiny model: the paper's slice shape.
LAYER = (2,)


def tiny_config(model: Path, **kw: Any) -> TrainConfig:
    """A fast config on the tiny model (fp32 so recipes are compared exactly)."""
    base: dict[str, Any] = {"model": str(model), "steps": 4, "n_examples": 32, "batch_size": 4,
                            "layers": LAYER, "dtype": "float32", "checkpoint_every": 2,
                            "lr": 5e-3}
    return TrainConfig(**(base | kw))
