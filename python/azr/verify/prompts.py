"""Prompts for the six (task type, role) cases, in the answer format ``azr.verify.parsing`` reads.

Every prompt is a list of chat messages; the sampler renders it through the tokenizer's chat
template when the model has one, and as plain text otherwise. The wording is ours; the structure
(reference tasks for the proposer, one task for the solver, ``<think>``/``<answer>`` with fenced
blocks) follows the Absolute Zero paper.
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from azr.chat import Message
from azr.verify.tasks import TaskType, Triple

__all__ = [
    "EXAMPLE_PROGRAM",
    "SYSTEM",
    "ExampleStyle",
    "SolverExample",
    "entry_parameters",
    "proposer_messages",
    "solver_messages",
]

ExampleStyle = Literal["quoted", "exchange"]
"""How a proposer prompt shows its worked example (``selfplay.proposer_example``)."""

SYSTEM = (
    "You are a careful Python programmer. Think step by step inside <think> </think>, then give the "
    "final answer inside <answer> </answer> using exactly the fenced blocks the user asks for."
)

_RULES = (
    "Rules for the program: define a function named `f` (helper functions are allowed); use only the "
    "Python standard library; no printing, input, files, network, time or randomness; the result must "
    "depend only on the arguments and be a plain value (numbers, strings, lists, tuples, dicts, sets, "
    "booleans, None)."
)


def _fence(kind: str, body: str) -> str:
    return f"```{kind}\n{body.strip()}\n```"


def _triple_block(n: int, triple: Triple) -> str:
    return (
        f"Reference {n}:\n{_fence('python', triple.program)}\n"
        f"{_fence('input', triple.input)}\n{_fence('output', triple.output)}"
    )


_PLACEHOLDER = {"python": "def f(...):\n    ...", "input": "...", "output": "...", "message": "..."}


def _reply_shape(*kinds: str) -> str:
    """A skeleton of the whole reply: small models follow a shown shape far better than a described one."""
    blocks = "\n".join(_fence(kind, _PLACEHOLDER[kind]) for kind in kinds)
    return f"Reply in exactly this shape:\n<think>\nyour reasoning\n</think>\n<answer>\n{blocks}\n</answer>"


def _messages(user: str, *kinds: str) -> list[Message]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": f"{user}\n\n{_reply_shape(*kinds)}"}]


# One complete proposer reply for a task unlike the seed: Qwen2.5-Coder-0.5B at temperature 1.0 wrote
# the two blocks far more often after seeing one filled in (benches/proposal_bench.py, docs/train.md)
# than after a skeleton of placeholders alone.
EXAMPLE_PROGRAM = "def f(words, n):\n    return [w[::-1] for w in words if len(w) > n]"
_EXAMPLE_INPUT = "['apple', 'fig', 'kiwi'], 3"
_EXAMPLE_REFERENCE = Triple("def f(a, b):\n    return a * b", "3, 4", "12")  # the exchange's example request


@dataclass(frozen=True)
class _InductionExample:
    """A worked induction proposal: the program, the reply's reasoning, message and inputs (``more(k)``
    makes the k-th input past those listed)."""

    program: str
    think: str
    message: str
    inputs: tuple[str, ...]
    more: Callable[[int], str]


# By the number of required arguments of the program to probe: the 0.5B model copies the shape of the
# example's inputs, so a one-argument example taught one-argument inputs for two-argument programs
# (docs/train.md, "Induction proposals").
_INDUCTION_EXAMPLES = {
    1: _InductionExample(
        "def f(s):\n    return s.count('a')",
        "f counts the letter 'a'.",
        "It counts one particular letter.",
        ("'banana'", "'xyz'", "''", "'aaa'", "'Ada'", "'abracadabra'", "'a b a'", "'grape'"),
        lambda k: repr("a" * k),
    ),
    2: _InductionExample(
        "def f(s, n):\n    return s[:n]",
        "f keeps the first n characters of s.",
        "It keeps the beginning of the text.",
        ("'banana', 3", "'xyz', 1", "'', 2", "'aaa', 0", "'Ada', 5", "'abracadabra', 4", "'a b a', 2", "'grape', 1"),
        lambda k: f"{'a' * k!r}, {k}",
    ),
    3: _InductionExample(
        "def f(s, old, new):\n    return s.replace(old, new)",
        "f replaces every old in s with new.",
        "It swaps one piece of text for another.",
        (
            "'banana', 'a', 'o'",
            "'xyz', 'a', 'b'",
            "'', 'a', 'b'",
            "'aaa', 'aa', 'b'",
            "'Ada', 'A', 'E'",
            "'abracadabra', 'bra', ''",
            "'a b a', ' ', '-'",
            "'grape', 'grape', 'fig'",
        ),
        lambda k: f"{'a' * k!r}, 'a', 'b'",
    ),
}


Parameters = tuple[list[str], list[str]]
"""A program's required and optional parameter names (:func:`entry_parameters`)."""


def _induction_example(params: Parameters | None) -> _InductionExample:
    """The worked example whose program takes as many arguments as the one probed (one, two, or three or more)."""
    arity = len(params[0]) if params is not None else 1
    return _INDUCTION_EXAMPLES[min(max(arity, 1), 3)]


def _worked_example(*blocks: tuple[str, str], think: str = "One or two sentences.") -> str:
    body = "\n".join(_fence(kind, text) for kind, text in blocks)
    return f"<think>\n{think}\n</think>\n<answer>\n{body}\n</answer>"


def _proposer_messages(
    style: ExampleStyle,
    request: str,
    example_request: str,
    example_intro: str,
    example_blocks: Sequence[tuple[str, str]],
    example_think: str,
    *kinds: str,
) -> list[Message]:
    """``quoted``: the example reply inside the request. ``exchange``: the same request for the example's
    task, the example as the assistant's reply (with a real ``<think>``), then the real request.
    Qwen2.5-Coder-0.5B follows a reply shown as its own previous turn far more often (docs/train.md),
    but the tiny test model, taught on those ~1,000-token prompts, does not learn from self-play,
    which is why ``quoted`` stays the default."""
    if style == "exchange":
        return [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": example_request},
            {"role": "assistant", "content": _worked_example(*example_blocks, think=example_think)},
            {"role": "user", "content": request},
        ]
    if style != "quoted":
        raise ValueError(f"unknown proposer example style {style!r}: 'quoted' or 'exchange'")
    example = _worked_example(*example_blocks)
    shape = (
        f"a short <think>, then <answer> with only the {' and '.join(dict.fromkeys(f'```{k}' for k in kinds))} blocks"
    )
    content = (
        f"{request}\n\n{example_intro}\n{example}\n\n"
        f"Now write your own reply in exactly that shape: {shape}, for the task above."
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": content}]


def proposer_messages(
    task_type: TaskType | str,
    references: Sequence[Triple],
    *,
    program: str | None = None,
    n_inputs: int = 6,
    example: ExampleStyle = "quoted",
) -> list[Message]:
    """Ask for a new task.

    Deduction and abduction proposers see ``references`` (past tasks of that type) and write a new
    program plus one input. The induction proposer gets one ``program`` and writes ``n_inputs``
    inputs that reveal what it does, plus a short message hinting at it; its worked example takes as many
    arguments as ``program``. ``example`` says how the
    worked example of a complete reply is shown (see ``_proposer_messages``).
    """
    task_type = TaskType(task_type)
    if task_type is TaskType.INDUCTION:
        if program is None:
            raise ValueError("the induction proposer needs a program")
        params = entry_parameters(program)  # read once: the example's arity and the request's wording
        shown = _induction_example(params)
        inputs = [shown.inputs[k] if k < len(shown.inputs) else shown.more(k) for k in range(n_inputs)]
        # The message first: after a run of input blocks the model tends to stop without one.
        blocks = [("message", shown.message), *(("input", t) for t in inputs)]
        intro = f"For example, for the program\n{_fence('python', shown.program)}\na complete reply is:"
        return _proposer_messages(
            example,
            _induction_request(program, params, n_inputs, example),
            _induction_request(shown.program, entry_parameters(shown.program), n_inputs, example),
            intro,
            blocks,
            shown.think,
            "message",
            "input",
        )
    intro = "For example, a complete reply proposing a different task is:"
    return _proposer_messages(
        example,
        _task_request(task_type, references, example),
        _task_request(task_type, [_EXAMPLE_REFERENCE], example),
        intro,
        [("python", EXAMPLE_PROGRAM), ("input", _EXAMPLE_INPUT)],
        "A filter and a reversal, unlike the reference.",
        "python",
        "input",
    )


def _closing(style: ExampleStyle, quoted_blocks: str, exchange_blocks: str) -> str:
    """The request's last line. Worded after the reply's own order in the exchange (measured best there);
    the quoted style keeps the wording its learning test was measured with."""
    if style == "exchange":
        return f"Reply with a short <think>, then <answer> with {exchange_blocks}."
    return f"Answer with {quoted_blocks} inside <answer>."


_TASK_BLOCKS = "one ```python block and one ```input block"  # same wording, either style


def _task_request(task_type: TaskType, references: Sequence[Triple], style: ExampleStyle) -> str:
    refs = "\n\n".join(_triple_block(n, t) for n, t in enumerate(references, 1))
    goal = (
        "predicting its output from the input"
        if task_type is TaskType.DEDUCTION
        else "finding an input that produces its output"
    )
    return (
        f"Propose a new Python task: a program and one input. The task should be hard but possible to "
        f"solve by reasoning, i.e. {goal}, and different from the references below.\n{_RULES}\n"
        "The input is the argument text of a call, e.g. `'abc', 2` for f('abc', 2).\n\n"
        f"{refs}\n\n" + _closing(style, _TASK_BLOCKS, _TASK_BLOCKS)
    )


def entry_parameters(program: str, entry: str = "f") -> Parameters | None:
    """The required and the optional parameter names of ``program``'s top-level ``def f``, or None when it
    does not parse, defines no such function, or takes ``*args``/``**kwargs``/keyword-only parameters
    (whose calls no short sentence describes). The last definition counts: it is the one called."""
    try:
        with warnings.catch_warnings():  # e.g. an invalid escape like '\d': a warning per prompt otherwise
            warnings.simplefilter("ignore")
            tree = ast.parse(program)
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # model text: never raise on it
        return None
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == entry]
    if not defs:
        return None
    args = defs[-1].args
    if args.vararg or args.kwarg or args.kwonlyargs:
        return None
    names = [a.arg for a in (*args.posonlyargs, *args.args)]
    required = len(names) - len(args.defaults)
    return names[:required], names[required:]


def _call_shape(params: Parameters | None) -> str:
    """How an input for a program with ``params`` must look. Two or more required arguments are named:
    with the worked example of the same arity, 65% of Qwen2.5-Coder-0.5B's induction proposals on a
    run's buffers were valid with the names, 58% without (48 each, within the run-to-run spread;
    docs/train.md). Other programs keep the generic line, word for word: the end-to-end learning test's
    tiny model is taught on these prompts, and a new line for its one-argument programs left it nothing
    to learn."""
    generic = "Each input is the argument text of a call, e.g. `[1, 2], 3` for f([1, 2], 3)."
    if params is None or len(params[0]) < 2:
        return generic
    required, optional = params
    quoted = [f"`{n}`" for n in required]
    if len(required) == 2:
        shape = (
            f"`f` takes 2 arguments, {quoted[0]} and {quoted[1]}: each input is a value for {quoted[0]}, "
            f"a comma, then a value for {quoted[1]}"
        )
    else:
        shape = (
            f"`f` takes {len(required)} arguments, {', '.join(quoted[:-1])} and {quoted[-1]}: each input is "
            "a value for each of them, in that order, separated by commas"
        )
    shape += ", as written inside the parentheses of a call f(...)."
    if optional:
        shape += f" It also accepts {' and '.join(f'`{n}`' for n in optional)}, which may be left out."
    return shape


def _induction_request(program: str, params: Parameters | None, n_inputs: int, style: ExampleStyle) -> str:
    return (
        "Here is a Python program:\n"
        f"{_fence('python', program)}\n"
        f"Write {n_inputs} different inputs for `f` that together reveal what it does, and a one-"
        "sentence message that hints at its purpose without giving the code away. Someone will "
        "see some of the inputs with their outputs and your message, and must write the program.\n"
        f"{_call_shape(params)}\n"
        + _closing(
            style,
            f"{n_inputs} ```input blocks and one ```message block",
            f"one ```message block and {n_inputs} ```input blocks",
        )
    )


SolverExample = Literal["none", "exchange"]
"""Whether a solver prompt shows a solved task first (``selfplay.solver_example``)."""

# One solved task per type, shown as an earlier exchange: short reasoning, then exactly the block asked for.
_SOLVER_EXAMPLES: dict[TaskType, tuple[dict[str, Any], str, str]] = {
    TaskType.DEDUCTION: (
        {"program": "def f(words):\n    return '-'.join(w.capitalize() for w in words)", "input": "['red', 'fox']"},
        "Capitalized, the words are 'Red' and 'Fox'; joined with '-' they make 'Red-Fox', a string, so quoted.",
        "'Red-Fox'",
    ),
    TaskType.ABDUCTION: (
        {"program": "def f(s, n):\n    return s * n", "output": "'abab'"},
        "'ab' repeated 2 times is 'abab', so s = 'ab' and n = 2.",
        "'ab', 2",
    ),
    TaskType.INDUCTION: (
        {"io_pairs": [("'abc'", "'cba'"), ("''", "''"), ("'xy'", "'yx'")], "message": "Reverse the text."},
        "Every output is its input backwards.",
        "def f(s):\n    return s[::-1]",
    ),
}


def _solver_request(
    task_type: TaskType,
    *,
    program: str | None = None,
    input: str | None = None,
    output: str | None = None,
    io_pairs: Sequence[tuple[str, str]] | None = None,
    message: str | None = None,
) -> tuple[str, str]:
    """The user's request for one task and the fenced block kind its answer goes in."""
    if task_type is TaskType.DEDUCTION:
        if program is None or input is None:
            raise ValueError("deduction needs a program and an input")
        user = (
            f"{_fence('python', program)}\nWhat does `f({input.strip()})` return?\n"
            "Answer with one ```output block holding the returned value as a Python literal, inside <answer>."
        )
        return user, "output"
    if task_type is TaskType.ABDUCTION:
        if program is None or output is None:
            raise ValueError("abduction needs a program and an output")
        user = (
            f"{_fence('python', program)}\nFind arguments for `f` so that it returns:\n"
            f"{_fence('output', output)}\n"
            "Answer with one ```input block holding the argument text (e.g. `[1, 2], 'a'` for "
            "f([1, 2], 'a')), inside <answer>."
        )
        return user, "input"
    if not io_pairs or message is None:
        raise ValueError("induction needs input/output pairs and a message")
    shown = "\n".join(f"f({i.strip()}) == {o.strip()}" for i, o in io_pairs)
    user = (
        f"Write a Python function `f` that satisfies all of these:\n```\n{shown}\n```\n"
        f"Hint: {message.strip()}\n{_RULES}\n"
        "Answer with one ```python block inside <answer>."
    )
    return user, "python"


def solver_messages(
    task_type: TaskType | str,
    *,
    program: str | None = None,
    input: str | None = None,
    output: str | None = None,
    io_pairs: Sequence[tuple[str, str]] | None = None,
    message: str | None = None,
    example: SolverExample = "none",
) -> list[Message]:
    """Ask to solve one task: deduction needs ``program`` and ``input``; abduction ``program`` and
    ``output``; induction ``io_pairs`` and ``message``. ``example="exchange"`` puts a solved task of the
    same type first, as an earlier user turn answered in full (short ``<think>``, then exactly the block
    asked for): a small model copies a reply it sees as its own far more reliably than a described shape
    (measured: ``benches/solver_bench.py``, docs/train.md)."""
    task_type = TaskType(task_type)
    user, kind = _solver_request(
        task_type, program=program, input=input, output=output, io_pairs=io_pairs, message=message
    )
    if example == "none":
        return _messages(user, kind)
    if example != "exchange":
        raise ValueError(f"unknown solver example style {example!r}: 'none' or 'exchange'")
    fields, think, answer = _SOLVER_EXAMPLES[task_type]
    example_user, _ = _solver_request(task_type, **fields)
    shape = _reply_shape(kind)
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"{example_user}\n\n{shape}"},
        {"role": "assistant", "content": _worked_example((kind, answer), think=think)},
        {"role": "user", "content": f"{user}\n\n{shape}"},
    ]
