"""Validate proposed tasks and verify solver answers, by execution in the sandbox.

One implementation of correctness for the trainer, ``azr verify`` and the reward functions. Every
comparison runs inside the sandbox against a checker defined *before* the model's code, which
accepts only plain built-in values (so an object whose ``__eq__`` always returns True scores
nothing) and then compares by ``==``. Model text is placed into grader expressions only after a
static check proves it is exactly one argument list or value (no way to close the call and append
``or True``), and names starting with ``__azr`` are reserved for the grader.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from azr import _core
from azr.sandbox import ExecResult, Job, Sandbox, Status
from azr.tasks import Triple

__all__ = ["Rejected", "TaskValidator", "Verifier", "check_policy"]

_CHECKER = """
def __azr_make_check(gold, type=type, all=all, NoneType=type(None)):
    scalars = (int, float, complex, str, bytes, bool, NoneType)
    def pure(v, depth=0):
        t = type(v)
        if t in (list, tuple, set, frozenset):
            return depth < 200 and all(pure(x, depth + 1) for x in v)
        if t is dict:
            return depth < 200 and all(pure(k, depth + 1) and pure(x, depth + 1) for k, x in v.items())
        return t in scalars
    def check(value):
        return pure(value) and value == gold
    return check
"""


def _prelude(golds: Sequence[str]) -> str:
    """Checker definitions; ``__azr_checks[k]`` compares a value with gold ``k``."""
    items = ", ".join(f"__azr_make_check(({gold}\n))" for gold in golds)
    return f"{_CHECKER}\n__azr_checks = [{items}]\n"


def _passed(result: ExecResult) -> bool:
    return result.status is Status.OK and result.value_repr == "True"


def check_policy(**overrides: object) -> _core.CheckPolicy:
    """The static-check policy (defaults documented in ``_core.CheckPolicy``)."""
    return _core.CheckPolicy(**overrides)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Rejected:
    """Why a proposed task was not accepted. ``kind`` is machine-readable, ``reason`` human-readable."""

    kind: str
    reason: str


class TaskValidator:
    """Accepts a proposed (program, input) only if it passes static checks, runs, is deterministic
    under two seeds, and its output round-trips (``eval(repr(o)) == o``, built-in values only) within
    ``max_output_chars`` (over-long outputs are rejected, never truncated)."""

    def __init__(
        self,
        sandbox: Sandbox,
        policy: _core.CheckPolicy | None = None,
        *,
        max_output_chars: int = 2000,
        seeds: tuple[int, int] = (0, 1),
    ) -> None:
        self.sandbox = sandbox
        self.policy = policy or _core.CheckPolicy()
        self.max_output_chars = max_output_chars
        self.seeds = seeds

    def validate(self, items: Sequence[tuple[str, str]]) -> list[Triple | Rejected]:
        """Validate (program, input) proposals; one result per item, in order."""
        out: list[Triple | Rejected | None] = [None] * len(items)
        static = self.policy.check_programs([program for program, _ in items])
        for k, ((_, text), problem) in enumerate(zip(items, static, strict=True)):
            problem = problem or self.policy.check_input(text)
            if problem:
                out[k] = Rejected(*problem)
        pending = [k for k in range(len(items)) if out[k] is None]
        # Inputs of one program share an instance (a fresh namespace each): induction proposals
        # validate ten inputs per program. Programs and inputs are all the proposer's own text.
        first = _run_grouped(
            self.sandbox,
            [items[k][0] for k in pending],
            lambda group: (items[pending[group[0]]][0], [f"f({items[pending[j]][1]}\n)" for j in group]),
            seed=self.seeds[0],
        )
        second: list[int] = []
        for k, result in zip(pending, first, strict=True):
            if result.status is not Status.OK or result.value_repr is None:
                out[k] = Rejected(f"runtime_{result.status}", f"{result.error_type}: {result.error_message}")
            elif len(result.value_repr) > self.max_output_chars:
                out[k] = Rejected("output_too_long", f"output repr has {len(result.value_repr)} characters")
            else:
                out[k] = Triple(items[k][0], items[k][1], result.value_repr)
                second.append(k)
        replays = _run_grouped(
            self.sandbox,
            [items[k][0] for k in second],
            lambda group: (
                _prelude([_output(out[second[j]]) for j in group]) + items[second[group[0]]][0],
                [f"__azr_checks[{n}](f({items[second[j]][1]}\n))" for n, j in enumerate(group)],
            ),
            seed=self.seeds[1],
        )
        for k, result in zip(second, replays, strict=True):
            if not _passed(result):
                why = result.error_message if result.status is not Status.OK else "value differs or is not plain data"
                out[k] = Rejected("nondeterministic_or_not_round_trip", f"second run under another seed: {why}")
        return [r if r is not None else Rejected("internal", "not validated") for r in out]


def _run_grouped(
    sandbox: Sandbox, keys: Sequence[str], build: Callable[[list[int]], tuple[str, list[str]]], seed: int
) -> list[ExecResult]:
    """Run items sharing a key in one instance: ``build(positions)`` gives that group's program and one
    expression per position. Results come back in item order."""
    groups: dict[str, list[int]] = {}
    for position, key in enumerate(keys):
        groups.setdefault(key, []).append(position)
    batch = sandbox.run_many_batch([build(group) for group in groups.values()], seed=seed)
    results: dict[int, ExecResult] = {}
    for group, group_results in zip(groups.values(), batch, strict=True):
        results.update(zip(group, group_results, strict=True))
    return [results[position] for position in range(len(keys))]


def _output(item: Triple | Rejected | None) -> str:
    assert isinstance(item, Triple)
    return item.output


class Verifier:
    """Grades solver answers by execution. Malformed or hostile answers are simply wrong."""

    def __init__(self, sandbox: Sandbox, policy: _core.CheckPolicy | None = None) -> None:
        self.sandbox = sandbox
        self.policy = policy or _core.CheckPolicy()

    def deduction(self, triples: Sequence[Triple], outputs: Sequence[str | None]) -> list[bool]:
        """Is each predicted output equal by value to the triple's output?"""
        # No program runs here, only the checker and each (statically checked) value expression, so
        # the answers for one gold output share an instance, each in a fresh namespace.
        graded = [k for k, o in enumerate(outputs) if o is not None and not self.policy.check_value(o)]
        results = _run_grouped(
            self.sandbox,
            [triples[k].output for k in graded],
            lambda group: (
                _prelude([triples[graded[group[0]]].output]),
                [f"__azr_checks[0](({outputs[graded[j]]}\n))" for j in group],
            ),
            seed=0,
        )
        verdicts = [False] * len(triples)
        for k, result in zip(graded, results, strict=True):
            verdicts[k] = _passed(result)
        return verdicts

    def abduction(self, triples: Sequence[Triple], inputs: Sequence[str | None]) -> list[bool]:
        """Does the triple's program map each predicted input to the triple's output?"""
        jobs = {
            k: Job(_prelude([t.output]) + t.program, f"__azr_checks[0](f({i}\n))")
            for k, (t, i) in enumerate(zip(triples, inputs, strict=True))
            if i is not None and not self.policy.check_input(i)
        }
        return self._grade(len(triples), jobs)

    def induction(
        self, cases: Sequence[Sequence[tuple[str, str]]], programs: Sequence[str | None], *, fraction: bool = False
    ) -> list[float]:
        """Does each predicted program reproduce all its hidden (input, output) pairs?

        Returns 1.0/0.0, or with ``fraction=True`` the fraction of pairs reproduced.
        """
        scores = [0.0] * len(cases)
        runnable = [
            k
            for k, program in enumerate(programs)
            if program is not None and cases[k] and not self.policy.check_program(program)
        ]
        batch = self.sandbox.run_many_batch(
            [
                (
                    _prelude([o for _, o in cases[k]]) + str(programs[k]),
                    [f"__azr_checks[{j}](f({i}\n))" for j, (i, _) in enumerate(cases[k])],
                )
                for k in runnable
            ]
        )
        for k, results in zip(runnable, batch, strict=True):
            passed = sum(map(_passed, results))
            scores[k] = passed / len(results) if fraction else float(passed == len(results))
        return scores

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
        program or one without cases scores 0."""
        jobs: list[Job] = []
        owners: list[int] = []
        for k, (program, blocks, entry) in enumerate(zip(programs, cases, entry_points, strict=True)):
            if program is None:
                continue
            for block in blocks:
                jobs.append(Job(f"{program}\n\n{block}\n", f"check({entry})" if entry else "None", timeout_s=timeout_s))
                owners.append(k)
        passed = [0] * len(programs)
        total = [0] * len(programs)
        for k, result in zip(owners, self.sandbox.run_batch(jobs), strict=True):
            total[k] += 1
            passed[k] += result.status is Status.OK
        if fraction:
            return [p / t if t else 0.0 for p, t in zip(passed, total, strict=True)]
        return [float(t > 0 and p == t) for p, t in zip(passed, total, strict=True)]

    def _grade(self, n: int, jobs: dict[int, Job]) -> list[bool]:
        verdicts = [False] * n
        keys = list(jobs)
        for k, result in zip(keys, self.sandbox.run_batch([jobs[k] for k in keys]), strict=True):
            verdicts[k] = _passed(result)
        return verdicts
