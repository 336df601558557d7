"""The chat types every part of azr speaks: prompts (verifier wing), samplers and evaluation.

They live on their own, below both wings, so the torch-free prompts need nothing from the generation
backends and the backends nothing from the prompts.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["Message", "Prompt"]

Message = dict[str, str]
"""A chat message: ``{"role": "system" | "user" | "assistant", "content": ...}``."""

Prompt = str | Sequence[Message]
"""Plain text (used as is) or chat messages (rendered through the tokenizer's chat template)."""
