"""Prompts ask for exactly the format the parser reads, and carry the task's parts."""

import pytest

from azr.buffer import seed_tasks
from azr.parsing import Parsed, parse_generation
from azr.prompts import SYSTEM, proposer_messages, solver_messages
from azr.tasks import TaskType, Triple

REF = Triple("def f(s):\n    return s[::-1]", "'abc'", "'cba'")


def answer(*blocks: tuple[str, str]) -> str:
    body = "\n".join(f"```{kind}\n{text}\n```" for kind, text in blocks)
    return f"<think>ok</think>\n<answer>\n{body}\n</answer>"


def user(messages):
    assert messages[0] == {"role": "system", "content": SYSTEM}
    assert messages[1]["role"] == "user"
    return messages[1]["content"]


def test_deduction_and_abduction_proposers_show_every_reference():
    for task_type in (TaskType.DEDUCTION, TaskType.ABDUCTION):
        text = user(proposer_messages(task_type, [REF, seed_tasks(task_type)[0].triple]))
        assert "Reference 1:" in text and "Reference 2:" in text
        assert "return s[::-1]" in text and "'cba'" in text and "'Hello world'" in text
        assert "```python block and one ```input block" in text
        parsed = parse_generation(answer(("python", "def f(x):\n    return x"), ("input", "3")), task_type, "propose")
        assert isinstance(parsed, Parsed)


def test_induction_proposer_needs_a_program_and_asks_for_inputs_and_message():
    with pytest.raises(ValueError, match="needs a program"):
        proposer_messages(TaskType.INDUCTION, [])
    text = user(proposer_messages(TaskType.INDUCTION, [], program=REF.program, n_inputs=4))
    assert REF.program in text and "Write 4 different inputs" in text
    reply = answer(("input", "'a'"), ("input", "'ab'"), ("input", "''"), ("input", "'xyz'"), ("message", "reverses"))
    parsed = parse_generation(reply, TaskType.INDUCTION, "propose", n_inputs=4)
    assert isinstance(parsed, Parsed) and parsed.message == "reverses" and len(parsed.inputs) == 4


def test_solver_prompts_show_what_each_type_may_see():
    d = user(solver_messages("deduction", program=REF.program, input=REF.input))
    assert "f('abc')" in d and "'cba'" not in d and "```output block" in d
    assert d.rstrip().endswith("```output\n...\n```\n</answer>")  # the reply's shape, shown
    a = user(solver_messages("abduction", program=REF.program, output=REF.output))
    assert "'cba'" in a and "```input block" in a
    i = user(solver_messages("induction", io_pairs=[("'ab'", "'ba'")], message="reverses"))
    assert "f('ab') == 'ba'" in i and "Hint: reverses" in i and "return s[::-1]" not in i
    for kind, blocks in (
        ("deduction", [("output", "'cba'")]),
        ("abduction", [("input", "'abc'")]),
        ("induction", [("python", REF.program)]),
    ):
        assert isinstance(parse_generation(answer(*blocks), kind, "solve"), Parsed)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"task_type": "deduction", "program": "x"},
        {"task_type": "abduction", "input": "x"},
        {"task_type": "induction", "io_pairs": []},
    ],
)
def test_missing_parts_are_errors(kwargs):
    with pytest.raises(ValueError):
        solver_messages(**kwargs)
