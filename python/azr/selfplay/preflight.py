"""Pre-flight memory checks of a training run: refuse, before the work starts, what would exceed this
machine's memory.

On a CPU an allocation past available memory does not fail cleanly: the kernel swaps for minutes or kills
the process, and the run ends without saying which setting to change. So the trainer asks first, with the
estimates of :mod:`azr.models.memory` (exact from tensor shapes) against its
:func:`~azr.models.memory.require_memory`:

- :func:`check_load_memory` before the model loads (weights, gradients, AdamW states, reference copy);
- :func:`check_update_memory` before each policy update (the largest micro-batch's activations).

Both raise :class:`~azr.exceptions.InsufficientMemoryError` naming the settings that would fit. A GPU reports
its own out-of-memory error at once, so these checks are for CPU runs only. :mod:`azr.models.memory` knows
models and machines; what a training run will hold (its LoRA rank, reference copy, micro-batches) is read
from the run's config here, so neither the trainer nor the models package carries the other's knowledge.
The context-window checks, which are about prompts, live with the window in :mod:`azr.selfplay.context`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from azr.selfplay.config import ModelConfig, OptimConfig
from azr.selfplay.policy import Rollout

__all__ = ["check_load_memory", "check_update_memory"]


def check_load_memory(weights: str, dtype: str, model: ModelConfig, optim: OptimConfig) -> None:
    """Refuse, before minutes of loading, a CPU run whose weights, gradients and AdamW states alone
    exceed available memory (counted exactly from the checkpoint's tensor shapes)."""
    from azr.models.memory import estimate_load, require_memory

    estimate = estimate_load(
        weights,
        dtype_bytes=torch.finfo(getattr(torch, dtype)).bits // 8,
        lora_rank=model.lora_rank,
        reference=optim.kl_coef > 0,
    )
    if estimate is None:
        return
    gib = 1024**3
    require_memory(
        estimate.total,
        f"training {model.name} (weights {estimate.weights / gib:.1f} GiB, gradients "
        f"{estimate.gradients / gib:.1f} GiB, AdamW states {estimate.optimizer / gib:.1f} GiB, reference copy "
        f"{estimate.reference / gib:.1f} GiB)",
        "train LoRA adapters instead of every weight (--set model.lora_rank=16, as configs/cpu-demo.toml does)"
        + (", or drop the reference copy (optim.kl_coef=0)" if estimate.reference else ""),
    )


def check_update_memory(
    rollouts: Sequence[Rollout],
    module: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    model: ModelConfig,
    optim: OptimConfig,
) -> None:
    """Refuse an update of ``module`` whose largest micro-batch's activations (plus, on the first update, the
    gradients and AdamW states not yet allocated) exceed available memory. CPU only: a GPU reports its own OOM."""
    from azr.models.memory import Architecture, require_memory, update_activation_bytes

    trained: Any = module
    arch = Architecture.from_config(trained.config)
    if device.type != "cpu" or arch is None or not rollouts:
        return
    rows = min(optim.micro_batch_size, len(rollouts))
    longest = sorted(rollouts, key=lambda r: len(r.prompt_ids) + len(r.token_ids), reverse=True)[:rows]
    width = max(len(r.prompt_ids) + len(r.token_ids) for r in longest)
    completion = max(len(r.token_ids) for r in rollouts)
    dtype_bytes = next(module.parameters()).element_size()
    needed = update_activation_bytes(
        arch,
        rows=rows,
        width=width,
        completion=completion,
        gradient_checkpointing=model.gradient_checkpointing,
        dtype_bytes=dtype_bytes,
    )
    if not optimizer.state:  # first step: .grad and AdamW's two moments are still unallocated
        trainable = sum(p.numel() * p.element_size() for p in module.parameters() if p.requires_grad)
        needed += 3 * trainable
    fixes = ["lower optim.micro_batch_size"]
    if not model.gradient_checkpointing:
        fixes.append("set model.gradient_checkpointing=true")
    if model.lora_rank == 0:
        fixes.append("train LoRA adapters (model.lora_rank=16)")
    fixes.append("or lower sampler.max_new_tokens_propose / max_new_tokens_solve")
    require_memory(
        needed,
        f"the policy update (micro-batches of {rows} sequences of up to {width} tokens)",
        ", ".join(fixes),
    )
