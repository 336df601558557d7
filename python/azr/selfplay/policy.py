"""One policy update over a step's rollouts: forward in micro-batches, accumulate, clip, AdamW step.

The trainer hands over ``Rollout`` records (prompt ids, completion ids, the sampler's log-probs and
the sequence's advantage); this module knows nothing about tasks. Under ``torch.distributed`` the
model is a DDP replica or FSDP2 shards (:mod:`azr.models.parallel`) and every rank holds the same number of
rollouts (the loop guarantees it), so gradient reductions line up. The loss is the token mean over the
*global* batch: each rank divides its token sum by the global token count over the world size, because
DDP and FSDP2 average gradients over ranks. So an N-rank step's gradient, ``grad_norm`` (what
``grad_clip`` clips) and update equal one process's on the same global batch, and the metrics are
global too (``tests/test_parallel.py``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.distributed as dist

from azr.models import parallel
from azr.models.precision import autocast
from azr.sampling.base import Progress
from azr.selfplay.config import OptimConfig
from azr.selfplay.losses import policy_loss, rollout_correction, token_logprobs

__all__ = ["PolicyUpdater", "Rollout", "build_optimizer"]


@dataclass(frozen=True, slots=True)
class Rollout:
    """A sampled completion with its advantage. ``old_logprobs`` are the sampler's (the behaviour
    policy's; see ``optim.rollout_correction``); ``temperature`` is the one it was sampled at, so the
    update scores it under the same distribution."""

    prompt_ids: list[int]
    token_ids: list[int]
    old_logprobs: list[float]
    advantage: float
    temperature: float = 1.0


def build_optimizer(model: torch.nn.Module, config: OptimConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.AdamW(params, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay)


@dataclass
class _Batch:
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    target_index: torch.Tensor  # [B, L]: position in input_ids of each completion token
    targets: torch.Tensor  # [B, L]
    mask: torch.Tensor  # [B, L]
    old_logp: torch.Tensor
    advantages: torch.Tensor
    temperature: float
    first_position: int  # the smallest target_index: logits before it are never read


def _collate(rollouts: Sequence[Rollout], pad_id: int, device: torch.device) -> _Batch:
    """Right-padded prompt+completion rows and, per row, where its completion tokens sit."""
    seqs = [r.prompt_ids + r.token_ids for r in rollouts]
    width = max(len(s) for s in seqs)
    length = max(max(len(r.token_ids) for r in rollouts), 1)
    first = max(min(len(r.prompt_ids) for r in rollouts) - 1, 0)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    attn = torch.zeros((len(seqs), width), dtype=torch.long)
    index = torch.full((len(seqs), length), first, dtype=torch.long)  # padding points at a kept position
    targets = torch.zeros((len(seqs), length), dtype=torch.long)
    mask = torch.zeros((len(seqs), length))
    old = torch.zeros((len(seqs), length))
    for row, (r, seq) in enumerate(zip(rollouts, seqs, strict=True)):
        ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        attn[row, : len(seq)] = 1
        n, p = len(r.token_ids), len(r.prompt_ids)
        if n:
            index[row, :n] = torch.arange(p - 1, p - 1 + n)
            targets[row, :n] = torch.tensor(r.token_ids, dtype=torch.long)
            mask[row, :n] = 1.0
            old[row, :n] = torch.tensor(r.old_logprobs[:n], dtype=torch.float32)
    return _Batch(
        ids.to(device),
        attn.to(device),
        index.to(device),
        targets.to(device),
        mask.to(device),
        old.to(device),
        torch.tensor([r.advantage for r in rollouts], dtype=torch.float32, device=device),
        rollouts[0].temperature,
        first,
    )


_SUMS = ("loss", "clipped", "kl", "entropy", "ratio", "mismatch_abs", "mismatch_kl", "corrected")
"""The per-token sums a step accumulates over micro-batches (and ranks)."""


def _dropout_off(model: torch.nn.Module) -> None:
    """Dropout off, training mode (and so gradient checkpointing) on: the update's log-probs must be the
    policy's, not a dropout sample of it, when they are compared with the sampler's (the rollout
    correction) and taken as pi_old. Covers ``nn.Dropout`` modules (LoRA's included) and attention
    modules that drop out by ``self.training`` (transformers' ``attention_dropout``)."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout) or hasattr(module, "attention_dropout"):
            module.eval()


def _chunks(rollouts: Sequence[Rollout], size: int) -> Iterator[list[Rollout]]:
    """Micro-batches of rollouts sharing a temperature (the loss scales logits by it)."""
    by_temperature: dict[float, list[Rollout]] = {}
    for r in rollouts:
        by_temperature.setdefault(r.temperature, []).append(r)
    for group in by_temperature.values():
        for start in range(0, len(group), size):
            yield group[start : start + size]


class PolicyUpdater:
    """Owns the optimizer; ``update(rollouts)`` performs one optimizer step and returns metrics."""

    def __init__(
        self,
        model: torch.nn.Module,
        config: OptimConfig,
        *,
        pad_id: int,
        device: torch.device,
        ref_model: torch.nn.Module | None = None,
        autocast_dtype: torch.dtype | None = None,
    ) -> None:
        self.model = model
        self.config = config
        self.pad_id = pad_id
        self.device = device
        self.ref_model = ref_model
        self.autocast_dtype = autocast_dtype
        self.optimizer = build_optimizer(model, config)

    def _autocast(self) -> contextlib.AbstractContextManager[object]:
        return autocast(self.device, self.autocast_dtype)

    def _logits(self, model: torch.nn.Module, batch: _Batch) -> torch.Tensor:
        """Logits at each completion position. The output head runs only from the micro-batch's first
        completion position on (``logits_to_keep``): prompts are most of each row, and the logits of
        prompt positions, never read, are a [rows, width, vocabulary] float tensor (two 850-token rows
        of Qwen2.5's 151,936-token vocabulary: 1.0 GiB, and as much again for its gradient). On CPU the
        time is the same either way (benches/update_bench.py); the memory is what this saves."""
        width = batch.input_ids.size(1)
        keep = width - int(batch.first_position)
        with self._autocast():
            out = model(
                input_ids=batch.input_ids, attention_mask=batch.attention_mask, use_cache=False, logits_to_keep=keep
            )
        logits: torch.Tensor = out.logits
        # A model whose forward does not know ``logits_to_keep`` returns every position: shift by
        # what was actually dropped, so both cases index the same tokens.
        index = (batch.target_index - (width - logits.size(1))).unsqueeze(-1).expand(-1, -1, logits.size(-1))
        return logits.gather(1, index)

    def update(self, rollouts: Sequence[Rollout], progress: Progress | None = None) -> dict[str, float]:
        """One optimizer step over all rollouts (gradients accumulated over micro-batches); ``progress``
        hears of each micro-batch's rollouts and completion tokens once its backward pass is done."""
        if not rollouts:
            return {}
        self.optimizer.zero_grad(set_to_none=True)
        stats = self.accumulate(rollouts, progress)
        params = [p for p in self.model.parameters() if p.requires_grad]
        stats["grad_norm"] = parallel.clip_grad_norm(params, self.config.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return stats

    def accumulate(self, rollouts: Sequence[Rollout], progress: Progress | None = None) -> dict[str, float]:
        """Add the step's policy-gradient to ``.grad`` (micro-batch by micro-batch); no optimizer step."""
        cfg = self.config
        local_tokens = float(sum(len(r.token_ids) for r in rollouts))
        # Ranks whose gradients backward averages (1 unless DDP/FSDP2): the token count is summed over
        # them, and divided by their number so that the average is the global token mean's gradient.
        world = parallel.grad_average_world(self.model)
        total = torch.tensor([local_tokens], dtype=torch.float64)
        if world > 1:
            dist.all_reduce(total)
        num_tokens = max(float(total.item()), 1.0) / world
        self.model.train()
        _dropout_off(self.model)
        chunks = list(_chunks(rollouts, cfg.micro_batch_size))
        sums = dict.fromkeys(_SUMS, 0.0)
        max_diff = 0.0
        for n, chunk in enumerate(chunks):
            batch = _collate(chunk, self.pad_id, self.device)
            sync = n == len(chunks) - 1
            with contextlib.nullcontext() if sync else parallel.no_grad_sync(self.model):
                logp, entropy = token_logprobs(self._logits(self.model, batch), batch.targets, batch.temperature)
                ref_logp = None
                if self.ref_model is not None and cfg.kl_coef > 0:
                    with torch.no_grad():
                        ref_logp, _ = token_logprobs(
                            self._logits(self.ref_model, batch), batch.targets, batch.temperature
                        )
                correction = rollout_correction(
                    logp,
                    batch.old_logp,
                    batch.mask,
                    cfg.rollout_correction,
                    tis_cap=cfg.tis_cap,
                    band=cfg.seq_mask_band,
                )
                terms = policy_loss(
                    logp,
                    correction.old_logp,
                    batch.advantages,
                    batch.mask,
                    clip_low=cfg.clip_low,
                    clip_high=cfg.clip_high,
                    ref_logp=ref_logp,
                    kl_coef=cfg.kl_coef,
                    entropy=entropy,
                    entropy_coef=cfg.entropy_coef,
                    num_tokens=num_tokens,
                    weights=correction.weights,
                )
                terms.loss.backward()  # type: ignore[no-untyped-call]
            sums["loss"] += float(terms.loss.detach())
            sums["clipped"] += terms.clipped_tokens
            sums["kl"] += terms.kl_sum
            sums["entropy"] += terms.entropy_sum
            sums["ratio"] += terms.ratio_sum
            sums["mismatch_abs"] += correction.abs_diff_sum
            sums["mismatch_kl"] += correction.kl_sum
            sums["corrected"] += correction.corrected_tokens
            max_diff = max(max_diff, correction.max_abs_diff)
            if progress is not None:
                progress(len(chunk), sum(len(r.token_ids) for r in chunk))
        totals: list[float] = [sums[k] for k in _SUMS] + [local_tokens]
        if world > 1:
            reduced = torch.tensor(totals, dtype=torch.float64)
            dist.all_reduce(reduced)
            totals = [float(v) for v in reduced.tolist()]
            totals[0] /= world  # each rank's loss is its share of the mean times the world size
            largest = torch.tensor([max_diff], dtype=torch.float64)
            dist.all_reduce(largest, op=dist.ReduceOp.MAX)
            max_diff = float(largest.item())
        *sums_over_world, tokens = totals
        summed = dict(zip(_SUMS, sums_over_world, strict=True))
        denom = max(tokens, 1.0)
        return {
            "loss": summed["loss"],
            "clip_fraction": summed["clipped"] / denom,
            "kl": summed["kl"] / denom,
            "entropy": summed["entropy"] / denom,
            "ratio_mean": summed["ratio"] / denom,
            "tokens": tokens,
            # Sampler vs trainer log-probs on the sampled tokens (see optim.rollout_correction).
            "mismatch/abs_mean": summed["mismatch_abs"] / denom,
            "mismatch/abs_max": max_diff,
            "mismatch/kl": summed["mismatch_kl"] / denom,
            "mismatch/corrected_fraction": summed["corrected"] / denom,
        }
