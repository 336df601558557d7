"""The prompts a self-play run sends: :mod:`azr.verify.prompts` and each type's solver prompt, with the
run's ``[selfplay]`` choices (worked examples, induction inputs shown and asked for) filled in.

A module of its own because three places build the same prompts and must agree: the phases (what is
generated), the context checks (what must fit the model's context, :mod:`azr.selfplay.context`) and
the tests.
"""

from __future__ import annotations

from collections.abc import Sequence

from azr.sampling.base import Prompt
from azr.selfplay.config import SelfPlayConfig
from azr.verify.prompts import proposer_messages
from azr.verify.tasks import Task, TaskType, Triple
from azr.verify.tasktypes import spec

__all__ = ["proposer_prompt", "solver_prompt"]


def solver_prompt(task: Task, selfplay: SelfPlayConfig) -> Prompt:
    """The prompt that asks a solver to answer ``task``."""
    return spec(task.task_type).solver_prompt(task, selfplay.induction_shown, selfplay.solver_example)


def proposer_prompt(
    task_type: TaskType, selfplay: SelfPlayConfig, references: Sequence[Triple] = (), program: str = ""
) -> Prompt:
    """A proposer prompt: ``references`` for deduction and abduction, ``program`` for induction."""
    if task_type is TaskType.INDUCTION:
        return proposer_messages(
            task_type, [], program=program, n_inputs=selfplay.induction_inputs, example=selfplay.proposer_example
        )
    return proposer_messages(task_type, references, example=selfplay.proposer_example)
