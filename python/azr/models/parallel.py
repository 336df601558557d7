"""How the trained model is spread over ranks: one process, DDP replicas, or FSDP2 shards.

``wrap`` returns the module the policy update runs: the model itself in one process, a
``DistributedDataParallel`` replica, or the model sharded in place with FSDP2 (each decoder layer,
then the root, ``torch.distributed.fsdp.fully_shard``). DDP and FSDP2 both *average* gradients over
ranks, which is what :func:`grad_average_world` tells the loss, so that an N-rank step's gradient
equals one process's on the same global batch.

The helpers below hide the one difference the rest of the code must respect: under FSDP2 each rank
holds a shard, so reading full weights or optimizer state is collective (every rank must call, in the
same order) and a gradient norm is a distributed tensor.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any, Literal, cast

import torch
import torch.distributed as dist

from azr.exceptions import ConfigError
from azr.models.distributed import World

__all__ = [
    "FSDP2_MIN_TORCH",
    "Strategy",
    "clip_grad_norm",
    "full_model_state_dict",
    "full_optimizer_state_dict",
    "grad_average_world",
    "hf_weight_buckets",
    "is_sharded",
    "load_full_model_state_dict",
    "load_full_optimizer_state_dict",
    "no_grad_sync",
    "resolve_strategy",
    "wrap",
]

Strategy = Literal["auto", "none", "ddp", "fsdp2"]
FSDP2_MIN_TORCH = (2, 9)
"""FSDP2 on gloo (CPU) before 2.9 sums gradients over ranks instead of averaging (pytorch #162338)."""


def resolve_strategy(strategy: Strategy, world: World) -> Literal["none", "ddp", "fsdp2"]:
    """``auto``: no wrapping in one process, DDP above. ``ddp``/``fsdp2`` need ``torchrun`` (world > 1)."""
    if strategy == "auto":
        return "ddp" if world.size > 1 else "none"
    if strategy == "none" and world.size > 1:
        raise ConfigError(
            f"parallel.strategy = 'none' under a world of {world.size} ranks would train diverging replicas; "
            "use 'ddp' or 'fsdp2' (or 'auto')"
        )
    if strategy == "fsdp2":
        _check_torch_for_fsdp2(torch.__version__)
    return strategy


def _check_torch_for_fsdp2(version: str) -> None:
    parts = version.split("+")[0].split(".")
    try:
        found = (int(parts[0]), int(parts[1]))
    except (IndexError, ValueError):
        return  # a development build: trust it
    if found < FSDP2_MIN_TORCH:
        need = ".".join(map(str, FSDP2_MIN_TORCH))
        raise ConfigError(
            f"parallel.strategy = 'fsdp2' needs torch >= {need} (found {version}: older FSDP2 sums gradients "
            f"over ranks on gloo instead of averaging them); upgrade torch or use parallel.strategy = 'ddp'"
        )


def _decoder_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The repeated blocks FSDP2 shards one by one: HF models name their class in ``_no_split_modules``."""
    base: Any = model.get_base_model() if hasattr(model, "get_base_model") else model  # type: ignore[operator]
    names = set(getattr(base, "_no_split_modules", None) or [])
    layers = [m for m in model.modules() if type(m).__name__ in names]
    if not layers:
        raise ConfigError(
            f"parallel.strategy = 'fsdp2': {type(base).__name__} names no decoder-layer class in "
            "_no_split_modules, so azr cannot tell which blocks to shard; use parallel.strategy = 'ddp'"
        )
    return layers


def wrap(
    model: torch.nn.Module,
    strategy: Literal["none", "ddp", "fsdp2"],
    world: World,
    device: torch.device,
    *,
    bf16_params: bool = False,
) -> torch.nn.Module:
    """The module to train. FSDP2 shards ``model`` in place (and returns it); apply LoRA before this.

    ``bf16_params`` (FSDP2 on GPU): compute in bfloat16 with float32 master weights and float32
    gradient reduction.
    """
    if strategy == "none":
        return model
    if strategy == "ddp":
        return torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[world.local_rank] if device.type == "cuda" else None
        )
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    # The mesh is passed explicitly: on CPU the default would look for an accelerator.
    mesh = init_device_mesh(device.type, (world.size,))
    policy = (
        MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
        if bf16_params
        else MixedPrecisionPolicy()
    )
    for layer in _decoder_layers(model):
        fully_shard(layer, mesh=mesh, mp_policy=policy)
    fully_shard(model, mesh=mesh, mp_policy=policy)
    return model


def _unwrapped(module: torch.nn.Module) -> torch.nn.Module:
    """The model inside a DDP wrapper (FSDP2 shards in place, so its module is the model)."""
    return module.module if isinstance(module, torch.nn.parallel.DistributedDataParallel) else module


def is_sharded(module: torch.nn.Module) -> bool:
    """Whether ``module``'s parameters are FSDP2 shards (reading full weights is then collective)."""
    from torch.distributed.fsdp import FSDPModule

    return isinstance(module, FSDPModule)


def grad_average_world(module: torch.nn.Module) -> int:
    """How many ranks ``backward`` averages gradients over (1 for a plain module)."""
    averaged = isinstance(module, torch.nn.parallel.DistributedDataParallel) or is_sharded(module)
    return dist.get_world_size() if averaged and dist.is_initialized() else 1


def no_grad_sync(module: torch.nn.Module) -> contextlib.AbstractContextManager[object]:
    """Accumulate this backward's gradients locally (the last micro-batch's backward reduces them all)."""
    if isinstance(module, torch.nn.parallel.DistributedDataParallel):
        return module.no_sync()
    if is_sharded(module):
        return _fsdp2_no_sync(module)
    return contextlib.nullcontext()


@contextlib.contextmanager
def _fsdp2_no_sync(module: torch.nn.Module) -> Iterator[None]:
    module.set_requires_gradient_sync(False)  # type: ignore[operator]
    try:
        yield
    finally:
        module.set_requires_gradient_sync(True)  # type: ignore[operator]


def clip_grad_norm(params: Iterable[torch.nn.Parameter], max_norm: float) -> float:
    """Clip to ``max_norm`` by the norm over every rank's gradients; returns that (pre-clip) norm.

    Under FSDP2 the gradients are shards (DTensors) and the norm of each is partial: the total is made
    whole with ``full_tensor()`` before clipping, so every rank clips by the same global factor.
    """
    from torch.distributed.tensor import DTensor

    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    total = torch.nn.utils.get_total_norm(grads, norm_type=2.0)
    if isinstance(total, DTensor):
        total = total.full_tensor()
    torch.nn.utils.clip_grads_with_norm_(grads, max_norm, total)
    return float(total)


def full_model_state_dict(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Full (unsharded) weights on CPU, on rank 0 (other ranks: empty). Collective under FSDP2."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    plain = _unwrapped(module)
    if not is_sharded(plain):
        return {k: v.detach().cpu() for k, v in plain.state_dict().items()}
    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return cast(dict[str, torch.Tensor], dict(get_model_state_dict(plain, options=options)))


def full_optimizer_state_dict(module: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """The optimizer state keyed by parameter names, full, on rank 0 (others: empty). Collective.

    The same format for every strategy, so a checkpoint resumes under any of them.
    """
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

    plain = _unwrapped(module)
    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    state = get_optimizer_state_dict(plain, optimizer, options=options)
    # On CPU the offloaded state can alias the live tensors (AdamW's `step`): copy before it is kept.
    return cast(dict[str, Any], _cloned(dict(state)))


def _cloned(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, dict):
        return {k: _cloned(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_cloned(v) for v in value]
    return value


def load_full_optimizer_state_dict(
    module: torch.nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any] | None
) -> None:
    """Restore what :func:`full_optimizer_state_dict` saved: rank 0 passes it, the others ``None``;
    rank 0 broadcasts (and each rank keeps its shard). Collective when distributed."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    plain = _unwrapped(module)
    distributed = dist.is_initialized() and dist.get_world_size() > 1
    options = StateDictOptions(full_state_dict=True, broadcast_from_rank0=distributed)
    set_optimizer_state_dict(plain, optimizer, optim_state_dict=state or {}, options=options)


def load_full_model_state_dict(module: torch.nn.Module, state: dict[str, torch.Tensor] | None) -> None:
    """Load full weights that rank 0 holds (others pass ``None``) into every rank. Collective.

    The trainer does not need this (every rank reads a checkpoint's HF directory before wrapping); it
    is for callers that hold weights in memory on one rank.
    """
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

    plain = _unwrapped(module)
    distributed = dist.is_initialized() and dist.get_world_size() > 1
    if is_sharded(plain):
        options = StateDictOptions(full_state_dict=True, broadcast_from_rank0=distributed)
        set_model_state_dict(plain, cast(dict[str, Any], state or {}), options=options)
        return
    if distributed:
        box = [state]
        dist.broadcast_object_list(box, src=0)
        state = box[0]
    if state is None:
        raise ValueError("load_full_model_state_dict: rank 0 must pass the state dict")
    plain.load_state_dict(state)


def _hf_name(name: str) -> str:
    """A state-dict key as a Hugging Face checkpoint names it: no compile, peft or base-layer segments."""
    name = name.removeprefix("_orig_mod.").removeprefix("module.").removeprefix("base_model.model.")
    return name.replace("._orig_mod.", ".").replace(".base_layer.", ".")


def _whole(tensor: torch.Tensor) -> torch.Tensor:
    """The full tensor (collective for an FSDP2 shard: every rank must ask, in the same order)."""
    full = tensor.full_tensor() if hasattr(tensor, "full_tensor") else tensor
    return full.detach()


def _lora_deltas(plain: torch.nn.Module) -> dict[str, list[tuple[str, str, float, bool]]]:
    """For each LoRA-adapted layer's base weight key: (A key, B key, scaling, fan_in_fan_out) per
    active adapter."""
    deltas: dict[str, list[tuple[str, str, float, bool]]] = {}
    for prefix, sub in plain.named_modules():
        base = getattr(sub, "base_layer", None)
        lora_a, lora_b = getattr(sub, "lora_A", None), getattr(sub, "lora_B", None)
        if base is None or not isinstance(lora_a, torch.nn.ModuleDict) or not isinstance(lora_b, torch.nn.ModuleDict):
            continue
        if any(getattr(sub, "use_dora", {}).get(a, False) for a in lora_a):
            raise ValueError(f"{prefix}: DoRA adapters cannot be merged by azr's weight feed")
        active = getattr(sub, "active_adapters", list(lora_a))
        deltas[f"{prefix}.base_layer.weight"] = [
            (
                f"{prefix}.lora_A.{a}.weight",
                f"{prefix}.lora_B.{a}.weight",
                float(sub.scaling[a]),
                bool(sub.fan_in_fan_out),
            )
            for a in active
            if a in lora_a
        ]
    return deltas


def hf_weight_buckets(
    module: torch.nn.Module, bucket_bytes: int = 256 << 20
) -> Iterator[list[tuple[str, torch.Tensor]]]:
    """The trained weights as ``(HF name, full tensor)`` pairs, in buckets of about ``bucket_bytes``.

    What a rollout engine loads after each update. Works on a plain, DDP, FSDP2 or LoRA (peft) module
    without changing it: LoRA layers come out merged, ``W + scaling * B @ A`` computed from full
    tensors (peft's in-place ``merge_adapter``/``unmerge_adapter`` would round the frozen base weights
    a little on every sync). Under FSDP2 every rank must iterate to the end, in step: each tensor is
    gathered with ``full_tensor()`` in the state dict's order, which is the same on every rank, and
    every rank gets the same buckets.
    """
    if bucket_bytes < 1:
        raise ValueError(f"bucket_bytes must be positive, got {bucket_bytes}")
    plain = _unwrapped(module)
    state = plain.state_dict()
    deltas = _lora_deltas(plain)
    bucket: list[tuple[str, torch.Tensor]] = []
    size = 0
    for key, tensor in state.items():
        if ".lora_" in key or "modules_to_save" in key:
            continue
        full = _whole(tensor)
        for a_key, b_key, scaling, transposed in deltas.get(key, []):
            delta = (_whole(state[b_key]).float() @ _whole(state[a_key]).float()) * scaling
            full = (full.float() + (delta.T if transposed else delta)).to(full.dtype)
        bucket.append((_hf_name(key), full))
        size += full.numel() * full.element_size()
        if size >= bucket_bytes:
            yield bucket
            bucket, size = [], 0
    if bucket:
        yield bucket
