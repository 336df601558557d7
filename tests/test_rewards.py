"""Rewards and Task-Relative REINFORCE++: hand-computed values and properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from azr.verify.rewards import (
    Verdict,
    composite_reward,
    learnability,
    learnability_from_counts,
    solver_reward,
    task_relative_advantages,
)


def test_learnability_by_hand() -> None:
    assert learnability(0.0) == 0.0 and learnability(1.0) == 0.0
    assert learnability(0.25) == 0.75
    assert learnability_from_counts(3, 8) == pytest.approx(0.625)
    # Bad arguments to library functions are ValueError (ConfigError is for the user's configuration).
    with pytest.raises(ValueError, match=r"solve rate must be in \[0, 1\]"):
        learnability(1.01)
    with pytest.raises(ValueError, match="samples > 0"):
        learnability_from_counts(1, 0)


def test_composite_and_solver() -> None:
    assert composite_reward(Verdict.FORMAT_ERROR) == -1.0
    assert composite_reward(Verdict.WRONG) == -0.5
    assert composite_reward(Verdict.ACCEPTED, solver_reward(True)) == 1.0
    assert composite_reward(Verdict.ACCEPTED, solver_reward(False)) == 0.0
    assert composite_reward(Verdict.WRONG, wrong=-0.2) == -0.2
    with pytest.raises(ValueError):
        composite_reward("nonsense")  # type: ignore[arg-type]


def test_advantages_by_hand() -> None:
    adv = task_relative_advantages([1.0, 0.0, 0.0, 0.0, 5.0], [0, 0, 0, 0, 1], eps=0.0 + 1e-12)
    mean, std = 0.25, math.sqrt(0.1875)
    assert adv == pytest.approx([(1 - mean) / std, -mean / std, -mean / std, -mean / std, 0.0])


def test_advantages_bad_input() -> None:
    with pytest.raises(ValueError, match="2 rewards but 1 group ids"):
        task_relative_advantages([1.0, 2.0], [0])
    with pytest.raises(ValueError, match="finite"):
        task_relative_advantages([float("nan")], [0])
    with pytest.raises(ValueError, match="non-negative"):
        task_relative_advantages([1.0], [-1])
    with pytest.raises(TypeError, match="groups must be integers"):
        task_relative_advantages([1.0], [0.5])
    with pytest.raises(ValueError, match="one-dimensional"):
        task_relative_advantages([[1.0]], [[0]])
    with pytest.raises(ValueError, match="eps"):
        task_relative_advantages([1.0], [0], eps=0.0)


finite = st.floats(min_value=-10, max_value=10, allow_nan=False)


@given(st.lists(st.tuples(finite, st.integers(0, 5)), min_size=1, max_size=60))
def test_group_means_zero_and_unit_std(pairs: list[tuple[float, int]]) -> None:
    rewards = np.array([r for r, _ in pairs])
    groups = np.array([g for _, g in pairs])
    adv = task_relative_advantages(rewards, groups, eps=1e-9)
    assert np.all(np.isfinite(adv))
    for g in set(groups.tolist()):
        a = adv[groups == g]
        r = rewards[groups == g]
        assert abs(a.mean()) < 1e-6
        if r.std() > 1e-3:
            assert a.std() == pytest.approx(1.0, rel=1e-3)
        elif np.all(r == r[0]):
            assert np.all(a == 0.0)
        else:  # a spread far below eps: eps keeps advantages bounded instead of blowing up noise
            assert np.all(np.abs(a) <= np.sqrt(len(a)))


@given(st.lists(finite, min_size=1, max_size=30), st.lists(finite, min_size=1, max_size=30))
def test_groups_are_independent(first: list[float], second: list[float]) -> None:
    joint = task_relative_advantages(first + second, [0] * len(first) + [1] * len(second))
    alone = task_relative_advantages(first, [0] * len(first))
    assert joint[: len(first)] == pytest.approx(alone)


@given(st.lists(st.tuples(finite, st.floats(0.5, 100)), min_size=2, max_size=30))
def test_token_weighted_mean_is_zero(pairs: list[tuple[float, float]]) -> None:
    rewards = [r for r, _ in pairs]
    weights = np.array([w for _, w in pairs])
    adv = task_relative_advantages(rewards, [0] * len(rewards), weights=weights)
    assert abs(float((adv * weights).sum() / weights.sum())) < 1e-6
