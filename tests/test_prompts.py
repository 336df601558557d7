"""Prompts ask for exactly the format the parser reads, and carry the task's parts."""

import ast

import pytest

from azr.sandbox import Job, Status
from azr.selfplay.buffer import seed_tasks
from azr.verify.parsing import Parsed, parse_generation
from azr.verify.prompts import SYSTEM, entry_parameters, proposer_messages, solver_messages
from azr.verify.tasks import TaskType, Triple

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


@pytest.mark.parametrize("task_type", list(TaskType))
def test_exchange_style_shows_the_example_as_an_earlier_turn_the_parser_accepts(task_type):
    """``selfplay.proposer_example = "exchange"``: the same request for the example's task, a complete
    reply to it as the assistant's turn (one this project's parser accepts as a proposal), then the real
    request, which is the quoted style's request up to its closing line."""
    program = None if task_type is not TaskType.INDUCTION else REF.program
    messages = proposer_messages(task_type, [REF], program=program, n_inputs=4, example="exchange")
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    example_request, reply, request = (m["content"] for m in messages[1:])
    parsed = parse_generation(reply, task_type, "propose", n_inputs=4 if task_type is TaskType.INDUCTION else None)
    assert isinstance(parsed, Parsed), parsed
    assert "return s[::-1]" in request and "return s[::-1]" not in example_request
    quoted = user(proposer_messages(task_type, [REF], program=program, n_inputs=4))
    body, closing = request.rsplit("\n", 1)
    assert quoted.startswith(body + "\n") and closing.startswith("Reply with a short <think>")
    with pytest.raises(ValueError, match="unknown proposer example style"):
        proposer_messages(task_type, [REF], program=program, example="inline")  # type: ignore[arg-type]


def test_proposer_example_setting_is_checked_before_anything_loads():
    from azr.exceptions import ConfigError
    from azr.selfplay.config import load_config

    assert load_config(None, ["selfplay.proposer_example=exchange"]).selfplay.proposer_example == "exchange"
    with pytest.raises(ConfigError, match="proposer_example"):
        load_config(None, ["selfplay.proposer_example=inline"])


@pytest.mark.parametrize("task_type", list(TaskType))
def test_solver_exchange_shows_a_solved_task_that_verifies(task_type, sandbox):
    """``selfplay.solver_example = "exchange"``: a solved task of the same type as an earlier turn, whose
    reply the parser accepts and whose answer is right by execution (a wrong worked example would teach
    wrong answers), then the real request, the same as the plain style's."""
    from azr.verify.grading import Verdict, Verifier
    from azr.verify.tasks import Task
    from azr.verify.tasktypes import spec

    task = {
        TaskType.DEDUCTION: Task(task_type, "def f(x):\n    return x + 1", ("41",), ("42",)),
        TaskType.ABDUCTION: Task(task_type, "def f(x):\n    return x + 1", ("41",), ("42",)),
        TaskType.INDUCTION: Task(task_type, "def f(x):\n    return x + 1", ("1", "2", "3"), ("2", "3", "4"), "add"),
    }[task_type]
    plain = spec(task_type).solver_prompt(task, 2, "none")
    messages = spec(task_type).solver_prompt(task, 2, "exchange")
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[0] == plain[0] and messages[-1] == plain[-1]
    example_request, reply = messages[1]["content"], messages[2]["content"]
    assert "return x + 1" not in example_request and "</think>" in reply
    parsed = parse_generation(reply, task_type, "solve")
    assert isinstance(parsed, Parsed), parsed
    # The example's own task, rebuilt from its request, graded by the real verifier.
    from azr.verify.prompts import _SOLVER_EXAMPLES

    fields, _, _ = _SOLVER_EXAMPLES[task_type]
    if task_type is TaskType.INDUCTION:
        pairs = fields["io_pairs"]
        example = Task(
            task_type, "def f(s):\n    return s", tuple(i for i, _ in pairs), tuple(o for _, o in pairs), "m"
        )
    elif task_type is TaskType.DEDUCTION:
        example = Task(task_type, fields["program"], (fields["input"],), ("'Red-Fox'",))
    else:
        example = Task(task_type, fields["program"], ("'ab', 2",), (fields["output"],))
    (grade,) = Verifier(sandbox).grade([example], [spec(task_type).answer(parsed)])
    assert grade.verdict is Verdict.ACCEPTED, grade
    with pytest.raises(ValueError, match="unknown solver example style"):
        spec(task_type).solver_prompt(task, 2, "inline")  # type: ignore[arg-type]


def test_solver_example_setting_reaches_the_trainer_prompt_and_is_checked():
    from azr.exceptions import ConfigError
    from azr.selfplay.config import load_config

    assert load_config(None, ["selfplay.solver_example=exchange"]).selfplay.solver_example == "exchange"
    assert load_config(None).selfplay.solver_example == "none"
    with pytest.raises(ConfigError, match="solver_example"):
        load_config(None, ["selfplay.solver_example=quoted"])


@pytest.mark.parametrize(
    ("program", "expected"),
    [
        ("def f(s):\n    return s", (["s"], [])),
        ("def f(words, n=2):\n    return words", (["words"], ["n"])),
        ("def f(a, /, b, c=1):\n    return a", (["a", "b"], ["c"])),
        ("def f(a):\n    return a\n\ndef f(a, b):\n    return b", (["a", "b"], [])),  # the last one is called
        ("def g(a, b):\n    return a", None),
        ("def f(*args):\n    return args", None),
        ("def f(a, *, key):\n    return a", None),
        ("def f(s:\n", None),  # does not parse
        ("x = " + "(" * 100_000 + "1" + ")" * 100_000 + "\ndef f(s):\n    return s", None),  # too deep to parse
        ("def f(s):\x00", None),
        ("def f(s, n):\n    return '\\d' + s", (["s", "n"], [])),  # an invalid escape warns; read all the same
    ],
)
def test_entry_parameters_read_the_program_and_never_raise_on_model_text(program, expected):
    assert entry_parameters(program) == expected


@pytest.mark.parametrize(
    ("program", "arity", "named"),
    [
        ("def f(s):\n    return s", 1, "e.g. `[1, 2], 3` for f([1, 2], 3)"),
        ("def f(s, n=2):\n    return s", 1, "e.g. `[1, 2], 3` for f([1, 2], 3)"),
        ("def f(s, n, k=2):\n    return s", 2, "`f` takes 2 arguments, `s` and `n`: each input is a value for `s`"),
        ("def f(s, n, k=2):\n    return s", 2, "It also accepts `k`, which may be left out."),
        ("def f(words, n):\n    return words[:n]", 2, "`f` takes 2 arguments, `words` and `n`"),
        ("def f(a, b, c, d):\n    return a", 3, "`f` takes 4 arguments, `a`, `b`, `c` and `d`"),
        ("def f(*xs):\n    return xs", 1, "e.g. `[1, 2], 3` for f([1, 2], 3)"),
    ],
)
def test_induction_proposer_names_the_parameters_and_shows_an_example_of_the_same_arity(program, arity, named):
    """A one-argument worked example taught Qwen2.5-Coder-0.5B one-argument inputs for two-argument
    programs (6% valid on a run's buffers); the example now takes as many arguments as the program, and
    two or more required arguments are named."""
    for style in ("quoted", "exchange"):
        messages = proposer_messages(TaskType.INDUCTION, [], program=program, n_inputs=4, example=style)
        request = messages[-1]["content"]
        assert named in request
        reply = messages[2]["content"] if style == "exchange" else request.split("a complete reply is:\n", 1)[1]
        parsed = parse_generation(reply.split("\n\nNow write", 1)[0], TaskType.INDUCTION, "propose", n_inputs=4)
        assert isinstance(parsed, Parsed), parsed
        for text in parsed.inputs:
            call = ast.parse(f"f({text})", mode="eval").body
            assert isinstance(call, ast.Call) and len(call.args) == arity, text


@pytest.mark.parametrize("n_inputs", [4, 12])
def test_every_worked_induction_example_runs_on_its_own_program(sandbox, n_inputs):
    """The inputs a worked example shows (and those made past its list) are calls its program accepts:
    an example the sandbox would reject teaches the proposer to write rejected tasks."""
    for program in ("def f(s):\n    return s", "def f(a, b):\n    return a", "def f(a, b, c):\n    return a"):
        reply = proposer_messages(TaskType.INDUCTION, [], program=program, n_inputs=n_inputs, example="exchange")[2]
        example_request = proposer_messages(TaskType.INDUCTION, [], program=program, example="exchange")[1]
        shown = example_request["content"].split("```python\n", 1)[1].split("\n```", 1)[0]
        parsed = parse_generation(reply["content"], TaskType.INDUCTION, "propose", n_inputs=n_inputs)
        assert isinstance(parsed, Parsed) and len(set(parsed.inputs)) == n_inputs
        for text in parsed.inputs:
            result = sandbox.run(Job(shown, f"f({text})"))
            assert result.status is Status.OK, (shown, text, result.error_message)
