"""Load a model spec into ``(model, tokenizer)``, and write the Hugging Face directories that engines read.

Every call into transformers' ``from_pretrained`` is here, kept apart from spec resolution
(:mod:`azr.models.embedded`, torch-free) and memory estimates (:mod:`azr.models.memory`).
:func:`load_model` picks the dtype (float32 on CPU, bfloat16 on CUDA), reads local files only, merges a
LoRA adapter in memory and sets up the tokenizer for left-padded batches. An embedded GGUF is
dequantized once and cached as a float32 Hugging Face directory (:func:`converted_dir`; a marker file
records the GGUF's SHA-256 and the conversion format, so a changed conversion redoes it), and
:func:`model_directory` gives engines such as vLLM a directory for any spec, caching an adapter merged
into its base. :func:`quiet_progress` and :func:`peft_quiet` keep transformers' progress bars and
peft's deprecation warnings out of the caller's output.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from azr.exceptions import ConfigError, MissingDependencyError, ModelIntegrityError, ModelNotFoundError
from azr.models.embedded import EMBEDDED_MODELS, EmbeddedModel, ModelSource, cache_dir, resolve_model, sha256_file

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = ["converted_dir", "load_model", "model_directory", "peft_quiet", "quiet_progress"]

log = logging.getLogger(__name__)

_CONVERTED_MARKER = "azr-source.json"
_CONVERTED_FORMAT = 1  # bump when the conversion changes, to redo cached conversions
_TRAIN_EXTRA = "pip install 'azr[train]'"


def model_directory(spec: str | os.PathLike[str]) -> Path:
    """A Hugging Face directory for ``spec`` (for engines such as vLLM that read one), converting embedded models.

    A LoRA adapter directory is merged into its base once and the merged copy cached (this is the only
    place a merged copy is written: engines that read a directory need one). A bare ``.gguf`` path is
    refused: load it with :func:`load_model` and ``save_pretrained`` it first.
    """
    source = resolve_model(spec)
    if source.adapter is not None:
        return _merged_dir(source)
    if source.embedded is not None:
        _require("torch", "converting an embedded model")
        _require("transformers", "converting an embedded model")
        return converted_dir(source)
    if source.is_gguf:
        raise ModelNotFoundError(
            f"{source.path} is a GGUF file, but a model directory is needed here: save one with "
            "azr.models.loading.load_model(path) then model.save_pretrained(dir) and tokenizer.save_pretrained(dir)"
        )
    return source.path


def _require(module: str, purpose: str, install: str = _TRAIN_EXTRA) -> None:
    if importlib.util.find_spec(module) is None:
        raise MissingDependencyError(f"{purpose} needs the Python package {module!r}; install it with: {install}")


@contextlib.contextmanager
def quiet_progress() -> Iterator[None]:
    """Silence transformers' own progress bars (weights loading, shard writing) inside a library call.

    Used around ``from_pretrained`` / ``save_pretrained`` here, by checkpoint saving
    (:mod:`azr.runs.directory`) and by :func:`azr.models.tiny.build_tiny_model`: azr draws its own progress.
    """
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]


@contextlib.contextmanager
def peft_quiet() -> Iterator[None]:
    """Hide the FutureWarning peft 0.21 triggers by reading transformers 5's deprecated
    ``is_gradient_checkpointing``: it is about peft's code, not the caller's, and nothing they can fix."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield


def _dtype_kwarg() -> str:
    """transformers >= 4.56 calls the argument ``dtype``; earlier versions only know ``torch_dtype``."""
    import transformers

    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    return "dtype" if (major, minor) >= (4, 56) else "torch_dtype"


def _is_converted(target: Path, model: EmbeddedModel) -> bool:
    try:
        recorded = json.loads((target / _CONVERTED_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        isinstance(recorded, dict)
        and recorded.get("sha256") == model.sha256
        and recorded.get("format") == _CONVERTED_FORMAT
    )


def converted_dir(source: ModelSource) -> Path:
    """The cached Hugging Face copy of an embedded GGUF, converting it on first use.

    ``source`` is an embedded model's :class:`~azr.models.embedded.ModelSource` (``source.embedded`` set).
    A GGUF shipped as one file (not joined, so not yet checked) is verified against its SHA-256 first.
    """
    assert source.embedded is not None
    model = EMBEDDED_MODELS[source.embedded]
    target = cache_dir() / source.embedded
    if _is_converted(target, model):
        return target
    if source.path.parent != cache_dir():  # shipped file (not joined here): verify it once, before converting
        actual = sha256_file(source.path)
        if actual != model.sha256:
            raise ModelIntegrityError(
                f"{source.path} has SHA-256 {actual}, expected {model.sha256}; reinstall with: {model.install}"
            )
    return _convert(source, target, model)


def _convert(source: ModelSource, target: Path, model: EmbeddedModel) -> Path:
    import torch

    log.info("converting %s to a Hugging Face directory at %s (once; takes a minute)", source.path, target)
    started = time.perf_counter()
    lm, tokenizer = _from_pretrained(source.path.parent, source.path.name, torch.float32, trust_remote_code=False)
    eos = lm.generation_config.eos_token_id
    eos_ids = [eos] if isinstance(eos, int) else list(eos or [])
    for token in model.extra_eos:
        token_id = tokenizer.convert_tokens_to_ids(token)
        if isinstance(token_id, int) and token_id not in eos_ids:
            eos_ids.append(token_id)
    lm.generation_config.eos_token_id = eos_ids[0] if len(eos_ids) == 1 else eos_ids
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        with quiet_progress():
            lm.save_pretrained(tmp, safe_serialization=True)
            tokenizer.save_pretrained(tmp)
        (tmp / _CONVERTED_MARKER).write_text(
            json.dumps(
                {"name": model.name, "gguf": model.filename, "sha256": model.sha256, "format": _CONVERTED_FORMAT},
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )
        tmp.chmod(0o755)
        if target.exists() and not _is_converted(target, model):
            shutil.rmtree(target)  # stale: an older conversion format or an interrupted copy
        try:
            os.replace(tmp, target)
        except OSError:
            if not _is_converted(target, model):  # else another process (e.g. a DDP rank) finished first
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("converted %s in %.1f s", model.name, time.perf_counter() - started)
    return target


def _from_pretrained(
    directory: Path, gguf_file: str | None, dtype: torch.dtype | str, *, trust_remote_code: bool
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """``from_pretrained`` for model and tokenizer, local files only; GGUF weights become plain float tensors."""
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs: dict[str, Any] = {"local_files_only": True, "trust_remote_code": trust_remote_code}
    model_kwargs: dict[str, Any] = {_dtype_kwarg(): dtype}
    if gguf_file is not None:
        _require("gguf", f"reading the GGUF file {directory / gguf_file}")
        _require("accelerate", f"reading the GGUF file {directory / gguf_file}")
        kwargs["gguf_file"] = gguf_file
        # Recent transformers can keep GGUF blocks packed (inference only); azr trains, so ask for float weights.
        gguf_config = getattr(transformers, "GgufConfig", None)
        if gguf_config is not None:
            model_kwargs["quantization_config"] = gguf_config(dequantize=True)
    with quiet_progress():
        tokenizer = AutoTokenizer.from_pretrained(directory, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(directory, **kwargs, **model_kwargs)
    if getattr(model, "is_quantized", False):
        raise ConfigError(
            f"transformers {transformers.__version__} kept the weights of {directory / (gguf_file or '')} quantized; "
            "azr needs float weights to train. Use a transformers release that dequantizes GGUF files on load."
        )
    return model, tokenizer


def _merged_dir(source: ModelSource) -> Path:
    """The cached merge of ``source.adapter`` into its base, keyed by the adapter's weights and base path."""
    assert source.adapter is not None
    digest = hashlib.sha256(str(source.path.resolve()).encode())
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        digest.update(sha256_file(source.adapter / name).encode())
    target = cache_dir() / "merged" / digest.hexdigest()[:24]
    if (target / "config.json").is_file():
        return target
    model, tokenizer = load_model(source.adapter, dtype="auto")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        with quiet_progress():
            model.save_pretrained(tmp, safe_serialization=True)
            tokenizer.save_pretrained(tmp)
        tmp.chmod(0o755)
        try:
            os.replace(tmp, target)
        except OSError:
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("merged LoRA adapter %s into a copy of its base at %s", source.adapter, target)
    return target


def load_model(
    spec: str | os.PathLike[str],
    *,
    dtype: torch.dtype | str | None = None,
    device: str | torch.device = "cpu",
    trust_remote_code: bool = False,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load ``(model, tokenizer)`` for generation and training from a local spec (see the module docstring).

    ``dtype`` defaults to float32 on CPU and bfloat16 on CUDA. The model is returned in eval mode on
    ``device``; the tokenizer pads on the left and has a pad token (the EOS token when it had none).
    Only local files are read (``local_files_only=True``); nothing is downloaded.
    """
    _require("torch", "loading a model")
    _require("transformers", "loading a model")
    import torch

    source = resolve_model(spec)
    torch_device = torch.device(device)
    if dtype is None:
        dtype = torch.bfloat16 if torch_device.type == "cuda" else torch.float32
    elif isinstance(dtype, str) and dtype != "auto":
        dtype = getattr(torch, dtype)

    directory, gguf_file = source.path, None
    if source.embedded is not None:
        directory = converted_dir(source)
    elif source.is_gguf:
        directory, gguf_file = source.path.parent, source.path.name
    model, tokenizer = _from_pretrained(directory, gguf_file, dtype, trust_remote_code=trust_remote_code)
    if source.adapter is not None:
        _require("peft", f"loading the LoRA adapter {source.adapter}")
        from peft import PeftModel

        with peft_quiet():
            model = PeftModel.from_pretrained(model, source.adapter).merge_and_unload()
    module: torch.nn.Module = model  # PreTrainedModel.to/eval are untyped; nn.Module's are not
    module.to(torch_device)
    module.eval()
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer
