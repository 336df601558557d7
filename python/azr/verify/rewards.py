"""Reward math of Absolute-Zero self-play and Task-Relative REINFORCE++ advantages (computed in Rust).

Pure functions of verdicts and numbers: grading is :class:`azr.verify.grading.Verifier`'s job, and the
TRL-signature reward functions are in :mod:`azr.integrations.trl`.

- proposer learnability: ``1 - acc`` when the solver's solve rate ``0 < acc < 1``, else ``0``;
- solver: 1 when the answer verifies by execution, else 0;
- composite: a formatting error scores ``format_error`` (-1), a well-formed but wrong answer or invalid
  task ``wrong`` (-0.5), anything accepted its role reward;
- advantages: normalised separately within each (task type, role) group.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from azr import _core
from azr.verify.grading import Verdict

__all__ = [
    "Verdict",
    "composite_reward",
    "learnability",
    "learnability_from_counts",
    "solver_reward",
    "task_relative_advantages",
]

learnability = _core.learnability
learnability_from_counts = _core.learnability_from_counts


def solver_reward(correct: bool) -> float:
    """1.0 for an answer verified by execution, else 0.0."""
    return 1.0 if correct else 0.0


def composite_reward(
    verdict: Verdict, reward: float = 0.0, *, format_error: float = -1.0, wrong: float = -0.5
) -> float:
    """The format-aware reward: penalties for format errors and wrong answers, else ``reward``."""
    return _core.composite_reward(str(Verdict(verdict)), reward, format_error, wrong)


def task_relative_advantages(
    rewards: Sequence[float] | npt.ArrayLike,
    groups: Sequence[int] | npt.ArrayLike,
    weights: Sequence[float] | npt.ArrayLike | None = None,
    eps: float = 1e-6,
) -> npt.NDArray[np.float64]:
    """Task-Relative REINFORCE++ advantages ``(r - mean_g) / (std_g + eps)`` per group id.

    ``groups`` holds one small non-negative int per sample (one id per task type and role). With
    ``weights`` (e.g. each sequence's token count) group statistics are token-weighted. Groups with one
    element or a constant reward get advantage 0.
    """
    r = np.ascontiguousarray(rewards, dtype=np.float64)
    g = np.asarray(groups)
    if r.ndim != 1 or g.ndim != 1:
        raise ValueError(f"rewards and groups must be one-dimensional, got shapes {r.shape} and {g.shape}")
    if g.size and not np.issubdtype(g.dtype, np.integer):
        raise TypeError(f"groups must be integers, got dtype {g.dtype}")
    if g.size and (g.min() < 0 or g.max() > np.iinfo(np.uint32).max):
        raise ValueError("groups must be non-negative integers below 2**32")
    w = None if weights is None else np.ascontiguousarray(weights, dtype=np.float64)
    return _core.task_relative_advantages(r, np.ascontiguousarray(g, dtype=np.uint32), w, eps)
