"""The policy-gradient loss: clipped importance ratio (REINFORCE++ style) on per-sequence advantages.

All tensors are ``[batch, tokens]`` over *completion* positions; ``mask`` is 1 on generated tokens and
0 on padding (prompt tokens never enter). Aggregation is the token mean: every generated token in the
step weighs the same, whatever the length of its sequence. Pass ``num_tokens`` (the token count of the
whole step, across micro-batches and ranks) so accumulated micro-batch losses add up to that mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["LossTerms", "policy_loss", "token_logprobs"]


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
) -> LossTerms:
    """``-min(r A, clip(r, 1-low, 1+high) A) + kl_coef KL - entropy_coef H``, token-mean over ``mask``.

    ``advantages`` is per sequence ``[B]`` (broadcast over tokens) or per token ``[B, T]``. The KL term
    is the non-negative ``k3`` estimator ``exp(ref - logp) - (ref - logp) - 1`` against a frozen
    reference policy.
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
