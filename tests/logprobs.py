"""Teacher-forced log-probs of sampled completions: how tests check that an engine sampled from given weights.

Shared by tests/test_sampling.py, tests/test_vllm.py and tests/dist_worker.py (a torchrun rank, which cannot import a test module)."""

from __future__ import annotations

from typing import Any

import torch

from azr.sampling.base import Sample


def teacher_forced(model: Any, sample: Sample, temperature: float = 1.0) -> torch.Tensor:
    """log-softmax(logits / T) at each completion position, from one forward pass over prompt + completion."""
    ids = torch.tensor([sample.prompt_ids + sample.token_ids])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0].double()
    start = len(sample.prompt_ids) - 1
    return torch.log_softmax(logits[start : start + len(sample.token_ids)] / temperature, dim=-1)


def max_logprob_error(model: Any, groups: list[list[Sample]], temperature: float = 1.0) -> float:
    worst = 0.0
    for group in groups:
        for s in group:
            expected = teacher_forced(model, s, temperature).gather(1, torch.tensor(s.token_ids)[:, None]).squeeze(1)
            worst = max(worst, float((torch.tensor(s.logprobs, dtype=torch.float64) - expected).abs().max()))
    return worst
