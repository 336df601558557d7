"""The policy-gradient loss: clipped importance ratio (REINFORCE++ style) on per-sequence advantages.

All tensors are ``[batch, tokens]`` over *completion* positions; ``mask`` is 1 on generated tokens and
0 on padding (prompt tokens never enter). Aggregation is the token mean: every generated token in the
step weighs the same, whatever the length of its sequence. Pass ``num_tokens`` (the token count of the
whole step, across micro-batches and ranks) so accumulated micro-batch losses add up to that mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

__all__ = ["Correction", "LossTerms", "RolloutCorrection", "policy_loss", "rollout_correction", "token_logprobs"]

Correction = Literal["none", "tis", "seq_mask"]
"""How the update corrects for the sampler's log-probs differing from the trainer's (see
:func:`rollout_correction`)."""


@dataclass(frozen=True)
class LossTerms:
    """The loss to backpropagate plus detached diagnostics (sums over this micro-batch's tokens)."""

    loss: torch.Tensor
    clipped_tokens: float
    kl_sum: float
    entropy_sum: float
    ratio_sum: float


def token_logprobs(
    logits: torch.Tensor, targets: torch.Tensor, temperature: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probabilities of ``targets`` under ``softmax(logits / temperature)`` and the entropy per position.

    ``logits`` is ``[B, T, V]`` aligned with ``targets`` ``[B, T]`` (logits at t predict targets[t]).
    """
    scaled = logits.float() / temperature if temperature > 0 else logits.float()
    logp_all = torch.log_softmax(scaled, dim=-1)
    logp = logp_all.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    entropy = -(logp_all.exp() * logp_all).sum(-1)
    return logp, entropy


@dataclass(frozen=True)
class RolloutCorrection:
    """What :func:`rollout_correction` decided for one micro-batch: the ``old_logp`` the PPO ratio is
    taken against, the detached per-token ``weights`` of the policy-gradient term (None: all 1), and
    detached diagnostics over its live tokens (sums, except ``max_abs_diff``)."""

    old_logp: torch.Tensor
    weights: torch.Tensor | None
    abs_diff_sum: float
    max_abs_diff: float
    kl_sum: float
    corrected_tokens: float


def rollout_correction(
    logp: torch.Tensor,
    sampler_logp: torch.Tensor,
    mask: torch.Tensor,
    mode: Correction,
    *,
    tis_cap: float = 2.0,
    band: tuple[float, float] = (0.99, 1.01),
) -> RolloutCorrection:
    """Correct for rollouts sampled by an engine whose log-probs differ from the trainer's.

    The sampler (vLLM in bf16, or another precision or kernel) is the behaviour policy; the trainer's
    ``logp`` is the policy being optimised. With one optimizer step per rollout batch the trainer's own
    log-probs, detached, are pi_old, so the PPO ratio is exactly 1 and its clip inert, and:

    - ``none``: today's update, the ratio taken against the sampler's log-probs (pi_theta / pi_engine,
      veRL's "bypass mode": the clip quietly does what correction there is);
    - ``tis``: truncated importance sampling, each token's policy-gradient term weighted by
      ``min(exp(logp - sampler_logp), tis_cap)``, detached (TRL's ``vllm_importance_sampling_correction``);
    - ``seq_mask``: a sequence whose geometric-mean ratio ``exp(mean(logp - sampler_logp))`` leaves
      ``band`` is left out of the policy gradient (weight 0), the others weigh 1.

    Not both: a ratio against the sampler *and* weights would correct twice. When the two log-probs
    are equal, ``tis`` and ``seq_mask`` give exactly the ``none`` update. Diagnostics: |logp -
    sampler_logp| (sum and max), the mismatch KL(engine || trainer) by the ``k3`` estimator ``r - 1 -
    log r`` with ``r = exp(logp - sampler_logp)`` (sum), and the tokens truncated or masked (sum).
    """
    live = mask > 0
    with torch.no_grad():
        delta = torch.where(live, logp.detach().float() - sampler_logp.float(), torch.zeros_like(sampler_logp))
        ratio = torch.exp(delta)
        abs_diff = delta.abs()
        kl = ratio - 1.0 - delta
        weights: torch.Tensor | None = None
        corrected = 0.0
        if mode == "tis":
            weights = torch.clamp(ratio, max=tis_cap)
            corrected = float(((ratio > tis_cap) & live).sum())
        elif mode == "seq_mask":
            count = live.sum(-1).clamp(min=1)
            geometric = torch.exp(delta.sum(-1) / count)
            keep = ((geometric >= band[0]) & (geometric <= band[1])).to(logp.dtype)
            weights = keep.unsqueeze(-1).expand_as(logp)
            corrected = float(((weights == 0) & live).sum())
        elif mode != "none":
            raise ValueError(f"rollout correction must be 'none', 'tis' or 'seq_mask', got {mode!r}")
        old = sampler_logp if mode == "none" else logp.detach()
    return RolloutCorrection(
        old_logp=old,
        weights=weights,
        abs_diff_sum=float((abs_diff * mask).sum()),
        max_abs_diff=float(abs_diff.max()) if abs_diff.numel() else 0.0,
        kl_sum=float((kl * mask).sum()),
        corrected_tokens=corrected,
    )


def policy_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    clip_low: float = 0.2,
    clip_high: float = 0.28,
    ref_logp: torch.Tensor | None = None,
    kl_coef: float = 0.0,
    entropy: torch.Tensor | None = None,
    entropy_coef: float = 0.0,
    num_tokens: float | None = None,
    weights: torch.Tensor | None = None,
) -> LossTerms:
    """``-w min(r A, clip(r, 1-low, 1+high) A) + kl_coef KL - entropy_coef H``, token-mean over ``mask``.

    ``advantages`` is per sequence ``[B]`` (broadcast over tokens) or per token ``[B, T]``. ``weights``
    (detached, ``[B, T]``; default 1) weigh each token's policy-gradient term: a rollout correction
    (:func:`rollout_correction`). The KL term is the non-negative ``k3`` estimator
    ``exp(ref - logp) - (ref - logp) - 1`` against a frozen reference policy.
    """
    mask = mask.to(logp.dtype)
    adv = advantages.to(logp.dtype)
    if adv.dim() == 1:
        adv = adv.unsqueeze(-1).expand_as(logp)
    live = mask > 0
    # Padding positions may hold anything: zero their log-ratio so exp() cannot overflow into NaN grads.
    ratio = torch.exp(torch.where(live, logp - old_logp, torch.zeros_like(logp)))
    unclipped = ratio * adv
    clipped = torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high) * adv
    per_token = -torch.minimum(unclipped, clipped)
    if weights is not None:
        per_token = per_token * weights.detach().to(per_token.dtype)
    kl_sum = 0.0
    if ref_logp is not None and kl_coef > 0:
        delta = torch.where(live, ref_logp - logp, torch.zeros_like(logp))
        kl = torch.exp(delta) - delta - 1.0
        per_token = per_token + kl_coef * kl
        kl_sum = float((kl * mask).sum().detach())
    entropy_sum = 0.0
    if entropy is not None:
        entropy_sum = float((entropy * mask).sum().detach())
        if entropy_coef > 0:
            per_token = per_token - entropy_coef * entropy
    # ``num_tokens`` (the global token count over the world size under DDP/FSDP2) may be below 1.
    denom = float(num_tokens) if num_tokens is not None and num_tokens > 0 else float(mask.sum().clamp(min=1.0))
    loss = (per_token * mask).sum() / denom
    was_clipped = (unclipped != clipped) & live
    return LossTerms(
        loss=loss,
        clipped_tokens=float(was_clipped.sum()),
        kl_sum=kl_sum,
        entropy_sum=entropy_sum,
        ratio_sum=float((ratio.detach() * mask).sum()),
    )
