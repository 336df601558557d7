"""The Absolute-Zero task model: three task types over (program, input, output) triples, two roles.

- **deduction**: the solver gets ``program`` and ``input`` and predicts ``output``;
- **abduction**: the solver gets ``program`` and ``output`` and finds an input that produces it;
- **induction**: the solver gets some input/output pairs and a message, and writes the program.

A program defines an entry function ``f`` (helpers allowed). An input is Python argument text
(``f(<input>)``); an output is the ``repr`` of ``f(<input>)``. All comparisons are by value, inside
the sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["SOLVER_BLOCK", "Role", "Task", "TaskType", "Triple"]


class TaskType(StrEnum):
    DEDUCTION = "deduction"
    ABDUCTION = "abduction"
    INDUCTION = "induction"


SOLVER_BLOCK: dict[TaskType, str] = {
    TaskType.DEDUCTION: "output",
    TaskType.ABDUCTION: "input",
    TaskType.INDUCTION: "python",
}
"""The fenced block a solver's reply must hold, per task type (one ``output``, one ``input``, one
``python`` program)."""


class Role(StrEnum):
    PROPOSE = "propose"
    SOLVE = "solve"


@dataclass(frozen=True, slots=True)
class Triple:
    """A validated task: running ``program`` on ``input`` deterministically gives ``output`` (a repr)."""

    program: str
    input: str
    output: str


@dataclass(frozen=True, slots=True)
class Task:
    """A task as buffers store it: one (input, output) pair for deduction and abduction, several plus
    a ``message`` for induction. ``step`` is the training step that proposed it (-1 for seeds)."""

    task_type: TaskType
    program: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    message: str = ""
    step: int = -1

    @property
    def triple(self) -> Triple:
        """The first (program, input, output) — the whole task for deduction and abduction."""
        return Triple(self.program, self.inputs[0], self.outputs[0])

    @property
    def pairs(self) -> list[tuple[str, str]]:
        return list(zip(self.inputs, self.outputs, strict=True))
