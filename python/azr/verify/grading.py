"""Grade solver answers by execution in the sandbox: the one implementation of correctness.

The trainer, :mod:`azr.verify.scoring`, ``azr verify``, CRUXEval and HumanEval evaluation and the TRL/veRL
adapters all call :meth:`Verifier.grade` (or its thin per-type wrappers). Proposed tasks are checked
before they exist by :mod:`azr.verify.validation`; what else differs between task types (the block a
reply must hold, its prompt) lives in :mod:`azr.verify.tasktypes`.

Model text is data, never code. Answers are read as plain data on the host (:mod:`azr.verify.values`); only
programs run, and only in the sandbox, each (program, input) in its own fresh instance. A program can
tamper with everything in its instance, even what the instance reports, but all that comes back is
the ``repr`` of a value, which is read as plain data on the host and compared there with the gold
value: to pass, a program must report the gold value, which is solving the task. Equality is typed
by default (``1``, ``True`` and ``1.0`` differ; see :mod:`azr.verify.values`).

Grading rules (``Verifier(answers="data")``, the default for every reward):

- **deduction**: the answer must be a plain data literal (:mod:`azr.verify.values`); anything else is a
  format error and is never evaluated. It is compared with the gold output on the host.
- **abduction**: the answer must be an argument list of plain data literals (keywords allowed). The
  task's program is called with those values, in a fresh instance where no other model text runs
  (azr writes the call from the values), and the value it reports is compared with the gold output.
- **induction**: the answer is a program. Each (input, output) case runs in its own fresh instance,
  so nothing one case does can change another case's verdict, and each reported value is compared
  with its gold output. The score is the fraction of cases reproduced; the verdict is right only if
  all are.

With ``answers="expression"`` (CRUXEval compatibility, for ``azr eval`` only), an answer that is not
plain data may be an expression. A deduction answer is evaluated *alone* in a fresh instance without
the task's program (an answer that calls ``f`` fails with ``NameError``) and only the plain data it
reports is compared. An abduction answer whose arguments are *pure* (literals, operators, pure
builtins such as ``range`` and ``len``, plain method calls, lambdas that name only their parameters:
``_core.CheckPolicy.check_pure_arguments``) names nothing of the program, so ``f`` is called on it as
written in a fresh instance: ``[6, 4, 2], lambda x: x < 2``. Other arguments are evaluated in the
program's namespace (some CRUXEval gold inputs name program globals) with ``f``, and every global
bound to it, replaced for good by a function that refuses to run, and must evaluate to plain data;
``f`` is then called on those values in a fresh instance, as for a data answer. So an answer that
calls ``f``, or builds an object or a generator, scores nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from azr import _core
from azr.sandbox import Job, Sandbox, Status
from azr.verify import values
from azr.verify.tasks import Task, TaskType, Triple

__all__ = ["AnswerMode", "Grade", "Verdict", "Verifier"]

AnswerMode = Literal["data", "expression"]
"""``data``: answers must be plain data (rewards). ``expression``: CRUXEval compatibility, a non-literal
answer is evaluated alone (never next to the task's program) and the data it reports is used."""


class Verdict(StrEnum):
    """How an answer fared."""

    FORMAT_ERROR = "format_error"
    """No answer, or an answer of the wrong form (code where data was asked for); never evaluated."""
    WRONG = "wrong"
    """A well-formed answer that does not solve the task."""
    ACCEPTED = "accepted"
    """Verified by execution."""


@dataclass(frozen=True, slots=True)
class Grade:
    """The verdict on one answer. ``score`` is 1.0 when accepted; for induction, the fraction of cases
    reproduced (also when wrong). ``reason`` says why an answer was not accepted."""

    verdict: Verdict
    score: float = 0.0
    reason: str = ""

    @property
    def correct(self) -> bool:
        return self.verdict is Verdict.ACCEPTED

    @classmethod
    def accepted(cls, score: float = 1.0) -> Grade:
        return cls(Verdict.ACCEPTED, score)

    @classmethod
    def wrong(cls, reason: str, score: float = 0.0) -> Grade:
        return cls(Verdict.WRONG, score, reason)

    @classmethod
    def format_error(cls, reason: str) -> Grade:
        return cls(Verdict.FORMAT_ERROR, 0.0, reason)


@functools.lru_cache(maxsize=8192)
def _gold(text: str) -> values.Data | values.NotData:
    """Gold outputs repeat across the answers to one task: read each once."""
    return values.parse_value(text)


# Test code (HumanEval's `check`, plain asserts) runs next to the program, so it compares whatever the
# program's functions return: an object whose `__eq__` is always true passed `assert candidate(1) == 3`.
# The driver runs the program in one namespace and the tests in a copy where every function the program
# defined is wrapped to return plain data, rebuilt from exact built-in types (by identity of the type,
# which no metaclass can fake), or raise; the program's own calls, through its own globals, are not
# wrapped. It binds what it uses before the program runs. Written by azr; the program and tests reach it
# as string literals, never spliced into code.
_TESTS_DRIVER = """
def __azr_run_tests(program, tests, entry, _type=type, _exec=exec, _dict=dict, _list=list, _tuple=tuple,
                    _set=set, _frozenset=frozenset, _items=dict.items, _callable=callable, _error=TypeError,
                    _scalars=(int, float, complex, str, bytes, bool, type(None))):
    def plain(value, depth):
        kind = _type(value)
        for scalar in _scalars:
            if kind is scalar:
                return value
        if depth > 100:
            raise _error("the result nests too deeply to be plain data")
        if kind is _list:
            return [plain(item, depth + 1) for item in value]
        if kind is _tuple:
            return _tuple([plain(item, depth + 1) for item in value])
        if kind is _dict:
            return {plain(k, depth + 1): plain(v, depth + 1) for k, v in _items(value)}
        if kind is _set:
            return {plain(item, depth + 1) for item in value}
        if kind is _frozenset:
            return _frozenset([plain(item, depth + 1) for item in value])
        raise _error("the function returned an object that is not plain data")

    def plain_results(function):
        def candidate(*args, **kwargs):
            return plain(function(*args, **kwargs), 0)
        return candidate

    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    _exec(program, namespace)
    tested = _dict(namespace)
    for name, value in _items(namespace):
        if _callable(value):  # classes too: an instance of a program's class is not plain data
            tested[name] = plain_results(value)
    _exec(tests, tested)
    if entry is not None:
        tested["check"](tested[entry])
"""


class Verifier:
    """Grades solver answers by execution. Malformed or hostile answers get a verdict, never an error.

    Args:
        sandbox: runs the programs.
        policy: static checks for induction programs (and expression-mode answers).
        answers: ``"data"`` (default; every reward uses it) or ``"expression"`` (CRUXEval
            compatibility for ``azr eval``; the rules are in this module's docstring).
        equality: ``"typed"`` (default) or ``"value"`` (Python ``==``; CRUXEval's rule).
    """

    def __init__(
        self,
        sandbox: Sandbox,
        policy: _core.CheckPolicy | None = None,
        *,
        answers: AnswerMode = "data",
        equality: values.Equality = "typed",
    ) -> None:
        if answers not in ("data", "expression"):
            raise ValueError(f"answers must be 'data' or 'expression', got {answers!r}")
        if equality not in ("typed", "value"):
            raise ValueError(f"equality must be 'typed' or 'value', got {equality!r}")
        self.sandbox = sandbox
        self.policy = policy or _core.CheckPolicy()
        self.answers: AnswerMode = answers
        self.equality: values.Equality = equality

    def grade(self, tasks: Sequence[Task], answers: Sequence[str | None]) -> list[Grade]:
        """Grade ``answers[k]`` (the answer text a task type asks for; None when there is none) against
        ``tasks[k]``, of any mix of task types, in one pass through the sandbox per type."""
        if len(tasks) != len(answers):
            raise ValueError(f"{len(tasks)} tasks but {len(answers)} answers")
        grades: list[Grade | None] = [None] * len(tasks)
        by_type: dict[TaskType, list[int]] = {}
        for k, task in enumerate(tasks):
            by_type.setdefault(TaskType(task.task_type), []).append(k)
        for task_type, positions in by_type.items():
            texts = [a if isinstance(a, str) else None for a in (answers[k] for k in positions)]
            results = _GRADERS[task_type](self, [tasks[k] for k in positions], texts)
            for k, result in zip(positions, results, strict=True):
                grades[k] = result
        return [g if g is not None else Grade.wrong("not graded") for g in grades]

    # --- primitives the task types grade with --------------------------------------------------

    def reported(self, jobs: Sequence[Job]) -> list[str | None]:
        """Run each job in its own fresh instance; the ``repr`` each reported, None when it failed."""
        return [r.value_repr if r.status is Status.OK else None for r in self.sandbox.run_batch(jobs)]

    def compare(self, gold: str, predicted: values.Data | values.NotData | str | None) -> Grade:
        """Is ``predicted`` (read data, or reported text, or None) equal to the gold output text?"""
        reference = _gold(gold)
        if isinstance(reference, values.NotData):
            return Grade.wrong(f"the gold output is not plain data: {reference.reason}")
        if isinstance(predicted, str):
            predicted = values.parse_value(predicted)
        if predicted is None:
            return Grade.wrong("the program did not report a value")
        if isinstance(predicted, values.NotData):
            return Grade.wrong(f"the reported value is not plain data: {predicted.reason}")
        if values.equal(reference.value, predicted.value, self.equality):
            return Grade.accepted()
        return Grade.wrong("not equal to the gold output")

    # --- thin per-type wrappers (same signatures as before the one grading path) ---------------

    def deduction(self, triples: Sequence[Triple], outputs: Sequence[str | None]) -> list[bool]:
        """Is each predicted output equal to the triple's output?"""
        tasks = [Task(TaskType.DEDUCTION, t.program, (t.input,), (t.output,)) for t in triples]
        return [g.correct for g in self.grade(tasks, outputs)]

    def abduction(self, triples: Sequence[Triple], inputs: Sequence[str | None]) -> list[bool]:
        """Does the triple's program map each predicted input to the triple's output?"""
        tasks = [Task(TaskType.ABDUCTION, t.program, (t.input,), (t.output,)) for t in triples]
        return [g.correct for g in self.grade(tasks, inputs)]

    def induction(
        self, cases: Sequence[Sequence[tuple[str, str]]], programs: Sequence[str | None], *, fraction: bool = False
    ) -> list[float]:
        """Does each predicted program reproduce all its (input, output) pairs?

        Returns 1.0/0.0, or with ``fraction=True`` the fraction of pairs reproduced.
        """
        tasks = [
            Task(TaskType.INDUCTION, "", tuple(i for i, _ in pairs), tuple(o for _, o in pairs)) for pairs in cases
        ]
        grades = self.grade(tasks, programs)
        return [g.score if fraction else float(g.correct) for g in grades]

    def tests(
        self,
        programs: Sequence[str | None],
        cases: Sequence[Sequence[str]],
        entry_points: Sequence[str | None],
        *,
        fraction: bool = False,
        timeout_s: float | None = None,
    ) -> list[float]:
        """Does each program pass its test code (HumanEval style)? Each case runs after the program in its
        own fresh instance and passes when it raises nothing and, with an entry point ``e``,
        ``check(e)`` returns. 1.0/0.0, or with ``fraction=True`` the fraction of cases passed; a None
        program or one without cases scores 0.

        The tests see the program's functions only through wrappers that hand back plain data (exact
        built-in types, rebuilt; see ``_TESTS_DRIVER``): an object whose ``__eq__`` is always true, or a
        subclass of ``int`` or ``str`` that compares equal to anything, fails the test instead of
        passing it. Unlike the three task graders, the verdict still comes from the instance the program
        ran in (the tests must run next to it), so a program written to tamper with its own interpreter
        (reaching the driver through frames, rebinding what the tests use) can pass: the same limit as
        HumanEval's reference harness. Prefer the task graders for RL rewards."""
        jobs: list[Job] = []
        owners: list[int] = []
        for k, (program, blocks, entry) in enumerate(zip(programs, cases, entry_points, strict=True)):
            if program is None:
                continue
            for block in blocks:
                call = f"__azr_run_tests({program!r}, {block!r}, {entry!r})"
                jobs.append(Job(_TESTS_DRIVER, call, timeout_s=timeout_s))
                owners.append(k)
        passed = [0] * len(programs)
        total = [0] * len(programs)
        for k, result in zip(owners, self.sandbox.run_batch(jobs), strict=True):
            total[k] += 1
            passed[k] += result.status is Status.OK
        if fraction:
            return [p / t if t else 0.0 for p, t in zip(passed, total, strict=True)]
        return [float(t > 0 and p == t) for p, t in zip(passed, total, strict=True)]


# --- the graders of the three task types ---------------------------------------------------------

# Expression mode (CRUXEval compatibility) for abduction, for an answer that is neither plain data nor
# pure (`_core.CheckPolicy.check_pure_arguments`; some CRUXEval gold inputs name program globals): its
# argument expressions are evaluated in the task program's namespace with the entry function, and every
# other global bound to it, replaced by one that refuses to run, for good: nothing the answer built can
# call `f` later, not even a `__repr__` the harness runs when it reports the values. They must evaluate
# to plain data; the call itself then runs in a fresh instance from azr-written source, like a data answer.
_REFUSED_ENTRY = """

def __azr_arguments(entry, arguments):
    def refused(*args, **kwargs):
        raise RuntimeError("an answer may not call the task's function")
    namespace = globals()
    for name, value in list(namespace.items()):
        if value is entry:
            namespace[name] = refused
    return arguments()

def __azr_pack(*args, **kwargs):
    return args, kwargs
"""


def _grade_deduction(verifier: Verifier, tasks: Sequence[Task], answers: Sequence[str | None]) -> list[Grade]:
    grades: list[Grade | None] = [None] * len(tasks)
    predicted: list[values.Data | str | None] = [None] * len(tasks)  # read data, or a reported repr
    evaluate: list[int] = []
    for k, answer in enumerate(answers):
        if answer is None:
            grades[k] = Grade.format_error("no answer")
            continue
        parsed = values.parse_value(answer)
        if isinstance(parsed, values.Data):
            predicted[k] = parsed
        elif verifier.answers == "expression" and not verifier.policy.check_value(answer):
            evaluate.append(k)
        else:
            grades[k] = Grade.format_error(f"the output is not a plain data literal: {parsed.reason}")
    # Expression mode: the answer runs alone (no program, no `f`); only the data it reports counts.
    reported = verifier.reported([Job("", f"({answers[k]}\n)") for k in evaluate])
    for k, text in zip(evaluate, reported, strict=True):
        predicted[k] = text
    for k, task in enumerate(tasks):
        if grades[k] is None:
            grades[k] = verifier.compare(task.outputs[0], predicted[k])
    return _complete(grades)


def _grade_abduction(verifier: Verifier, tasks: Sequence[Task], answers: Sequence[str | None]) -> list[Grade]:
    grades: list[Grade | None] = [None] * len(tasks)
    entry = verifier.policy.entry
    arguments: dict[int, values.Arguments] = {}
    evaluate: list[int] = []
    pure: list[int] = []
    for k, answer in enumerate(answers):
        if answer is None:
            grades[k] = Grade.format_error("no answer")
            continue
        parsed = values.parse_arguments(answer)
        if isinstance(parsed, values.Arguments):
            arguments[k] = parsed
        elif verifier.answers == "expression" and not verifier.policy.check_pure_arguments(answer, tasks[k].program):
            pure.append(k)
        elif verifier.answers == "expression" and not verifier.policy.check_input(answer):
            evaluate.append(k)
        else:
            grades[k] = Grade.format_error(f"the input is not an argument list of plain data: {parsed.reason}")
    expressions = [
        Job(tasks[k].program + _REFUSED_ENTRY, f"__azr_arguments({entry}, lambda: __azr_pack({answers[k]}\n))")
        for k in evaluate
    ]
    for k, text in zip(evaluate, verifier.reported(expressions), strict=True):
        packed = _unpack(values.parse_value(text))
        if packed is None:
            grades[k] = Grade.wrong("the input did not evaluate to plain data")
        else:
            arguments[k] = packed
    # azr writes every call from the values: none of the answer's text reaches this instance, but for a
    # pure answer (expression mode), which names nothing of the program and so cannot call `f`.
    calls = sorted(arguments)
    jobs = [Job(tasks[k].program, arguments[k].call(entry)) for k in calls]
    jobs += [Job(tasks[k].program, f"{entry}({answers[k]}\n)") for k in pure]
    for k, text in zip(calls + pure, verifier.reported(jobs), strict=True):
        grades[k] = verifier.compare(tasks[k].outputs[0], text)
    return _complete(grades)


def _unpack(parsed: values.Data | values.NotData) -> values.Arguments | None:
    """``((args...), {kwargs})`` reported by ``__azr_pack`` as an argument list, or None."""
    if not isinstance(parsed, values.Data) or not isinstance(parsed.value, tuple) or len(parsed.value) != 2:
        return None
    args, kwargs = parsed.value
    if not isinstance(args, tuple) or not isinstance(kwargs, dict):
        return None
    if not all(type(key) is str and key.isidentifier() and key.isascii() for key in kwargs):
        return None
    return values.Arguments(args, dict(kwargs))


def _grade_induction(verifier: Verifier, tasks: Sequence[Task], answers: Sequence[str | None]) -> list[Grade]:
    grades: list[Grade | None] = [None] * len(tasks)
    cases: list[tuple[int, str]] = []  # (task position, gold output) per job
    jobs: list[Job] = []
    entry = verifier.policy.entry
    for k, (task, program) in enumerate(zip(tasks, answers, strict=True)):
        if program is None:
            grades[k] = Grade.format_error("no program")
        elif not task.inputs:
            grades[k] = Grade.wrong("the task has no cases")
        elif problem := verifier.policy.check_program(program):
            grades[k] = Grade.wrong(f"the program is rejected: {problem[1]}")
        else:
            # One instance per case: a case cannot leave anything behind for the next one. An input
            # that is not one argument list (only a hand-made task has one) fails its case.
            for case_input, gold in task.pairs:
                if not verifier.policy.check_input(case_input):
                    jobs.append(Job(program, f"{entry}({case_input}\n)"))
                    cases.append((k, gold))
    passed = dict.fromkeys(range(len(tasks)), 0)
    for (k, gold), text in zip(cases, verifier.reported(jobs), strict=True):
        passed[k] += verifier.compare(gold, text).correct
    for k, task in enumerate(tasks):
        if grades[k] is None:
            n = len(task.inputs)
            score = passed[k] / n
            grades[k] = Grade.accepted(score) if passed[k] == n else Grade.wrong(f"{passed[k]}/{n} cases", score)
    return _complete(grades)


def _complete(grades: list[Grade | None]) -> list[Grade]:
    assert all(g is not None for g in grades)
    return [g for g in grades if g is not None]


_GRADERS: dict[TaskType, Callable[[Verifier, Sequence[Task], Sequence[str | None]], list[Grade]]] = {
    TaskType.DEDUCTION: _grade_deduction,
    TaskType.ABDUCTION: _grade_abduction,
    TaskType.INDUCTION: _grade_induction,
}
"""How answers to each task type are graded (the rules in this module's docstring)."""
