"""Rewards of Absolute-Zero self-play and Task-Relative REINFORCE++ advantages (computed in Rust).

- proposer learnability: ``1 - acc`` when the solver's solve rate ``0 < acc < 1``, else ``0``;
- solver: 1 when the answer verifies by execution, else 0;
- composite: a formatting error scores ``format_error`` (-1), a well-formed but wrong answer or invalid
  task ``wrong`` (-0.5), anything accepted its role reward;
- advantages: normalised separately within each (task type, role) group.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from azr import _core
from azr.exceptions import ConfigError
from azr.grading import Verifier
from azr.parsing import Parsed, parse_generation
from azr.sandbox import Sandbox
from azr.tasks import Role, TaskType, Triple

__all__ = [
    "Verdict",
    "abduction_reward",
    "completion_text",
    "composite_reward",
    "deduction_reward",
    "induction_reward",
    "learnability",
    "learnability_from_counts",
    "solver_reward",
    "task_relative_advantages",
]

learnability = _core.learnability
learnability_from_counts = _core.learnability_from_counts


class Verdict(StrEnum):
    """How a generation fared before its role reward applies."""

    FORMAT_ERROR = "format_error"
    WRONG = "wrong"
    ACCEPTED = "accepted"


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
        raise ConfigError("rewards and groups must be one-dimensional")
    if g.size and (not np.issubdtype(g.dtype, np.integer) or g.min() < 0 or g.max() > np.iinfo(np.uint32).max):
        raise ConfigError("groups must be non-negative integers")
    w = None if weights is None else np.ascontiguousarray(weights, dtype=np.float64)
    return _core.task_relative_advantages(r, np.ascontiguousarray(g, dtype=np.uint32), w, eps)


# --- Reward functions for other RL pipelines (TRL's ``reward_funcs`` signature) -----------------

_default_sandbox: Sandbox | None = None


def _sandbox() -> Sandbox:
    global _default_sandbox
    if _default_sandbox is None:
        _default_sandbox = Sandbox()
    return _default_sandbox


def completion_text(completion: object) -> str | None:
    """The text of a completion: a string, or the last message's content (TRL's chat format); None
    for anything else (which then grades as a format error)."""
    if isinstance(completion, list | tuple) and completion and isinstance(completion[-1], dict):
        completion = completion[-1].get("content")
    return completion if isinstance(completion, str) else None


def _solver_rewards(
    task_type: TaskType, completions: Sequence[object], grade: Callable[[list[Parsed], list[int]], list[bool]]
) -> list[float]:
    parsed = [parse_generation(completion_text(c), task_type, Role.SOLVE) for c in completions]
    good = [(k, p) for k, p in enumerate(parsed) if isinstance(p, Parsed)]
    ok = [k for k, _ in good]
    verdicts = grade([p for _, p in good], ok) if good else []
    rewards = [composite_reward(Verdict.FORMAT_ERROR)] * len(completions)
    for k, correct in zip(ok, verdicts, strict=True):
        rewards[k] = composite_reward(Verdict.ACCEPTED, 1.0) if correct else composite_reward(Verdict.WRONG)
    return rewards


def deduction_reward(
    completions: Sequence[object], programs: Sequence[str], inputs: Sequence[str], outputs: Sequence[str], **_: object
) -> list[float]:
    """Reward for predicting ``f(input)``: 1 correct, -0.5 wrong, -1 badly formatted.

    Usable directly as a TRL ``reward_funcs`` entry: the dataset's ``programs``, ``inputs`` and
    ``outputs`` columns arrive as keyword lists aligned with ``completions``.
    """
    triples = [Triple(p, i, o) for p, i, o in zip(programs, inputs, outputs, strict=True)]
    verifier = Verifier(_sandbox())
    return _solver_rewards(
        TaskType.DEDUCTION,
        completions,
        lambda ps, ks: verifier.deduction([triples[k] for k in ks], [p.output for p in ps]),
    )


def abduction_reward(
    completions: Sequence[object], programs: Sequence[str], inputs: Sequence[str], outputs: Sequence[str], **_: object
) -> list[float]:
    """Reward for finding an input that makes ``program`` produce ``output`` (any such input counts)."""
    triples = [Triple(p, i, o) for p, i, o in zip(programs, inputs, outputs, strict=True)]
    verifier = Verifier(_sandbox())
    return _solver_rewards(
        TaskType.ABDUCTION,
        completions,
        lambda ps, ks: verifier.abduction([triples[k] for k in ks], [p.inputs[0] for p in ps]),
    )


def induction_reward(
    completions: Sequence[object], io_pairs: Sequence[Sequence[tuple[str, str]]], **_: object
) -> list[float]:
    """Reward for writing a program that reproduces every hidden (input, output) pair."""
    verifier = Verifier(_sandbox())
    return _solver_rewards(
        TaskType.INDUCTION,
        completions,
        lambda ps, ks: [s == 1.0 for s in verifier.induction([io_pairs[k] for k in ks], [p.program for p in ps])],
    )
