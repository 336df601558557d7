"""Whether a prompt and its generation budget fit in the model's context window.

Self-play prompts grow with what the model wrote: a proposer prompt quotes K buffer tasks (programs of up
to ``max_new_tokens_propose`` tokens, outputs of up to 2,000 characters), a solver prompt quotes one. A
prompt that with its budget runs past the model's positions is not a task failure but a host problem:
transformers warns and decodes from positions it was never trained on (or indexes out of range), vLLM
refuses the request and the run stops. The trainer therefore asks before it generates: proposer prompts
drop references until they fit (the propose phase, :mod:`azr.selfplay.phases`), a proposed task whose
solver prompt could not fit is rejected like any other invalid task (:func:`too_long`), and a configuration
whose smallest prompts cannot fit fails before step 1 (:func:`check_budgets`). The checks live here, with
the window they ask about, rather than in the trainer or the phases: they are one question, asked at three
times.
"""

from __future__ import annotations

from typing import Any

from azr.exceptions import ConfigError
from azr.sampling.base import Prompt
from azr.sampling.hf import encode_prompt
from azr.selfplay.buffer import seed_tasks
from azr.selfplay.config import SamplerConfig, SelfPlayConfig
from azr.selfplay.prompts import proposer_prompt, solver_prompt
from azr.verify.tasks import Task, TaskType
from azr.verify.validation import Rejected

__all__ = ["ContextWindow", "check_budgets", "context_length", "too_long"]


def context_length(model: Any) -> int | None:
    """The model's maximum positions (``config.max_position_embeddings``), or None when it does not say.

    Reads through wrappers (peft, DDP, FSDP) by their ``config`` attribute, which they all forward.
    """
    config = getattr(model, "config", None)
    value = getattr(config, "max_position_embeddings", None)
    return int(value) if isinstance(value, int) and value > 0 else None


class ContextWindow:
    """Token counts of rendered prompts against a context of ``limit`` tokens (None: no limit known)."""

    def __init__(self, tokenizer: Any, limit: int | None) -> None:
        self.tokenizer = tokenizer
        self.limit = limit

    def length(self, prompt: Prompt) -> int:
        """Tokens of ``prompt`` as the samplers render it (chat template, generation prompt included)."""
        return len(encode_prompt(self.tokenizer, prompt))

    def overflow(self, prompt: Prompt, budget: int) -> int:
        """How many tokens ``prompt`` plus ``budget`` new tokens run past the limit (0 when they fit)."""
        if self.limit is None:
            return 0
        return max(0, self.length(prompt) + budget - self.limit)

    def fits(self, prompt: Prompt, budget: int) -> bool:
        return self.overflow(prompt, budget) == 0


def check_budgets(context: ContextWindow, sampler: SamplerConfig, selfplay: SelfPlayConfig) -> None:
    """The smallest prompts the run will send (seed tasks, no references) must fit with their budgets,
    or every step would overflow the model's context: that is a configuration error, said before step 1."""
    for task_type in TaskType:
        for task in seed_tasks(task_type, selfplay.induction_inputs):
            checks = [
                ("max_new_tokens_propose", proposer_prompt(task_type, selfplay, [], task.program)),
                ("max_new_tokens_solve", solver_prompt(task, selfplay)),
            ]
            for key, prompt in checks:
                budget = getattr(sampler, key)
                if not context.fits(prompt, budget):
                    raise ConfigError(
                        f"sampler.{key} = {budget} plus the shortest {task_type} prompt "
                        f"({context.length(prompt)} tokens) exceeds the model's context of "
                        f"{context.limit} tokens: lower sampler.{key}"
                    )


def too_long(context: ContextWindow, task: Task, sampler: SamplerConfig, selfplay: SelfPlayConfig) -> Rejected | None:
    """Why a valid ``task`` cannot be admitted under this model's context, if it cannot: its solver
    prompt with the solve budget must fit, and a deduction or abduction program, which the induction
    proposer is later shown, must fit that prompt with the propose budget."""
    over = context.overflow(solver_prompt(task, selfplay), sampler.max_new_tokens_solve)
    if over:
        return Rejected("too_long_for_context", f"its solver prompt runs {over} tokens past the model's context")
    if task.task_type is not TaskType.INDUCTION:
        prompt = proposer_prompt(TaskType.INDUCTION, selfplay, [], task.program)
        over = context.overflow(prompt, sampler.max_new_tokens_propose)
        if over:
            return Rejected(
                "too_long_for_context", f"its program in an induction prompt runs {over} tokens past the context"
            )
    return None
