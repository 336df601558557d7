"""Validate proposed tasks and grade solver answers, by execution in the sandbox.

The one implementation of correctness: the trainer, :mod:`azr.scoring`, ``azr verify``, CRUXEval and
HumanEval evaluation and the TRL/veRL adapters all call :meth:`Verifier.grade` (or its thin
per-type wrappers). What differs between task types lives in :mod:`azr.tasktypes`.

Model text is data, never code. Answers are read as plain data on the host (:mod:`azr.values`); only
programs run, and only in the sandbox, each (program, input) in its own fresh instance. A program can
tamper with everything in its instance, even what the instance reports, but all that comes back is
the ``repr`` of a value, which is read as plain data on the host and compared there with the gold
value: to pass, a program must report the gold value, which is solving the task. Equality is typed
by default (``1``, ``True`` and ``1.0`` differ; see :mod:`azr.values`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from azr import _core, values
from azr.replay_builds import ReplayBuilds, choose_replay_builds, measure_replay_builds
from azr.sandbox import ExecResult, Job, Sandbox, Status
from azr.tasks import Task, TaskType, Triple

__all__ = ["AnswerMode", "Grade", "Rejected", "TaskValidator", "Verdict", "Verifier", "check_policy"]

AnswerMode = Literal["data", "expression"]
"""``data``: answers must be plain data (rewards). ``expression``: CRUXEval compatibility, a non-literal
answer is evaluated alone (never next to the task's program) and the data it reports is used."""


def check_policy(**overrides: object) -> _core.CheckPolicy:
    """The static-check policy (defaults documented in ``_core.CheckPolicy``)."""
    return _core.CheckPolicy(**overrides)  # type: ignore[arg-type]


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


@dataclass(frozen=True, slots=True)
class Rejected:
    """Why a proposed task was not accepted. ``kind`` is machine-readable, ``reason`` human-readable."""

    kind: str
    reason: str


@functools.lru_cache(maxsize=8192)
def _gold(text: str) -> values.Data | values.NotData:
    """Gold outputs repeat across the answers to one task: read each once."""
    return values.parse_value(text)


# Expression markers the guest harness reads (`sandbox-wasm/harness/azr_guest.py`); model text never
# starts an expression, since azr writes each as `f(<input>)`.
SALTED = "\0azr:salted\0"
"""Salt first every function whose value a solver cannot work out by reading the program, wherever the
program reaches it from, so that it records being called: checksums, digests (the C modules' too),
compression, seeding or setting a generator's state, and ``hash``, ``id`` and ``dir`` when the program's
own code calls them (the standard library uses those innocently); the value reported is ``(value, names
of the functions called)``. The static checks reject programs that name these (``opaque``); the salted
run, in the first run's build and under its seed, catches the ways past a denylist (a module reached as
an attribute of another, a string evaluated as an annotation)."""
_MAY_REACH_SALTED = re.compile(r"import|\bhash\b|\bid\b|\bdir\b")
SHIFTED = "\0azr:shifted\0"
"""Shift the heap first (objects of many sizes held while the program runs), so outputs that expose
memory addresses (``id(object()) % 97``, a default ``repr``) differ, as between two processes."""


def _salted(result: ExecResult, max_output_chars: int) -> tuple[object, list[str]] | None:
    """The salted run's value and the salted functions it called; None when it failed or reported
    anything but ``(plain data, [names])``."""
    if result.status is not Status.OK or len(result.value_repr or "") > max_output_chars + 1000:
        return None
    parsed = values.parse_value(result.value_repr)
    if not isinstance(parsed, values.Data) or not isinstance(parsed.value, tuple) or len(parsed.value) != 2:
        return None
    value, called = parsed.value
    if not isinstance(called, list) or not all(isinstance(name, str) for name in called):
        return None
    return value, called


class TaskValidator:
    """Accepts a proposed (program, input) only if it passes static checks, runs, reports plain data
    written exactly as ``repr`` writes it, within ``max_output_chars`` (over-long outputs are rejected,
    never truncated), and reports the same value (typed equality) in every replay: alone, under
    another seed, with the heap shifted (so memory addresses cannot decide it) and in another guest
    build, whose string-hash secret differs (so the iteration order of a set of strings cannot decide
    it either; see ``hash_secrets``).

    Every (program, input) runs in its own fresh instance in every run, so no proposal can change
    another proposal's verdict.

    Args:
        sandbox: runs the first run; the replays run in other builds of its guest, chosen so that their
            string-hash secrets differ from its own where small sets are concerned
            (:mod:`azr.replay_builds`; :attr:`replay_builds` says which and how well).
        hash_secrets: string-hash secrets the output must agree under (the first run's plus
            ``hash_secrets - 1`` replays; each extra one is a guest build, ~20 s once, and ~60 MiB, and
            choosing them builds 1.6 more on average, once). The check is probabilistic: with the
            default 3, the builds are drawn until a two-string join keeps its order in all of them for
            at most 20% of the probe's sets (11% on average over simulated machines, worst 28%; a
            three-string join 0.8%; docs/grading.md). Such a proposal is a losing bet for the proposer.
        seeds: the random seed of the first run and of the first replay (replay ``r`` uses
            ``seeds[1] + r - 1``).
        replay_sandboxes: the replays' sandboxes, if you built them yourself (``hash_secrets - 1``
            of them, each with its own hash seed).
    """

    def __init__(
        self,
        sandbox: Sandbox,
        policy: _core.CheckPolicy | None = None,
        *,
        max_output_chars: int = 2000,
        hash_secrets: int = 3,
        seeds: tuple[int, int] = (0, 1),
        replay_sandboxes: Sequence[Sandbox] | None = None,
    ) -> None:
        if not isinstance(hash_secrets, int) or isinstance(hash_secrets, bool) or hash_secrets < 2:
            raise ValueError(f"hash_secrets must be an int >= 2 (one run plus replays), got {hash_secrets!r}")
        if replay_sandboxes is not None:
            replay_sandboxes = tuple(replay_sandboxes)
            if len(replay_sandboxes) != hash_secrets - 1:
                raise ValueError(f"replay_sandboxes: need {hash_secrets - 1} sandboxes, got {len(replay_sandboxes)}")
            builds = [sandbox.hash_seed, *(replay.hash_seed for replay in replay_sandboxes)]
            if len(set(builds)) != len(builds):
                raise ValueError(f"replay_sandboxes must each use another guest build, got hash seeds {builds}")
        self.sandbox = sandbox
        self.policy = policy or _core.CheckPolicy()
        self.max_output_chars = max_output_chars
        self.hash_secrets = hash_secrets
        self.seeds = seeds
        self._replays = replay_sandboxes
        self._chosen: ReplayBuilds | None = None

    @property
    def replay_sandboxes(self) -> tuple[Sandbox, ...]:
        """The replays' sandboxes (chosen on first use: building a guest takes a while once)."""
        if self._replays is None:
            self._replays = self.replay_builds.sandboxes
        return self._replays

    @property
    def replay_builds(self) -> ReplayBuilds:
        """The chosen replay builds and how many probe sets they order like the first run's build
        (measured for ``replay_sandboxes`` given by the caller too)."""
        if self._chosen is None:
            if self._replays is None:
                self._chosen = choose_replay_builds(self.sandbox, self.hash_secrets - 1)
            else:
                self._chosen = measure_replay_builds(self.sandbox, self._replays)
        return self._chosen

    def validate(self, items: Sequence[tuple[str, str]]) -> list[Triple | Rejected]:
        """Validate (program, input) proposals; one result per item, in order."""
        out: list[Triple | Rejected | None] = [None] * len(items)
        static = self.policy.check_programs([program for program, _ in items])
        for k, ((_, text), problem) in enumerate(zip(items, static, strict=True)):
            problem = problem or self.policy.check_input(text)
            if problem:
                out[k] = Rejected(*problem)
        entry = self.policy.entry
        pending = [k for k in range(len(items)) if out[k] is None]
        calls = {k: f"{entry}({items[k][1]}\n)" for k in pending}
        # The first run, and the salted run in its own instance (same build, same seed). A program that
        # imports nothing reaches no module, and one whose text never says `hash`, `id` or `dir` (even in
        # a string) cannot call them: such a program needs no salted run (most proposals; it halves the cost).
        salt = [k for k in pending if _MAY_REACH_SALTED.search(items[k][0])]
        runs = self.sandbox.run_batch(
            [Job(items[k][0], calls[k], seed=self.seeds[0]) for k in pending]
            + [Job(items[k][0], SALTED + calls[k], seed=self.seeds[0]) for k in salt]
        )
        salted_runs = dict(zip(salt, runs[len(pending) :], strict=True))
        first: dict[int, values.Data] = {}
        for k, result in zip(pending, runs[: len(pending)], strict=True):
            output = result.value_repr
            if result.status is not Status.OK or output is None:
                out[k] = Rejected(f"runtime_{result.status}", f"{result.error_type}: {result.error_message}")
            elif len(output) > self.max_output_chars:
                out[k] = Rejected("output_too_long", f"output repr has {len(output)} characters")
            elif isinstance(parsed := values.parse_value(output), values.NotData):
                out[k] = Rejected("output_not_plain_data", f"output {output[:80]!r}: {parsed.reason}")
            elif not parsed.canonical:
                out[k] = Rejected("output_not_plain_data", f"output {output[:80]!r} is not the repr of its own value")
            else:
                first[k] = parsed
                out[k] = Triple(items[k][0], items[k][1], output)
        # Each replay runs each input alone, under another seed (randomness, clocks), another string-hash
        # secret (the iteration order of a set of strings) and a shifted heap (addresses): a program whose
        # output depends on any of these, or on earlier inputs, disagrees there (the values must be equal;
        # their reprs may order a set differently).
        for r, replay_sandbox in enumerate(self.replay_sandboxes, start=1):
            again = [k for k in first if isinstance(out[k], Triple)]
            replays = replay_sandbox.run_batch(
                [Job(items[k][0], SHIFTED + calls[k], seed=self.seeds[1] + r - 1) for k in again]
            )
            for k, replay in zip(again, replays, strict=True):
                ok = replay.status is Status.OK and len(replay.value_repr or "") <= self.max_output_chars
                value = values.parse_value(replay.value_repr) if ok else None
                if not isinstance(value, values.Data) or not values.typed_equal(value.value, first[k].value):
                    why = replay.error_message if replay.status is not Status.OK else f"got {replay.value_repr!r:.80}"
                    out[k] = Rejected(
                        "nondeterministic", f"replay {r}, alone, another seed and string-hash secret: {why}"
                    )
        # Opaque functions, for what the replays left (a program that is simply nondeterministic keeps that
        # reason).
        for k, run in salted_runs.items():
            if not isinstance(out[k], Triple):
                continue
            salted = _salted(run, self.max_output_chars)
            if salted is None:
                out[k] = Rejected("nondeterministic", f"salted run: {run.status}: {run.error_message}")
            elif salted[1]:
                out[k] = Rejected("opaque", f"calls {', '.join(salted[1])}, whose values a solver cannot work out")
            elif not values.typed_equal(salted[0], first[k].value):
                out[k] = Rejected("nondeterministic", "the salted run reported another value")
        return [r if r is not None else Rejected("internal", "not validated") for r in out]


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
            compatibility for ``azr eval``; see :mod:`azr.tasktypes`).
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
        from azr.tasktypes import spec

        if len(tasks) != len(answers):
            raise ValueError(f"{len(tasks)} tasks but {len(answers)} answers")
        grades: list[Grade | None] = [None] * len(tasks)
        by_type: dict[TaskType, list[int]] = {}
        for k, task in enumerate(tasks):
            by_type.setdefault(TaskType(task.task_type), []).append(k)
        for task_type, positions in by_type.items():
            texts = [a if isinstance(a, str) else None for a in (answers[k] for k in positions)]
            results = spec(task_type).grade(self, [tasks[k] for k in positions], texts)
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
