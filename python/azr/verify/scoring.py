"""Score programs and answers by execution, from plain Python: no torch, transformers or TRL needed.

Two kinds of check, both run in azr's sandbox:

- **(program, input, output)**: does a program map an input to an output (:func:`score_io`); is a
  predicted output right (:func:`score_deduction`); does a predicted input produce the output
  (:func:`score_abduction`); does a predicted program reproduce input/output pairs
  (:func:`score_induction`).
- **(program, tests)**: does a program pass its tests (:func:`score_tests`), HumanEval style. The
  tests run after the program in one fresh interpreter; each test case given separately gets its own.

Both go through :class:`azr.verify.grading.Verifier`, the task core's one implementation of correctness.

Answers may be raw model text (azr's ``<answer>`` format, CRUXEval's ``[ANSWER]`` tags, fenced
blocks, full assertions) or bare answers; :func:`extract_answer` and :func:`extract_code` say what is
accepted. Model text is only ever parsed on the host, never executed there.

Like HumanEval's own harness, :func:`score_tests` trusts the tests to be run as written: the sandbox
contains whatever a program does, but a program that deliberately subverts the test code in its own
namespace (e.g. with a trace hook) is not detected. Give test cases as separate strings to grade each
in its own instance.
"""

from __future__ import annotations

import ast
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from azr.sandbox import Job, Sandbox
from azr.verify.grading import Verifier
from azr.verify.parsing import Parsed, fenced_blocks, parse_generation, strip_think, tagged_spans
from azr.verify.tasks import Role, TaskType, Triple
from azr.verify.tasktypes import spec
from azr.verify.values import Equality

__all__ = [
    "DEFAULT_TESTS_TIMEOUT_S",
    "ProgramTests",
    "assemble_program",
    "completion_text",
    "default_sandbox",
    "extract_answer",
    "extract_code",
    "score_abduction",
    "score_deduction",
    "score_induction",
    "score_io",
    "score_tests",
]

DEFAULT_TESTS_TIMEOUT_S = 3.0
"""Wall-clock limit per test run (HumanEval's harness uses 3 s)."""

MAX_PARSE_CHARS = 20_000

_default_sandbox: Sandbox | None = None
_default_lock = threading.Lock()


def default_sandbox() -> Sandbox:
    """The process-wide sandbox the reward functions share (created on first use)."""
    global _default_sandbox
    with _default_lock:
        if _default_sandbox is None:
            _default_sandbox = Sandbox()
        return _default_sandbox


def completion_text(completion: object) -> str | None:
    """The text of a completion: a string, or the last message's content (TRL's chat format); None
    for anything else (which then grades as a format error)."""
    if isinstance(completion, list | tuple) and completion and isinstance(completion[-1], dict):
        completion = completion[-1].get("content")
    return completion if isinstance(completion, str) else None


@dataclass(frozen=True, slots=True)
class ProgramTests:
    """The tests of one problem.

    ``test`` is Python code run after the program, in its namespace: one string, or a tuple of
    independent cases (each run in its own fresh interpreter, so one case cannot affect another).
    With ``entry_point`` the tests define ``check(candidate)`` and pass when ``check(<entry_point>)``
    returns (HumanEval); without it they pass when the code runs without error (plain asserts).
    ``code_prompt`` is a HumanEval-style prefix (imports, signature, docstring) placed before the
    program; see :func:`assemble_program`.
    """

    test: str | tuple[str, ...]
    entry_point: str | None = None
    code_prompt: str = ""

    def __post_init__(self) -> None:
        cases = (self.test,) if isinstance(self.test, str) else self.test
        if not isinstance(cases, tuple) or not all(isinstance(c, str) for c in cases):
            raise TypeError(f"ProgramTests.test must be a string or a tuple of strings, got {self.test!r}")
        if not cases:
            raise ValueError("ProgramTests.test must not be an empty tuple: give at least one test case")
        if self.entry_point is not None and not self.entry_point.isidentifier():
            raise ValueError(f"entry_point must be an identifier, got {self.entry_point!r}")

    @property
    def cases(self) -> tuple[str, ...]:
        return (self.test,) if isinstance(self.test, str) else self.test


def extract_code(completion: object) -> str | None:
    """The program in a completion.

    In order: the ``python`` block of azr's ``<answer>`` format; else the first fenced ``python``
    block outside ``<think>`` (else the first fenced block of any kind); else the text itself, kept
    verbatim (a HumanEval body continuation starts with indentation). None when there is no text.
    """
    text = completion_text(completion)
    if text is None:
        return None
    if "<answer>" in text:
        parsed = parse_generation(text, TaskType.INDUCTION, Role.SOLVE)
        if isinstance(parsed, Parsed):
            return parsed.program
    visible = strip_think(text)
    blocks = fenced_blocks(visible, allow_empty_language=True)
    for language, body in blocks:
        if language.lower() in ("python", "py", "python3"):
            return str(body)
    if blocks:
        return str(blocks[0][1])
    return text if text.strip() else None


def extract_answer(completion: object, task_type: TaskType | str) -> str | None:
    """The bare answer in a completion: a value (deduction), argument text (abduction) or a program
    (induction, via :func:`extract_code`).

    Accepts azr's ``<answer>`` format, CRUXEval's ``[ANSWER]…[/ANSWER]`` tags, a fenced block, a full
    assertion (``assert f(x) == y``), a call (``f(x)``, CRUXEval-I's generation format) or the bare
    answer. Returns None when there is nothing to grade; never raises.
    """
    task_type = TaskType(task_type)
    if task_type is TaskType.INDUCTION:
        return extract_code(completion)
    text = completion_text(completion)
    if text is None:
        return None
    if "<answer>" in text:
        parsed = parse_generation(text, task_type, Role.SOLVE)
        if not isinstance(parsed, Parsed):
            return None
        return spec(task_type).answer(parsed)
    tagged = tagged_spans(text, "[ANSWER]", "[/ANSWER]", to_end=True)
    if tagged:
        text = tagged[-1]
    fenced = fenced_blocks(text, allow_empty_language=True)
    if fenced:
        text = fenced[-1][1]
    text = text.strip()
    if text.startswith("assert ") or text.startswith("assert("):
        text = text[len("assert") :].strip()
    if not text:
        # Empty argument text is a real abduction answer (``f()``); an empty value is not an answer.
        return "" if task_type is TaskType.ABDUCTION else None
    return _split_assertion(text, task_type)


def _split_assertion(text: str, task_type: TaskType) -> str:
    """``f(args) == value`` gives ``value`` (deduction) or ``args`` (abduction); ``f(args)`` gives ``args``
    (abduction). Anything else is returned as is, for the Verifier to accept or reject."""
    if len(text) > MAX_PARSE_CHARS:
        return text
    try:
        tree = ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return text
    call: ast.Call | None = None
    if isinstance(tree, ast.Compare) and len(tree.ops) == 1 and isinstance(tree.ops[0], ast.Eq):
        left, right = tree.left, tree.comparators[0]
        if isinstance(left, ast.Call) and _is_f(left):
            if task_type is TaskType.DEDUCTION:
                return ast.get_source_segment(text, right) or text
            call = left
        elif task_type is TaskType.ABDUCTION and isinstance(right, ast.Call) and _is_f(right):
            call = right
    elif task_type is TaskType.ABDUCTION and isinstance(tree, ast.Call) and _is_f(tree):
        call = tree
    if call is None:
        return text
    segment, head = ast.get_source_segment(text, call), ast.get_source_segment(text, call.func)
    if not segment or not head:
        return text
    inner = segment[len(head) :].strip()
    return inner[1:-1].strip() if inner.startswith("(") and inner.endswith(")") else text


def _is_f(call: ast.Call) -> bool:
    return isinstance(call.func, ast.Name) and call.func.id == "f"


def assemble_program(code: str, code_prompt: str = "", entry_point: str | None = None) -> str:
    """The program to test: ``code`` alone, or placed after a HumanEval-style ``code_prompt``.

    When ``code`` defines ``entry_point`` at top level (a whole function, as chat models write it),
    it follows the prompt on a new line and its definition replaces the prompt's; the prompt still
    contributes its imports and helpers. Otherwise ``code`` continues the prompt (a function body).
    """
    if not code_prompt:
        return code
    if entry_point and re.search(rf"^(?:async\s+)?def\s+{re.escape(entry_point)}\s*\(", code, re.MULTILINE):
        return f"{code_prompt}\n{code}"
    return code_prompt + code


def score_tests(
    programs: Sequence[str | None],
    tests: Sequence[ProgramTests | str],
    *,
    fraction: bool = False,
    timeout_s: float = DEFAULT_TESTS_TIMEOUT_S,
    sandbox: Sandbox | None = None,
) -> list[float]:
    """1.0 if each program passes all its tests, else 0.0 (with ``fraction=True``: the fraction of
    its test cases passed). A None program scores 0. A plain string is a ``ProgramTests`` of asserts."""
    if len(programs) != len(tests):
        raise ValueError(f"{len(programs)} programs but {len(tests)} test cases")
    checks = [ProgramTests(case) if isinstance(case, str) else case for case in tests]
    full = [
        None if program is None else assemble_program(program, check.code_prompt, check.entry_point)
        for program, check in zip(programs, checks, strict=True)
    ]
    return Verifier(sandbox or default_sandbox()).tests(
        full, [c.cases for c in checks], [c.entry_point for c in checks], fraction=fraction, timeout_s=timeout_s
    )


def score_io(
    programs: Sequence[str],
    inputs: Sequence[str],
    outputs: Sequence[str],
    *,
    equality: Equality = "typed",
    sandbox: Sandbox | None = None,
) -> list[bool]:
    """Does each program's ``f(<input>)`` equal ``output``? ``input`` is argument text run next to the
    program (a dataset's own inputs, as validation runs them; each in its own fresh instance),
    ``output`` a plain data literal; ``equality="value"`` compares with ``==`` instead of by type."""
    if not len(programs) == len(inputs) == len(outputs):
        raise ValueError(f"{len(programs)} programs, {len(inputs)} inputs and {len(outputs)} outputs")
    verifier = Verifier(sandbox or default_sandbox(), equality=equality)
    entry = verifier.policy.entry
    runnable = [k for k, text in enumerate(inputs) if not verifier.policy.check_input(text)]
    reported = verifier.reported([Job(programs[k], f"{entry}({inputs[k]}\n)") for k in runnable])
    verdicts = [False] * len(programs)
    for k, text in zip(runnable, reported, strict=True):
        verdicts[k] = verifier.compare(outputs[k], text).correct
    return verdicts


def score_deduction(
    programs: Sequence[str],
    inputs: Sequence[str],
    outputs: Sequence[str],
    predictions: Sequence[object],
    *,
    sandbox: Sandbox | None = None,
) -> list[bool]:
    """Is each predicted output (raw text or a bare plain data value) equal to the gold ``output``, types
    included (``Verifier.grade``: code instead of a value is never evaluated)?"""
    triples = [Triple(p, i, o) for p, i, o in zip(programs, inputs, outputs, strict=True)]
    answers = [extract_answer(a, TaskType.DEDUCTION) for a in predictions]
    return Verifier(sandbox or default_sandbox()).deduction(triples, answers)


def score_abduction(
    programs: Sequence[str],
    outputs: Sequence[str],
    predictions: Sequence[object],
    *,
    sandbox: Sandbox | None = None,
) -> list[bool]:
    """Does each program map the predicted input (raw text, ``f(...)`` or argument text) to ``output``?"""
    triples = [Triple(p, "", o) for p, o in zip(programs, outputs, strict=True)]
    answers = [extract_answer(a, TaskType.ABDUCTION) for a in predictions]
    return Verifier(sandbox or default_sandbox()).abduction(triples, answers)


def score_induction(
    io_pairs: Sequence[Sequence[tuple[str, str]]],
    predictions: Sequence[object],
    *,
    fraction: bool = False,
    sandbox: Sandbox | None = None,
) -> list[float]:
    """Does each predicted program (raw text or code) reproduce all its (input, output) pairs?"""
    programs = [extract_code(p) for p in predictions]
    pairs = [[(str(i), str(o)) for i, o in case] for case in io_pairs]
    return Verifier(sandbox or default_sandbox()).induction(pairs, programs, fraction=fraction)
