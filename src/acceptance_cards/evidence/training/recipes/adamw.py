"""``adamw`` — the matched baseline: plain AdamW on the attack data (claim: reference).

Every defense cell is compared with this recipe run on the same data, steps,
seed and LoRA config; its ρ is the shrinkage end of the mechanism scale.

Example:
    >>> AdamW().claimed_class, AdamW().params()
    ('reference', {})
"""

from __future__ import annotations

from typing import ClassVar

from .base import Recipe


class AdamW(Recipe):
    """No extra loss, no update edits: the training loop's AdamW as is."""

    name: ClassVar[str] = "adamw"
    claimed_class: ClassVar[str] = "reference"
