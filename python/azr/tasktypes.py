"""The three task types, each in one place: what the solver must answer, how the answer is taken from
a parsed reply, how the solver is prompted, and how the answer is graded.

Everything that differs between deduction, abduction and induction lives in :data:`TASK_TYPES`; the
trainer, :mod:`azr.scoring`, ``azr verify``, CRUXEval evaluation and the TRL/veRL adapters all go
through :meth:`azr.grading.Verifier.grade`, which dispatches here. A fourth task type is one more
entry.

Grading rules (``Verifier(answers="data")``, the default for every reward):

- **deduction**: the answer must be a plain data literal (:mod:`azr.values`); anything else is a
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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from azr import values
from azr.prompts import SolverExample, solver_messages
from azr.sandbox import Job
from azr.tasks import Task, TaskType

if TYPE_CHECKING:
    from azr.grading import Grade, Verifier
    from azr.parsing import Parsed
    from azr.sampling.base import Message

__all__ = ["TASK_TYPES", "TaskTypeSpec", "spec"]

GradeFn = Callable[["Verifier", Sequence[Task], Sequence["str | None"]], list["Grade"]]

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


@dataclass(frozen=True, slots=True)
class TaskTypeSpec:
    """Everything about one task type that the rest of azr needs."""

    task_type: TaskType
    solver_block: str
    """The fenced block a solver's reply must hold (``output``, ``input`` or ``python``)."""
    answer: Callable[[Parsed], str | None]
    """The answer text in a parsed solver reply."""
    solver_prompt: Callable[[Task, int, SolverExample], list[Message]]
    """The solver's chat for a task; the int is how many induction pairs the solver sees, the last
    argument whether a solved example comes first (``selfplay.solver_example``)."""
    grade: GradeFn
    """Grades answers (None: no answer) to tasks of this type: one :class:`~azr.grading.Grade` each."""


def _deduction_prompt(task: Task, shown: int, example: SolverExample = "none") -> list[Message]:
    return solver_messages(TaskType.DEDUCTION, program=task.program, input=task.inputs[0], example=example)


def _abduction_prompt(task: Task, shown: int, example: SolverExample = "none") -> list[Message]:
    return solver_messages(TaskType.ABDUCTION, program=task.program, output=task.outputs[0], example=example)


def _induction_prompt(task: Task, shown: int, example: SolverExample = "none") -> list[Message]:
    return solver_messages(TaskType.INDUCTION, io_pairs=task.pairs[:shown], message=task.message, example=example)


def _grade_deduction(verifier: Verifier, tasks: Sequence[Task], answers: Sequence[str | None]) -> list[Grade]:
    from azr.grading import Grade

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
    from azr.grading import Grade

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
    from azr.grading import Grade

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


def _output(parsed: Parsed) -> str | None:
    return parsed.output


def _input(parsed: Parsed) -> str | None:
    return parsed.inputs[0] if parsed.inputs else None


def _program(parsed: Parsed) -> str | None:
    return parsed.program


TASK_TYPES: dict[TaskType, TaskTypeSpec] = {
    TaskType.DEDUCTION: TaskTypeSpec(TaskType.DEDUCTION, "output", _output, _deduction_prompt, _grade_deduction),
    TaskType.ABDUCTION: TaskTypeSpec(TaskType.ABDUCTION, "input", _input, _abduction_prompt, _grade_abduction),
    TaskType.INDUCTION: TaskTypeSpec(TaskType.INDUCTION, "python", _program, _induction_prompt, _grade_induction),
}
"""The spec of each task type."""


def spec(task_type: TaskType | str) -> TaskTypeSpec:
    """The spec of ``task_type`` (a ``TaskType`` or its name)."""
    return TASK_TYPES[TaskType(task_type)]
