"""Evaluation protocols: how a benchmark's problems become prompts, where generation stops, and how an
answer is read back. A score means something only with its protocol named beside it.

- ``selfplay``: azr's own solver prompts (system message, ``<think>``/``<answer>``, chat template), the
  in-distribution measure of a self-play run; AZR's paper validates this way.
- ``published``: per benchmark, the protocol behind the published figures for Qwen2.5-Coder (technical
  report, arXiv 2409.12186; evaluation code QwenLM/Qwen2.5-Coder, ``qwencoder-eval/instruct``):

  - CRUXEval: the CRUXEval paper's chain-of-thought few-shot prompt (``[PYTHON]``/``[THOUGHT]``/
    ``[ANSWER]``) as a raw completion, no chat template, greedy, stop at ``[/ANSWER]``, 1,024 new tokens.
  - HumanEval: Qwen's instruct prompt through the model's chat template: system "You are an intelligent
    programming assistant to produce Python algorithmic solutions", user "Can you complete the following
    Python function?" and the problem's prompt in a ```python fence, the reply prefilled with ```python;
    greedy, stop at a closing fence (and at ``\\nif __name__``, ``\\ndef main(``, ``\\nprint(``, ``\\n#``),
    tabs as 4 spaces, cut at the first fence, then the longest syntactically valid prefix kept
    (EvalPlus "sanitize"-style), graded after the problem's prompt (``azr.verify.scoring.assemble_program``:
    the prompt's imports stay available, the completion's definition replaces the prompt's).

- ``published-direct``: CRUXEval's direct (no chain of thought) few-shot prompt, otherwise as
  ``published``; HumanEval as ``published``.

The CRUXEval templates are data the user supplies (``--cruxeval-prompts``: a JSON of the paper's four
templates, ``direct_output``, ``cot_output``, ``direct_input``, ``cot_input``, with ``{code}`` and
``{input}`` or ``{output}`` placeholders; ``scripts/cruxeval_prompts.py`` writes one from a CRUXEval
checkout). Answers stay data: the value or arguments read from the ``[ANSWER]`` assertion are evaluated
alone in the sandbox, never next to ``f`` (an answer that calls ``f`` scores nothing).
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

from azr.chat import Message
from azr.exceptions import ConfigError
from azr.verify import scoring
from azr.verify.tasks import TaskType

__all__ = [
    "CRUX_STOP",
    "HUMANEVAL_STOP",
    "PROTOCOLS",
    "CruxTemplates",
    "EvalProtocol",
    "cruxeval_answer",
    "cruxeval_prompt",
    "humaneval_code",
    "humaneval_prompt",
    "max_new_tokens",
]

EvalProtocol = Literal["selfplay", "published", "published-direct"]
PROTOCOLS: tuple[EvalProtocol, ...] = ("selfplay", "published", "published-direct")

CRUX_STOP = ("[/ANSWER]",)
"""Where a CRUXEval completion ends under the published protocols (Qwen's and the paper's harness)."""

HUMANEVAL_STOP = ("\n```", "\nif __name__", "\ndef main(", "\nprint(", "\n#")
"""Where a HumanEval completion ends under the published protocol (Qwen2.5-Coder's instruct evaluation)."""

_PREFIX_TRIES = 200
"""Parses :func:`humaneval_code` tries at most before giving up (bounded work on hostile text)."""

_CODE_START = re.compile(r"(?:def |async def |class |import |from |@)")
_PLACEHOLDER = re.compile(r"\{code\}|\{input\}|\{output\}")

HUMANEVAL_SYSTEM = "You are an intelligent programming assistant to produce Python algorithmic solutions"

_KEYS = {
    "direct_output": ("{code}", "{input}"),
    "cot_output": ("{code}", "{input}"),
    "direct_input": ("{code}", "{output}"),
    "cot_input": ("{code}", "{output}"),
}


@dataclass(frozen=True, slots=True)
class CruxTemplates:
    """The CRUXEval paper's four prompt templates (few-shot text ending where the model continues)."""

    direct_output: str
    cot_output: str
    direct_input: str
    cot_input: str

    @classmethod
    def load(cls, path: str | Path) -> CruxTemplates:
        """Read a JSON object with the four templates; a missing key or placeholder is a ``ConfigError``."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise ConfigError(f"--cruxeval-prompts {path}: not a readable JSON file ({exc})") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"--cruxeval-prompts {path}: a JSON object of the four templates, got {type(data)}")
        for key, placeholders in _KEYS.items():
            text = data.get(key)
            if not isinstance(text, str):
                raise ConfigError(f"--cruxeval-prompts {path}: no {key!r} template (needs {', '.join(_KEYS)})")
            missing = [p for p in placeholders if p not in text]
            if missing:
                raise ConfigError(f"--cruxeval-prompts {path}: template {key!r} lacks {' and '.join(missing)}")
        return cls(**{key: data[key] for key in _KEYS})

    def template(self, task_type: TaskType, cot: bool) -> str:
        half = "output" if task_type is TaskType.DEDUCTION else "input"
        return cast(str, getattr(self, f"{'cot' if cot else 'direct'}_{half}"))


def _is_cot(protocol: EvalProtocol) -> bool:
    if protocol == "selfplay":
        raise ValueError("the selfplay protocol uses azr's solver prompts, not CRUXEval's templates")
    return protocol == "published"


def cruxeval_prompt(
    templates: CruxTemplates, protocol: EvalProtocol, task_type: TaskType, code: str, argument: str
) -> str:
    """The raw completion prompt for one problem: ``argument`` is the input (CRUXEval-O, deduction) or
    the output (CRUXEval-I, abduction). Placeholders are replaced literally (the examples' own braces
    stay as they are)."""
    slot = "{input}" if task_type is TaskType.DEDUCTION else "{output}"
    # One pass: a placeholder's text inside the problem's own code (``f'{output}'``) stays as written.
    filled = {"{code}": code, slot: argument}
    return _PLACEHOLDER.sub(
        lambda m: filled.get(m.group(0), m.group(0)), templates.template(task_type, _is_cot(protocol))
    )


def cruxeval_answer(completion: object, protocol: EvalProtocol, task_type: TaskType) -> str | None:
    """The answer in a completion of a published-protocol prompt: a value (CRUXEval-O) or argument text
    (CRUXEval-I), read from the first ``[ANSWER]`` block's assertion; None when there is none.

    The direct prompt ends with ``[ANSWER]``, so its completion starts inside the block; a chain-of-thought
    completion must open one itself after its ``[THOUGHT]``. Text after the first ``[/ANSWER]`` (where
    generation stops) is ignored, so a reply with two answers is graded on its first.
    """
    text = scoring.completion_text(completion)
    if text is None:
        return None
    if not _is_cot(protocol):
        text = "[ANSWER]\n" + text
    end = text.find("[/ANSWER]")
    head = text if end < 0 else text[:end]
    if "[ANSWER]" not in head:
        return None
    block = head.rpartition("[ANSWER]")[2].strip()  # the innermost opening before the first closing
    # The assertion line when there is one (a stray fence after it must not replace it), else the block.
    line = next((ln.strip() for ln in block.splitlines() if ln.strip().startswith("assert")), block)
    answer = scoring.extract_answer(f"[ANSWER]{line}[/ANSWER]", task_type) if line else None
    # An empty answer is no answer here: CRUXEval's harness counts an input answer without `f(` wrong.
    return answer if answer else None


def humaneval_prompt(code_prompt: str) -> list[Message]:
    """Qwen2.5-Coder's instruct HumanEval prompt, with the reply prefilled with an opening fence (a final
    assistant message: the samplers render it continued, not closed)."""
    user = f"Can you complete the following Python function?\n```python\n{code_prompt.strip()}\n```\n"
    return [
        {"role": "system", "content": HUMANEVAL_SYSTEM},
        {"role": "user", "content": user},
        {"role": "assistant", "content": "```python\n"},
    ]


def humaneval_code(completion: object) -> str | None:
    """The program in a published-protocol HumanEval completion: tabs as 4 spaces, cut at the first fence
    or stop string, then the longest prefix of whole lines that parses (EvalPlus "sanitize"-style)."""
    text = scoring.completion_text(completion)
    if text is None:
        return None
    text = text.replace("\t", "    ")
    for stop in ("```", *HUMANEVAL_STOP[1:]):
        at = text.find(stop)
        if at >= 0:
            text = text[:at]
    if len(text) > scoring.MAX_PARSE_CHARS:  # not parsed here; the sandbox grades it as written
        return text
    lines = text.split("\n")
    start = next((k for k, ln in enumerate(lines) if _CODE_START.match(ln)), 0)  # skip a line of leading prose
    lines = lines[start:]
    # The longest parsable prefix: cut before the line a parse fails on, and again (each try shrinks it).
    for _ in range(_PREFIX_TRIES):
        candidate = "\n".join(lines)
        if not candidate.strip():
            return None
        try:
            ast.parse(candidate)
        except SyntaxError as exc:
            failed = (exc.lineno or len(lines)) - 1
            lines = lines[: min(failed, len(lines) - 1)]
            continue
        except (ValueError, MemoryError, RecursionError):
            lines = lines[:-1]
            continue
        return candidate.rstrip()
    return None


def max_new_tokens(protocol: EvalProtocol) -> int:
    """The generation budget a protocol's published runs used: 1,024 for CRUXEval (Qwen's default);
    azr's own 512 for selfplay."""
    return 512 if protocol == "selfplay" else 1024
