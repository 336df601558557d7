"""Parse model generations in azr's output format into typed parts. Never raises on any text.

The format (the prompts ask for it)::

    <think> free-form reasoning (optional unless require_think=True) </think>
    <answer>
    ```python
    def f(x):
        return x
    ```
    ```input
    [1, 2, 3]
    ```
    </answer>

Fenced blocks inside the last ``<answer>…</answer>``: ``python`` (a program), ``input`` (argument
text for ``f``), ``output`` (a value), ``message`` (an induction hint). What each generation must
contain:

=============  ==========================================  =======================
task type      propose                                     solve
=============  ==========================================  =======================
deduction      one ``python``, one ``input``               one ``output``
abduction      one ``python``, one ``input``               one ``input``
induction      ``n_inputs`` ``input`` blocks, a ``message``  one ``python``
=============  ==========================================  =======================
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from azr.tasks import Role, TaskType

__all__ = ["FormatError", "Parsed", "parse_generation"]

_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_THINK = re.compile(r"<think>.*?</think>", re.DOTALL)
_BLOCK = re.compile(r"```([A-Za-z]+)[ \t]*\r?\n(.*?)```", re.DOTALL)
_KINDS = ("python", "input", "output", "message")


@dataclass(frozen=True, slots=True)
class Parsed:
    """The parts of a well-formed generation."""

    task_type: TaskType
    role: Role
    program: str | None = None
    inputs: list[str] = field(default_factory=list)
    output: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class FormatError:
    """Why a generation is not in the required format."""

    reason: str


def _required(task_type: TaskType, role: Role, n_inputs: int | None) -> dict[str, tuple[int, int | None]]:
    """Allowed (min, max) count of each block kind."""
    if role is Role.SOLVE:
        kind = {TaskType.DEDUCTION: "output", TaskType.ABDUCTION: "input", TaskType.INDUCTION: "python"}[task_type]
        return {kind: (1, 1)}
    if task_type is TaskType.INDUCTION:
        lo, hi = (n_inputs, n_inputs) if n_inputs is not None else (1, None)
        return {"input": (lo, hi), "message": (1, 1)}
    return {"python": (1, 1), "input": (1, 1)}


def parse_generation(
    text: object,
    task_type: TaskType | str,
    role: Role | str,
    *,
    n_inputs: int | None = None,
    require_think: bool = False,
    require_answer_tags: bool = True,
) -> Parsed | FormatError:
    """Extract the parts the (task type, role) needs, or say what is wrong. Any input is accepted.

    With ``require_answer_tags=False`` a reply without ``<answer>…</answer>`` is read from the text
    after its last ``</think>`` (or all of it): small models often write the right blocks but drop
    the tags, and a strict parser would give them nothing but format errors to learn from.
    """
    try:
        task_type, role = TaskType(task_type), Role(role)
    except ValueError as exc:
        return FormatError(f"unknown task type or role: {exc}")
    if not isinstance(text, str):
        return FormatError(f"generation is {type(text).__name__}, not text")
    if require_think and not _THINK.search(text):
        return FormatError("no <think>…</think> block")
    answers = _ANSWER.findall(text)
    if not answers and not require_answer_tags:
        answers = [text.rpartition("</think>")[2]]
    if not answers:
        return FormatError("no <answer>…</answer> block")
    blocks: dict[str, list[str]] = {kind: [] for kind in _KINDS}
    for kind, body in _BLOCK.findall(answers[-1]):
        kind = kind.lower()
        if kind in ("py", "python3"):
            kind = "python"
        if kind in blocks:
            blocks[kind].append(body.strip("\n"))
    required = _required(task_type, role, n_inputs)
    for kind, (lo, hi) in required.items():
        found = len(blocks[kind])
        if found < lo or (hi is not None and found > hi):
            want = f"{lo}" if lo == hi else f"at least {lo}"
            return FormatError(f"expected {want} ```{kind} block(s) in <answer>, found {found}")
        if any(not body.strip() for body in blocks[kind]):
            return FormatError(f"empty ```{kind} block")
    return Parsed(
        task_type,
        role,
        program=blocks["python"][0] if "python" in required else None,
        inputs=[b.strip() for b in blocks["input"]] if "input" in required else [],
        output=blocks["output"][0].strip() if "output" in required else None,
        message=blocks["message"][0].strip() if "message" in required else None,
    )
