"""Memory estimates that let a CPU run refuse to start rather than be killed part way.

A CPU run that needs more memory than the machine has is not told so by the kernel: the OOM killer
ends it with SIGKILL (exit 137, nothing printed). These estimates let the trainer refuse first, with
the numbers and the fix. Weights, gradients and AdamW states are counted exactly from the tensor
shapes (:func:`estimate_load`, from the safetensors headers, before loading anything); the update's
activations are an upper-bound style estimate (:func:`update_activation_bytes`).
:func:`require_memory` compares a need with :func:`available_memory` and raises
:class:`~azr.exceptions.InsufficientMemoryError`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azr.exceptions import InsufficientMemoryError
from azr.models.embedded import resolve_model
from azr.models.loading import converted_dir

__all__ = [
    "Architecture",
    "LoadEstimate",
    "available_memory",
    "estimate_load",
    "lora_parameter_count",
    "require_memory",
    "update_activation_bytes",
]

log = logging.getLogger(__name__)

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
        directory = converted_dir(source)
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
