"""Validate proposed tasks and verify solver answers, by execution in the sandbox.

One implementation of correctness for the trainer, ``azr verify`` and the reward functions.

Grading has two phases. First the model's code runs (the solver's program on the hidden inputs, the
task's program on the solver's input, or a non-literal answer expression), and only the ``repr`` of
the value it produced comes back. Then that text, accepted only if it is a plain data literal
(``_core.check_literal``: evaluating it runs no code), is compared by ``==`` with the gold value in
a fresh instance where no model code runs, by a checker that accepts only plain built-in values. A
program can tamper with everything in its own instance, including what that instance reports, but
not with the verdict: to pass it must report the gold value. Model text is placed into expressions
only after a static check proves it is exactly one argument list or value (no way to close the call
and append ``or True``), and names starting with ``__azr`` are reserved for the grader.
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

def __azr_canonical(value, text, repr=repr, type=type, str=str):
    return type(text) is str and repr(value) == text
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
        first = self._outputs(items, pending, self.seeds[0])
        second_pending: list[int] = []
        for k, result in zip(pending, first, strict=True):
            if result.status is not Status.OK or result.value_repr is None:
                out[k] = Rejected(f"runtime_{result.status}", f"{result.error_type}: {result.error_message}")
            elif len(result.value_repr) > self.max_output_chars:
                out[k] = Rejected("output_too_long", f"output repr has {len(result.value_repr)} characters")
            elif problem := _core.check_literal(result.value_repr):
                out[k] = Rejected("output_not_plain_data", f"output {result.value_repr[:80]!r}: {problem[1]}")
            else:
                out[k] = Triple(items[k][0], items[k][1], result.value_repr)
                second_pending.append(k)
        # The replay runs each input alone: a program whose output depends on which inputs ran before
        # it in the same instance (state kept in a module attribute, say) disagrees here.
        replays = self.sandbox.run_batch(
            [Job(items[k][0], f"f({items[k][1]}\n)", seed=self.seeds[1]) for k in second_pending]
        )
        golds = [_output(out[k]) for k in second_pending]
        canonical = _canonical(self.sandbox, golds)
        for k, gold, replay, is_canonical in zip(second_pending, golds, replays, canonical, strict=True):
            if replay.value_repr != gold:
                why = replay.error_message if replay.status is not Status.OK else f"got {replay.value_repr!r:.80}"
                out[k] = Rejected("nondeterministic", f"second run, alone and under another seed: {why}")
            elif not is_canonical:
                out[k] = Rejected("output_not_plain_data", f"output {gold[:80]!r} is not the repr of its own value")
        return [r if r is not None else Rejected("internal", "not validated") for r in out]

    def _outputs(self, items: Sequence[tuple[str, str]], positions: list[int], seed: int) -> list[ExecResult]:
        """``f(input)`` for the items at ``positions``. Inputs of one program share an instance (a fresh
        namespace each): induction proposals try ten inputs per program."""
        return _run_grouped(
            self.sandbox,
            [items[k][0] for k in positions],
            lambda group: (items[positions[group[0]]][0], [f"f({items[positions[j]][1]}\n)" for j in group]),
            seed=seed,
        )


def _same_values(sandbox: Sandbox, golds: Sequence[str], values: Sequence[str | None]) -> list[bool]:
    """The second phase of grading: is each value text, a ``repr`` reported by a run of model code or an
    answer, equal by value to its gold? Only plain data literals are evaluated (a gold that is not one
    matches nothing), in instances where no model code runs (values sharing a gold share one, a fresh
    namespace each)."""
    gold_ok = {gold: _core.check_literal(gold) is None for gold in set(golds)}
    literal = [
        k
        for k, value in enumerate(values)
        if value is not None and gold_ok[golds[k]] and _core.check_literal(value) is None
    ]
    results = _run_grouped(
        sandbox,
        [golds[k] for k in literal],
        lambda group: (
            _prelude([golds[literal[group[0]]]]),
            [f"__azr_checks[0](({values[literal[j]]}\n))" for j in group],
        ),
        seed=0,
    )
    verdicts = [False] * len(values)
    for k, result in zip(literal, results, strict=True):
        verdicts[k] = _passed(result)
    return verdicts


def _canonical(sandbox: Sandbox, texts: Sequence[str]) -> list[bool]:
    """Is each text (already a plain data literal) exactly the ``repr`` of the value it evaluates to? Rules
    out outputs a custom ``__repr__`` wrote in another spelling (``0x10``, ``1e999``, comments)."""
    results = _run_grouped(
        sandbox,
        [str(j // 64) for j in range(len(texts))],  # no model code here: 64 per instance
        lambda group: (_CHECKER, [f"__azr_canonical(({texts[j]}\n), {texts[j]!r})" for j in group]),
        seed=0,
    )
    return [_passed(result) for result in results]


def _reported(result: ExecResult) -> str | None:
    """The value a first-phase run reported, or None when it did not finish normally."""
    return result.value_repr if result.status is Status.OK else None


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
        values = [o if o is not None and not self.policy.check_value(o) else None for o in outputs]
        # A literal answer is compared as it is; any other expression may run code, so it is evaluated
        # on its own first and only the value it reports is compared.
        computed = [k for k, v in enumerate(values) if v is not None and _core.check_literal(v) is not None]
        jobs = [Job("", f"({values[k]}\n)") for k in computed]
        for k, result in zip(computed, self.sandbox.run_batch(jobs), strict=True):
            values[k] = _reported(result)
        return _same_values(self.sandbox, [t.output for t in triples], values)

    def abduction(self, triples: Sequence[Triple], inputs: Sequence[str | None]) -> list[bool]:
        """Does the triple's program map each predicted input to the triple's output?"""
        graded = [k for k, i in enumerate(inputs) if i is not None and not self.policy.check_input(i)]
        runs = self.sandbox.run_batch([Job(triples[k].program, f"f({inputs[k]}\n)") for k in graded])
        values: list[str | None] = [None] * len(triples)
        for k, result in zip(graded, runs, strict=True):
            values[k] = _reported(result)
        return _same_values(self.sandbox, [t.output for t in triples], values)

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
        runs = self.sandbox.run_many_batch([(str(programs[k]), [f"f({i}\n)" for i, _ in cases[k]]) for k in runnable])
        golds = [o for k in runnable for _, o in cases[k]]
        verdicts = iter(_same_values(self.sandbox, golds, [_reported(r) for results in runs for r in results]))
        for k in runnable:
            passed = sum(next(verdicts) for _ in cases[k])
            scores[k] = passed / len(cases[k]) if fraction else float(passed == len(cases[k]))
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
        program or one without cases scores 0.

        Unlike the three task graders, the verdict comes from the instance the program ran in (the
        tests must run next to it), so a program written to tamper with its own interpreter can pass:
        the same limit as HumanEval's reference harness. Prefer the task graders for RL rewards."""
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
