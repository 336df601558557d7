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

__all__ = ["Role", "TaskType", "Triple"]


class TaskType(StrEnum):
    DEDUCTION = "deduction"
    ABDUCTION = "abduction"
    INDUCTION = "induction"


class Role(StrEnum):
    PROPOSE = "propose"
    SOLVE = "solve"


@dataclass(frozen=True, slots=True)
class Triple:
    """A validated task: running ``program`` on ``input`` deterministically gives ``output`` (a repr)."""

    program: str
    input: str
    output: str
