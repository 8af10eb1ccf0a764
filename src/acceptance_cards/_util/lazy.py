"""The one gatekeeper to heavy optional layers.

The card engine never imports torch. Code that needs torch, transformers, peft,
matplotlib or ray asks for the module here, and a missing package becomes one
clear error naming the ``pip install`` extra that provides it.

Example:
    >>> np = require("numpy", extra="core")
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingExtraError

#: Which extra provides which import name.
EXTRA_OF: dict[str, str] = {
    "torch": "models",
    "transformers": "models",
    "peft": "models",
    "gguf": "models",
    "safetensors": "models",
    "accelerate": "models",
    "matplotlib": "plots",
    "ray": "ray",
    "inspect_ai": "inspect",
    "lm_eval": "lm-eval",
    "huggingface_hub": "hf",
}

#: Extra hint for the torch wheel: pip must take the local CPU build.
_TORCH_HINT = " (install `pip install torch==2.13.0` first so pip keeps the CPU build)"


def require(module: str, *, extra: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        name = extra or EXTRA_OF.get(top, top)
        hint = _TORCH_HINT if name == "models" else ""
        raise MissingExtraError(
            f"`{module}` is not installed; it comes with the [{name}] extra: "
            f"pip install 'acceptance-cards[{name}]'{hint}"
        ) from exc
