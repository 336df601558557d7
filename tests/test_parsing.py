"""Output-format parsing: every (task type, role), and fuzzing (never raises)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from azr.verify.parsing import FormatError, Parsed, parse_generation
from azr.verify.tasks import Role, TaskType

PROGRAM = "```python\ndef f(x):\n    return x\n```"


def wrap(body: str, think: bool = True) -> str:
    return ("<think>reasoning</think>\n" if think else "") + f"<answer>\n{body}\n</answer>"


def test_propose_deduction() -> None:
    p = parse_generation(wrap(f"{PROGRAM}\n```input\n[1, 2]\n```"), TaskType.DEDUCTION, Role.PROPOSE)
    assert isinstance(p, Parsed) and p.program == "def f(x):\n    return x" and p.inputs == ["[1, 2]"]


def test_propose_induction_needs_inputs_and_message() -> None:
    body = "\n".join(f"```input\n{k}\n```" for k in range(10)) + "\n```message\ndoubles\n```"
    p = parse_generation(wrap(body), "induction", "propose", n_inputs=10)
    assert isinstance(p, Parsed) and p.inputs == [str(k) for k in range(10)] and p.message == "doubles"
    assert isinstance(parse_generation(wrap(body), "induction", "propose", n_inputs=9), FormatError)


@pytest.mark.parametrize(
    ("task_type", "body", "field", "value"),
    [
        ("deduction", "```output\n[2, 1]\n```", "output", "[2, 1]"),
        ("abduction", "```input\n'abc', 2\n```", "inputs", ["'abc', 2"]),
        ("induction", PROGRAM, "program", "def f(x):\n    return x"),
    ],
)
def test_solve(task_type: str, body: str, field: str, value: object) -> None:
    p = parse_generation(wrap(body), task_type, "solve")
    assert isinstance(p, Parsed) and getattr(p, field) == value


@pytest.mark.parametrize(
    "text",
    [
        "no tags at all",
        "<answer>no blocks</answer>",
        "<answer>```output\n1\n```\n```output\n2\n```</answer>",
        "<answer>```output\n\n```</answer>",
        "<answer>```output\n1\n```",
    ],
)
def test_format_errors(text: str) -> None:
    result = parse_generation(text, "deduction", "solve")
    assert isinstance(result, FormatError) and result.reason


def test_last_answer_wins_and_think_can_be_required() -> None:
    text = "<answer>```output\n1\n```</answer> then <answer>```output\n2\n```</answer>"
    p = parse_generation(text, "deduction", "solve")
    assert isinstance(p, Parsed) and p.output == "2"
    assert isinstance(
        parse_generation(wrap("```output\n1\n```", think=False), "deduction", "solve", require_think=True), FormatError
    )


def test_non_text_and_unknown_kinds() -> None:
    assert isinstance(parse_generation(None, "deduction", "solve"), FormatError)
    assert isinstance(parse_generation("x", "nonsense", "solve"), FormatError)


FRAGMENTS = [
    "<answer>",
    "</answer>",
    "<think>",
    "</think>",
    "```",
    "```python\n",
    "```input\n",
    "```output\n",
    "\n",
    "x",
]


@settings(max_examples=500, deadline=None)
@given(
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=20)), max_size=30).map("".join),
    st.sampled_from(list(TaskType)),
    st.sampled_from(list(Role)),
)
def test_fuzz_never_raises(text: str, task_type: TaskType, role: Role) -> None:
    assert isinstance(parse_generation(text, task_type, role), Parsed | FormatError)


def test_pathological_sizes() -> None:
    huge = "<answer>" + "```output\n" * 20000 + "</answer>"
    assert isinstance(parse_generation(huge, "deduction", "solve"), Parsed | FormatError)


def test_answer_tags_can_be_optional_for_small_models():
    reply = "Sure!\n```output\n[3, 2, 1]\n```\nDone."
    assert isinstance(parse_generation(reply, "deduction", "solve"), FormatError)
    parsed = parse_generation(reply, "deduction", "solve", require_answer_tags=False)
    assert isinstance(parsed, Parsed) and parsed.output == "[3, 2, 1]"
    # Blocks inside <think> are reasoning, not the answer.
    thought = "<think>```output\n1\n```</think>\n```output\n2\n```"
    lenient = parse_generation(thought, "deduction", "solve", require_answer_tags=False)
    assert isinstance(lenient, Parsed) and lenient.output == "2"
    # Tags, when present, still win.
    tagged = "```output\n1\n```<answer>\n```output\n2\n```\n</answer>"
    lenient = parse_generation(tagged, "deduction", "solve", require_answer_tags=False)
    assert isinstance(lenient, Parsed) and lenient.output == "2"
