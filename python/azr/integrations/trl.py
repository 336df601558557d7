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

The first three read azr's answer format and grade through :meth:`azr.verify.grading.Verifier.grade`
(answers are plain data: a predicted output that is code instead of a value is a format error,
-1); ``tests_reward`` accepts any code completion (fenced or not; a HumanEval body continuation
when ``code_prompt`` is given). All grade in azr's sandbox, never in the trainer's process.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from azr.verify.grading import Verdict, Verifier
from azr.verify.parsing import Parsed, parse_generation
from azr.verify.rewards import composite_reward
from azr.verify.scoring import (
    DEFAULT_TESTS_TIMEOUT_S,
    ProgramTests,
    completion_text,
    default_sandbox,
    extract_code,
    score_tests,
)
from azr.verify.tasks import Role, Task, TaskType
from azr.verify.tasktypes import spec

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


def _rewards(task_type: TaskType, completions: Sequence[object], tasks: Sequence[Task]) -> list[float]:
    """Parse each completion in azr's format, grade its answer, and give the format-aware reward."""
    if len(completions) != len(tasks):
        raise ValueError(f"{len(completions)} completions but {len(tasks)} rows of task columns")
    answers: list[str | None] = []
    for completion in completions:
        parsed = parse_generation(completion_text(completion), task_type, Role.SOLVE)
        answers.append(spec(task_type).answer(parsed) if isinstance(parsed, Parsed) else None)
    grades = Verifier(default_sandbox()).grade(tasks, answers)
    return [composite_reward(g.verdict, 1.0 if g.verdict is Verdict.ACCEPTED else 0.0) for g in grades]


def _columns(*columns: Sequence[object]) -> list[list[str]]:
    """Dataset columns as strings, one list per column; a value that is not a string grades as wrong."""
    return [[c if isinstance(c, str) else "" for c in column] for column in columns]


def deduction_reward(
    completions: Sequence[object], programs: Sequence[str], inputs: Sequence[str], outputs: Sequence[str], **_: object
) -> list[float]:
    """Reward for predicting ``f(input)``: 1 correct, -0.5 wrong, -1 badly formatted (no answer, or an
    answer that is not a plain data literal).

    Usable directly as a TRL ``reward_funcs`` entry: the dataset's ``programs``, ``inputs`` and
    ``outputs`` columns arrive as keyword lists aligned with ``completions``.
    """
    ps, ins, outs = _columns(programs, inputs, outputs)
    tasks = [Task(TaskType.DEDUCTION, p, (i,), (o,)) for p, i, o in zip(ps, ins, outs, strict=True)]
    return _rewards(TaskType.DEDUCTION, completions, tasks)


def abduction_reward(
    completions: Sequence[object], programs: Sequence[str], inputs: Sequence[str], outputs: Sequence[str], **_: object
) -> list[float]:
    """Reward for finding an input (plain data arguments) that makes ``program`` produce ``output``
    (any such input counts)."""
    ps, ins, outs = _columns(programs, inputs, outputs)
    tasks = [Task(TaskType.ABDUCTION, p, (i,), (o,)) for p, i, o in zip(ps, ins, outs, strict=True)]
    return _rewards(TaskType.ABDUCTION, completions, tasks)


def induction_reward(
    completions: Sequence[object], io_pairs: Sequence[Sequence[tuple[str, str]]], **_: object
) -> list[float]:
    """Reward for writing a program that reproduces every (input, output) pair."""
    tasks = []
    for pairs in io_pairs:
        # A malformed row (not a list of [input, output] strings) has no cases, so nothing passes it.
        rows = pairs if isinstance(pairs, list | tuple) else []
        cases = [p for p in rows if isinstance(p, list | tuple) and len(p) == 2 and all(isinstance(x, str) for x in p)]
        if len(cases) != len(rows):
            cases = []
        tasks.append(Task(TaskType.INDUCTION, "", tuple(i for i, _ in cases), tuple(o for _, o in cases)))
    return _rewards(TaskType.INDUCTION, completions, tasks)


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


_BY_TYPE: dict[str, tuple[RewardFunction, tuple[str, ...], tuple[str, ...]]] = {
    "deduction": (deduction_reward, ("programs", "inputs", "outputs"), ()),  # type: ignore[dict-item]
    "abduction": (abduction_reward, ("programs", "inputs", "outputs"), ()),  # type: ignore[dict-item]
    "induction": (induction_reward, ("io_pairs",), ()),  # type: ignore[dict-item]
    "tests": (tests_reward, ("tests",), ("entry_point", "code_prompt")),
}
"""Each ``task_type`` value: its reward function, the columns it needs, the columns it may use."""


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
    columns: dict[str, Sequence[Any] | None] = {
        "programs": programs,
        "inputs": inputs,
        "outputs": outputs,
        "io_pairs": io_pairs,
        "tests": tests,
        "entry_point": entry_point,
        "code_prompt": code_prompt,
    }
    rewards: list[float | None] = [None] * len(completions)
    for kind, (function, required, optional) in _BY_TYPE.items():
        rows = [k for k, t in enumerate(task_type) if t == kind]
        if not rows:
            continue
        kwargs: dict[str, list[Any]] = {}
        for name in required + optional:
            column = columns[name]
            if column is None and name in required:
                raise ValueError(f"task_reward: rows of type {kind!r} need the dataset column {name!r}")
            if column is not None:
                kwargs[name] = [column[k] for k in rows]
        scores = function([completions[k] for k in rows], **kwargs)
        for k, score in zip(rows, scores, strict=True):
            rewards[k] = score
    return rewards
