"""Reward functions for TRL's ``GRPOTrainer(reward_funcs=...)``.

TRL calls each reward function as ``f(prompts=..., completions=..., completion_ids=..., **columns)``
where every other dataset column arrives as a keyword list aligned with ``completions`` (plus
``trainer_state``, ``log_extra``, ``log_metric``); a completion is a string, or a list of chat
messages for conversational datasets. A function returns one float per completion, or None where it
does not apply (TRL turns that into NaN and ignores it).

=====================  ==============================================  =================================
function               dataset columns                                 reward
=====================  ==============================================  =================================
``deduction_reward``   ``programs``, ``inputs``, ``outputs``           1 right, -0.5 wrong, -1 no answer
``abduction_reward``   ``programs``, ``inputs``, ``outputs``           1 right, -0.5 wrong, -1 no answer
``induction_reward``   ``io_pairs`` (list of [input, output])          1 right, -0.5 wrong, -1 no answer
``tests_reward``       ``tests``; optional ``entry_point``,            1 passes, 0 fails (or the
                       ``code_prompt``                                 fraction: ``make_tests_reward``)
``task_reward``        ``task_type`` per row, plus that type's columns  as above; None for other types
=====================  ==============================================  =================================

The first three are :mod:`azr.rewards`' functions (azr's answer format, format-aware composite
reward); ``tests_reward`` accepts any code completion (fenced or not; a HumanEval body continuation
when ``code_prompt`` is given). All grade in azr's sandbox, never in the trainer's process.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from azr.rewards import abduction_reward, deduction_reward, induction_reward
from azr.scoring import DEFAULT_TESTS_TIMEOUT_S, ProgramTests, extract_code, score_tests
from azr.tasks import TaskType

__all__ = [
    "RewardFunction",
    "abduction_reward",
    "deduction_reward",
    "induction_reward",
    "make_tests_reward",
    "task_reward",
    "tests_reward",
]

RewardFunction = Callable[..., list[float | None]]
"""What TRL accepts in ``reward_funcs``: keyword arguments in, one reward (or None) per completion out."""


def _tests(
    tests: Sequence[object], entry_point: Sequence[object] | None, code_prompt: Sequence[object] | None
) -> list[ProgramTests]:
    out = []
    for k, test in enumerate(tests):
        if isinstance(test, str):
            cases: str | tuple[str, ...] = test
        elif isinstance(test, list | tuple):
            cases = tuple(str(t) for t in test)
        else:
            raise ValueError(f"tests[{k}] must be a string of test code or a list of test cases, not {type(test)}")
        entry = entry_point[k] if entry_point is not None else None
        prompt = code_prompt[k] if code_prompt is not None else None
        out.append(
            ProgramTests(cases, entry_point=str(entry) if entry else None, code_prompt=str(prompt) if prompt else "")
        )
    return out


def make_tests_reward(
    *, fraction: bool = False, timeout_s: float = DEFAULT_TESTS_TIMEOUT_S, name: str = "tests_reward"
) -> RewardFunction:
    """A "program passes its tests" reward: 1.0/0.0, or with ``fraction=True`` the fraction of test
    cases passed (give ``tests`` as a list of separate cases). ``name`` is what TRL logs it as."""

    def reward(
        completions: Sequence[object],
        tests: Sequence[object],
        entry_point: Sequence[object] | None = None,
        code_prompt: Sequence[object] | None = None,
        **_: object,
    ) -> list[float | None]:
        programs = [extract_code(c) for c in completions]
        scores = score_tests(programs, _tests(tests, entry_point, code_prompt), fraction=fraction, timeout_s=timeout_s)
        return list(scores)

    reward.__name__ = reward.__qualname__ = name
    reward.__doc__ = (
        "TRL reward: run each completion's code against the row's ``tests`` (code run after the program; "
        "a list is separate cases) in azr's sandbox. ``entry_point``: tests define check(candidate) and "
        "pass when check(<entry_point>) returns. ``code_prompt``: a HumanEval-style prefix."
    )
    return reward


tests_reward = make_tests_reward()
"""HumanEval-style "program passes its tests" reward, 1.0 or 0.0 per completion."""


def task_reward(
    completions: Sequence[object],
    task_type: Sequence[str | None],
    programs: Sequence[str] | None = None,
    inputs: Sequence[str] | None = None,
    outputs: Sequence[str] | None = None,
    io_pairs: Sequence[Sequence[tuple[str, str]]] | None = None,
    tests: Sequence[object] | None = None,
    entry_point: Sequence[object] | None = None,
    code_prompt: Sequence[object] | None = None,
    **_: object,
) -> list[float | None]:
    """One reward for a dataset mixing task types: each row's ``task_type`` column (``deduction``,
    ``abduction``, ``induction`` or ``tests``) picks the reward above; other rows get None."""
    rewards: list[float | None] = [None] * len(completions)
    for kind in ("deduction", "abduction", "induction", "tests"):
        rows = [k for k, t in enumerate(task_type) if t == kind]
        if not rows:
            continue

        def pick(column: Sequence[Any] | None, name: str, rows: list[int] = rows, kind: str = kind) -> list[Any]:
            if column is None:
                raise ValueError(f"task_reward: rows of type {kind!r} need the dataset column {name!r}")
            return [column[k] for k in rows]

        chosen = [completions[k] for k in rows]
        scores: Sequence[float | None]
        if kind == TaskType.INDUCTION:
            scores = induction_reward(chosen, io_pairs=pick(io_pairs, "io_pairs"))
        elif kind == "tests":
            scores = tests_reward(
                chosen,
                tests=pick(tests, "tests"),
                entry_point=pick(entry_point, "entry_point") if entry_point is not None else None,
                code_prompt=pick(code_prompt, "code_prompt") if code_prompt is not None else None,
            )
        else:
            grade = deduction_reward if kind == TaskType.DEDUCTION else abduction_reward
            scores = grade(
                chosen,
                programs=pick(programs, "programs"),
                inputs=pick(inputs, "inputs"),
                outputs=pick(outputs, "outputs"),
            )
        for k, score in zip(rows, scores, strict=True):
            rewards[k] = score
    return rewards
