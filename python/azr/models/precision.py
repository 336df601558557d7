"""Which floating-point format a run computes in: bfloat16 where the hardware does it natively, else float32.

``model.dtype = "auto"`` resolves here. bfloat16 pays only on hardware with native bf16 arithmetic: a GPU
that supports it, or a CPU with AMX-BF16 / AVX512-BF16, where a bf16 matmul runs several times faster than
float32 (6-7x on this project's CI CPU). Elsewhere bf16 is emulated through float32 and is *slower*. The
capability is measured, not guessed from the CPU's name: :func:`cpu_bf16_speedup` times one small matmul
in each format (a few milliseconds, once per process), and ``auto`` takes bf16 when it is at least
:data:`NATIVE_SPEEDUP` times faster.

What ``auto`` means in bf16 (:class:`Precision`):

- the frozen base weights of a LoRA run are *held* in bfloat16 (half the memory, and autocast has
  nothing to re-cast at every op); a full fine-tune keeps float32 master weights, since the optimizer
  must update them in float32;
- LoRA adapters stay float32 (their gradients and AdamW states are tiny, and precision matters there);
- the forward and backward run under bf16 autocast, on CPU as on GPU; the output head's log-softmax is
  taken in float32 (:func:`azr.selfplay.losses.token_logprobs` and the samplers upcast the logits first);
- the vLLM engine runs bf16.

An explicit ``float32``, ``bfloat16`` or ``float16`` loads every weight in that format and computes in it
without autocast, as before.
"""

from __future__ import annotations

import contextlib
import functools
import time
from dataclasses import dataclass
from typing import Literal

import torch

__all__ = [
    "NATIVE_SPEEDUP",
    "Precision",
    "autocast",
    "cpu_bf16_speedup",
    "inference_dtype",
    "native_bf16",
    "resolve_precision",
]

NATIVE_SPEEDUP = 1.5
"""bf16 must beat float32 on the probe matmul by this factor for ``auto`` to choose it on a CPU."""

DTypeName = Literal["float32", "bfloat16", "float16"]


@dataclass(frozen=True, slots=True)
class Precision:
    """The resolved formats of one run.

    ``weights``: what the model loads in; ``trained``: the format of the weights that get gradients
    (LoRA adapters, or every weight of a full fine-tune); ``autocast``: the compute format under
    ``torch.autocast`` (None: compute in the weights' own format); ``engine``: the vLLM engine's dtype
    (``"auto"`` on a GPU: the checkpoint's own, as vLLM chooses);
    ``reason``: one line for the run's log and config dump.
    """

    weights: DTypeName
    trained: DTypeName
    autocast: DTypeName | None
    engine: str
    reason: str

    @property
    def weights_dtype(self) -> torch.dtype:
        return _TORCH[self.weights]

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        return None if self.autocast is None else _TORCH[self.autocast]


_TORCH = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@functools.cache
def cpu_bf16_speedup(size: int = 512, repeats: int = 8) -> float:
    """How many times faster a ``size`` x ``size`` matmul runs in bfloat16 than in float32 on this CPU
    (best of ``repeats`` each, after a warm-up). Native bf16 (AMX, AVX512-BF16) gives several times;
    emulated bf16 gives less than 1. Cached: measured once per process."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator)
    b = torch.randn(size, size, generator=generator)

    def best(x: torch.Tensor, y: torch.Tensor) -> float:
        torch.mm(x, y)  # warm-up: first calls pick kernels and allocate
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            torch.mm(x, y)
            times.append(time.perf_counter() - started)
        return min(times)

    fp32 = best(a, b)
    bf16 = best(a.bfloat16(), b.bfloat16())
    return fp32 / max(bf16, 1e-9)


def native_bf16(device: torch.device) -> tuple[bool, str]:
    """Whether ``device`` computes bfloat16 natively, and the evidence in words."""
    if device.type == "cuda":
        with torch.cuda.device(device):
            try:  # emulated bf16 (pre-Ampere GPUs) is not native; older torch has no such argument
                supported = bool(torch.cuda.is_bf16_supported(including_emulation=False))
            except TypeError:
                supported = bool(torch.cuda.is_bf16_supported())
        return supported, f"CUDA device {'supports' if supported else 'lacks'} native bfloat16"
    if device.type == "cpu":
        speedup = cpu_bf16_speedup()
        native = speedup >= NATIVE_SPEEDUP
        return native, f"a bf16 matmul ran {speedup:.1f}x float32 on this CPU (native needs >= {NATIVE_SPEEDUP}x)"
    return False, f"no bfloat16 probe for device type {device.type!r}"


def _named(dtype: str, what: str) -> DTypeName:
    """An explicit dtype name, checked."""
    if dtype not in _TORCH:
        raise ValueError(f"{what} must be auto, float32, bfloat16 or float16, got {dtype!r}")
    return dtype  # type: ignore[return-value]


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager[object]:
    """``torch.autocast`` to ``dtype`` on ``device``'s type, or nothing when ``dtype`` is None: the one
    context the update and the transformers sampler both compute under."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def resolve_precision(dtype: str, device: torch.device, *, lora: bool) -> Precision:
    """What ``model.dtype = dtype`` means for a run on ``device`` (``lora``: only adapters are trained)."""
    if dtype != "auto":
        name = _named(dtype, "model.dtype")
        # LoRA adapters stay float32 whatever the base (as peft keeps them): AdamW steps on bf16 adapters
        # would round small updates away.
        trained: DTypeName = "float32" if lora else name
        adapters = ", LoRA adapters in float32" if lora and name != "float32" else ""
        return Precision(name, trained, None, name, f"model.dtype = {dtype}: weights and compute in {dtype}{adapters}")
    native, evidence = native_bf16(device)
    if not native:
        return Precision("float32", "float32", None, "float32", f"auto -> float32 ({evidence})")
    # The frozen base in bf16 on CPU only: measured there (docs/train.md); GPUs keep float32 weights.
    held_bf16 = lora and device.type == "cpu"
    weights: DTypeName = "bfloat16" if held_bf16 else "float32"
    held = "frozen base in bfloat16, adapters in float32" if held_bf16 else "float32 weights"
    engine = "bfloat16" if device.type == "cpu" else "auto"
    return Precision(weights, "float32", "bfloat16", engine, f"auto -> bfloat16 compute, {held} ({evidence})")


def inference_dtype(dtype: str, device: torch.device) -> tuple[DTypeName, str]:
    """The weights' format for generation only (``azr eval``): ``auto`` is bfloat16 throughout where the
    hardware computes it natively (nothing is trained, so no float32 copy is kept), else float32."""
    if dtype != "auto":
        return _named(dtype, "dtype"), f"{dtype} as asked"
    native, evidence = native_bf16(device)
    return ("bfloat16", f"auto -> bfloat16 ({evidence})") if native else ("float32", f"auto -> float32 ({evidence})")
