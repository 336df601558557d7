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

from dataclasses import dataclass, field

from azr.verify.tasks import SOLVER_BLOCK, Role, TaskType

__all__ = ["FormatError", "Parsed", "fenced_blocks", "parse_generation", "strip_think", "tagged_spans"]

_KINDS = ("python", "input", "output", "message")
_ALIASES = {"py": "python", "python3": "python"}
_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_LANGUAGE = _LETTERS | frozenset("0123456789_+-")

# Every scanner below runs in time linear in the text: each search starts where the previous one
# stopped, and a search that finds nothing ends the scan (a regex such as ``<answer>(.*?)</answer>``
# retries from every opening tag and is quadratic on ``"<answer>" * 20000``).


def tagged_spans(text: str, open_tag: str, close_tag: str, *, to_end: bool = False) -> list[str]:
    """The text between each ``open_tag`` and the next ``close_tag``, left to right, non-overlapping
    (like ``re.findall(open(.*?)close)``). With ``to_end`` an unclosed last span runs to the end."""
    spans: list[str] = []
    position = 0
    while (start := text.find(open_tag, position)) >= 0:
        body = start + len(open_tag)
        end = text.find(close_tag, body)
        if end < 0:
            if to_end:
                spans.append(text[body:])
            break
        spans.append(text[body:end])
        position = end + len(close_tag)
    return spans


def strip_think(text: str) -> str:
    """``text`` without its ``<think>…</think>`` spans (an unclosed one runs to the end)."""
    kept: list[str] = []
    position = 0
    while (start := text.find("<think>", position)) >= 0:
        kept.append(text[position:start])
        end = text.find("</think>", start + len("<think>"))
        if end < 0:
            return "".join(kept)
        position = end + len("</think>")
    kept.append(text[position:])
    return "".join(kept)


def fenced_blocks(text: str, *, allow_empty_language: bool = False) -> list[tuple[str, str]]:
    """``(language, body)`` of each fenced block: three backticks, a language tag, optional spaces or
    tabs, a newline, the body, three backticks (like ``re.findall(r"```([A-Za-z]+)[ \\t]*\\r?\\n(.*?)```")``;
    with ``allow_empty_language`` the tag may be empty and may hold digits and ``_+-``)."""
    charset = _LANGUAGE if allow_empty_language else _LETTERS
    blocks: list[tuple[str, str]] = []
    position = 0
    n = len(text)
    while (fence := text.find("```", position)) >= 0:
        i = fence + 3
        while i < n and text[i] in charset:
            i += 1
        language = text[fence + 3 : i]
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] == "\r":
            i += 1
        if (language or allow_empty_language) and i < n and text[i] == "\n":
            end = text.find("```", i + 1)
            if end < 0:
                break  # no fence after this one: no later block can close either
            blocks.append((language, text[i + 1 : end]))
            position = end + 3
        else:
            position = fence + 1
    return blocks


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
        return {SOLVER_BLOCK[task_type]: (1, 1)}
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
    """Extract the parts the (task type, role) needs, or say what is wrong. Any input is accepted,
    and any text is parsed in linear time.

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
    if require_think and not tagged_spans(text, "<think>", "</think>"):
        return FormatError("no <think>…</think> block")
    answers = tagged_spans(text, "<answer>", "</answer>")
    if not answers and not require_answer_tags:
        answers = [text.rpartition("</think>")[2]]
    if not answers:
        return FormatError("no <answer>…</answer> block")
    blocks: dict[str, list[str]] = {kind: [] for kind in _KINDS}
    for kind, body in fenced_blocks(answers[-1]):
        kind = kind.lower()
        kind = _ALIASES.get(kind, kind)
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
