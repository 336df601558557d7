"""The three task types as the solver meets them: the block its reply must hold, how the answer is taken
from a parsed reply, and how it is prompted (:data:`TASK_TYPES`).

How each type's answers are graded is :mod:`azr.verify.grading`'s (its ``_GRADERS`` table, the rules in its
docstring); the block names are :data:`azr.verify.tasks.SOLVER_BLOCK`, so parsing needs nothing from here.
A fourth task type is one entry in each of the three tables.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from azr.chat import Message
from azr.verify.parsing import Parsed
from azr.verify.prompts import SolverExample, solver_messages
from azr.verify.tasks import SOLVER_BLOCK, Task, TaskType

__all__ = ["TASK_TYPES", "TaskTypeSpec", "spec"]


@dataclass(frozen=True, slots=True)
class TaskTypeSpec:
    """Everything about one task type that the rest of azr needs."""

    task_type: TaskType
    solver_block: str
    """The fenced block a solver's reply must hold (:data:`~azr.verify.tasks.SOLVER_BLOCK`)."""
    answer: Callable[[Parsed], str | None]
    """The answer text in a parsed solver reply."""
    solver_prompt: Callable[[Task, int, SolverExample], list[Message]]
    """The solver's chat for a task; the int is how many induction pairs the solver sees, the last
    argument whether a solved example comes first (``selfplay.solver_example``)."""


def _deduction_prompt(task: Task, shown: int, example: SolverExample = "none") -> list[Message]:
    return solver_messages(TaskType.DEDUCTION, program=task.program, input=task.inputs[0], example=example)


def _abduction_prompt(task: Task, shown: int, example: SolverExample = "none") -> list[Message]:
    return solver_messages(TaskType.ABDUCTION, program=task.program, output=task.outputs[0], example=example)


def _induction_prompt(task: Task, shown: int, example: SolverExample = "none") -> list[Message]:
    return solver_messages(TaskType.INDUCTION, io_pairs=task.pairs[:shown], message=task.message, example=example)


def _output(parsed: Parsed) -> str | None:
    return parsed.output


def _input(parsed: Parsed) -> str | None:
    return parsed.inputs[0] if parsed.inputs else None


def _program(parsed: Parsed) -> str | None:
    return parsed.program


TASK_TYPES: dict[TaskType, TaskTypeSpec] = {
    TaskType.DEDUCTION: TaskTypeSpec(TaskType.DEDUCTION, SOLVER_BLOCK[TaskType.DEDUCTION], _output, _deduction_prompt),
    TaskType.ABDUCTION: TaskTypeSpec(TaskType.ABDUCTION, SOLVER_BLOCK[TaskType.ABDUCTION], _input, _abduction_prompt),
    TaskType.INDUCTION: TaskTypeSpec(TaskType.INDUCTION, SOLVER_BLOCK[TaskType.INDUCTION], _program, _induction_prompt),
}
"""The spec of each task type."""


def spec(task_type: TaskType | str) -> TaskTypeSpec:
    """The spec of ``task_type`` (a ``TaskType`` or its name)."""
    return TASK_TYPES[TaskType(task_type)]
