"""Whether a prompt and its generation budget fit in the model's context window.

Self-play prompts grow with what the model wrote: a proposer prompt quotes K buffer tasks (programs of up
to ``max_new_tokens_propose`` tokens, outputs of up to 2,000 characters), a solver prompt quotes one. A
prompt that with its budget runs past the model's positions is not a task failure but a host problem:
transformers warns and decodes from positions it was never trained on (or indexes out of range), vLLM
refuses the request and the run stops. The trainer therefore asks before it generates: proposer prompts
drop references until they fit, a proposed task whose solver prompt could not fit is rejected like any
other invalid task, and a configuration whose smallest prompts cannot fit fails before step 1.
"""

from __future__ import annotations

from typing import Any

from azr.sampling.base import Prompt
from azr.sampling.hf import encode_prompt

__all__ = ["ContextWindow", "context_length"]


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
