"""Task validation and answer verification on CRUXEval (800 real programs) and hostile answers."""

from __future__ import annotations

import pytest

from azr import Job, Sandbox
from azr.verify.grading import Verdict, Verifier
from azr.verify.tasks import Task, TaskType, Triple
from azr.verify.validation import Rejected, TaskValidator, check_policy

EQ_ALWAYS_TRUE = "type('X', (), {'__eq__': lambda s, o: True, '__hash__': lambda s: 0})()"


@pytest.fixture(scope="module")
def triples(sandbox: Sandbox, cruxeval: list[dict[str, str]]) -> list[Triple]:
    results = TaskValidator(sandbox).validate([(row["code"], row["input"]) for row in cruxeval])
    rejected = {row["id"]: r for row, r in zip(cruxeval, results, strict=True) if isinstance(r, Rejected)}
    assert rejected == {}, f"CRUXEval items that fail validation: {rejected}"
    return [r for r in results if isinstance(r, Triple)]


def test_every_cruxeval_item_validates_with_the_gold_output(
    sandbox: Sandbox, triples: list[Triple], cruxeval: list[dict[str, str]]
) -> None:
    verdicts = Verifier(sandbox).deduction(triples, [row["output"] for row in cruxeval])
    assert all(verdicts), [row["id"] for row, ok in zip(cruxeval, verdicts, strict=True) if not ok]


# CRUXEval gold inputs that are expressions, not plain data (calls, lambdas, a program global):
# a trained solver's answer must be data, so these 12 of 800 are format errors in training mode.
NOT_DATA_GOLD_INPUTS = {
    "sample_152": "''.join(['A'] * 20)",
    "sample_239": "'0 t 1cos ', 'st ' + '0\\t\\n  '",
    "sample_258": "thigh_o_two[:], 3, 3, 2",
    "sample_344": "[6, 4, 2, 8, 15], (lambda x: x.reverse())",
    "sample_364": "[0, 3, 0, 1], lambda x: x < 2",
    "sample_378": "dict(did=0), 'u'",
    "sample_459": "['b', 'vzjmc', 'f', 'ae', '0'], dict()",
    "sample_522": "range(100, 120)",
    "sample_694": "dict(e=1, d=2, c=3)",
    "sample_720": "'bfreratrrbdbzagbretaredtroefcoiqrrneaosf'.split('-'), 'n'",
    "sample_760": "dict(f = 1, h = 2, j = 3, k = 4)",
    "sample_770": "'$78'.upper(), '$'",
}


def test_gold_inputs_verify_as_abduction_answers(
    sandbox: Sandbox, triples: list[Triple], cruxeval: list[dict[str, str]]
) -> None:
    gold = [row["input"] for row in cruxeval]
    grades = Verifier(sandbox).grade(
        [Task(TaskType.ABDUCTION, t.program, (t.input,), (t.output,)) for t in triples], gold
    )
    failing = {row["id"]: row["input"] for row, g in zip(cruxeval, grades, strict=True) if not g.correct}
    assert failing == NOT_DATA_GOLD_INPUTS
    assert all(
        g.verdict is Verdict.FORMAT_ERROR for g, row in zip(grades, cruxeval, strict=True) if row["id"] in failing
    )
    # The compatibility mode azr eval uses takes them all: the two lambdas and the range are pure arguments
    # (they name nothing of the program) placed as written; the rest evaluate to plain data.
    compatible = Verifier(sandbox, answers="expression", equality="value")
    verdicts = compatible.abduction(triples, gold)
    assert all(verdicts), [row["id"] for row, ok in zip(cruxeval, verdicts, strict=True) if not ok]


def _wrong_value(output: str) -> str:
    return "None" if output != "None" else "0"


@pytest.mark.parametrize(
    "perturb",
    [
        _wrong_value,
        lambda out: repr(out),  # the right text, wrong type (a string of the repr)
        lambda out: out + ")",  # syntax error
        lambda out: out + ")) or True or ((1",  # escaping the grader's expression
        lambda out: "__import__('os').system('true')",  # hostile
        lambda out: EQ_ALWAYS_TRUE,  # an object equal to everything
        lambda out: "(__azr_checks := [lambda v: True])",  # rebinding the grader
        lambda out: "exit(0)",
    ],
    ids=["wrong-value", "wrong-type", "syntax", "escape", "hostile", "eq-always-true", "rebind-grader", "exit"],
)
def test_perturbed_deduction_answers_are_wrong(
    sandbox: Sandbox, triples: list[Triple], cruxeval: list[dict[str, str]], perturb: object
) -> None:
    sample = triples[::8]
    answers = [perturb(t.output) for t in sample]  # type: ignore[operator]
    verdicts = Verifier(sandbox).deduction(sample, answers)
    assert not any(verdicts), [a for a, ok in zip(answers, verdicts, strict=True) if ok][:5]


@pytest.mark.parametrize(
    "answer",
    [
        "1)) or True or ((1",
        EQ_ALWAYS_TRUE,
        "*[1, 2, 3]",
        "__import__('os')",
        "1, 2",
        "",
    ],
)
def test_hostile_abduction_answers_are_wrong(sandbox: Sandbox, answer: str) -> None:
    triple = Triple("def f(x):\n    return x", "1", "1")
    assert Verifier(sandbox).abduction([triple], [answer]) == [False]


@pytest.mark.parametrize(
    "answer",
    [
        "(g := lambda x: 42) and 0",  # rebinding the program's helper before f runs
        "[(g := lambda x: 42) for _ in 'a'] and 0",
        "type.__setattr__(Box, 'value', property(lambda s: 42)) or 0",  # patching the program's class
    ],
)
def test_abduction_answers_cannot_patch_the_program(sandbox: Sandbox, answer: str) -> None:
    program = (
        "class Box:\n    def __init__(self, v):\n        self.value = v\n\n"
        "def g(x):\n    return Box(x * 2).value\n\ndef f(x):\n    return g(x)"
    )
    triple = Triple(program, "21", "42")
    assert Verifier(sandbox).abduction([triple, triple], [answer, "21"]) == [False, True]


def test_abduction_accepts_any_input_that_works(sandbox: Sandbox) -> None:
    triple = Triple("def f(x):\n    return x % 3", "4", "1")
    assert Verifier(sandbox).abduction([triple] * 4, ["7", "1", "x=10", "2"]) == [True, True, True, False]


def test_induction(sandbox: Sandbox) -> None:
    pairs = [("1", "2"), ("5", "10"), ("-3", "-6")]
    right = "def f(x):\n    return x * 2"
    half = "def f(x):\n    return x + x if x > 0 else 0"
    cheat = "def f(x):\n    return type('X', (), {'__eq__': lambda s, o: True})()"
    tamper = "import builtins\ndef f(x):\n    return 0"
    verifier = Verifier(sandbox)
    assert verifier.induction([pairs] * 4, [right, half, cheat, tamper]) == [1.0, 0.0, 0.0, 0.0]
    assert verifier.induction([pairs], [half], fraction=True) == [pytest.approx(2 / 3)]
    assert verifier.induction([pairs], [None]) == [0.0]


@pytest.mark.parametrize(
    ("program", "text", "kind"),
    [
        ("import random\ndef f(x):\n    return random.random()", "1", "opaque"),
        ("def f(x):\n    return x", "open('/etc/passwd')", "banned_call"),
        ("def f(x):\n    return {1, 2, 3}.pop() if x else object()", "0", "output_not_plain_data"),
        ("def f(x):\n    return 'x' * 5000", "1", "output_too_long"),
        ("def f(x):\n    while True:\n        pass", "1", "runtime_timeout"),
        ("def f(x):\n    return 1 / x", "0", "runtime_exception"),
        ("def g(x):\n    return x", "0", "missing_entry"),
        ("def f(x):\n    return float('nan')", "0", "output_not_plain_data"),
        ("def f(x):\n    return [float('inf')]", "0", "output_not_plain_data"),
    ],
)
def test_invalid_proposals_are_rejected_with_reasons(program: str, text: str, kind: str) -> None:
    fast = Sandbox(workers=1, timeout_s=0.5)
    (result,) = TaskValidator(fast).validate([(program, text)])
    assert isinstance(result, Rejected) and result.kind == kind, result


@pytest.mark.parametrize(
    "reading",
    ["int(time.time()) % 1000", "int(time.time()) // 1000", "time.gmtime().tm_year", "int(time.monotonic()) // 60"],
)
def test_time_dependent_program_is_rejected_by_the_second_seed(sandbox: Sandbox, reading: str) -> None:
    # `time` is opaque statically; with empty lists the replays must catch it, coarse readings included
    # (another seed starts the clocks years and days apart, not seconds).
    permissive = check_policy(banned_modules=[], opaque_modules=[])
    program = f"import time\ndef f(x):\n    return {reading} + x"
    (result,) = TaskValidator(sandbox, permissive).validate([(program, "1")])
    assert isinstance(result, Rejected) and result.kind == "nondeterministic", result


def test_verifier_runs_test_code_one_fresh_instance_per_case(sandbox):
    verifier = Verifier(sandbox)
    program = "def add(a, b):\n    return a + b"
    cases = [("assert add(1, 2) == 3", "assert add(2, 2) == 5"), ("def check(c):\n    assert c(0, 0) == 0",)]
    assert verifier.tests([program, program], cases, [None, "add"]) == [0.0, 1.0]
    assert verifier.tests([program], [cases[0]], [None], fraction=True) == [0.5]
    # A case that rebinds the function cannot help the next case: each runs in its own instance.
    tamper = ("add = lambda a, b: 5", "assert add(2, 2) == 5")
    assert verifier.tests([program], [tamper], [None], fraction=True) == [0.5]
    assert verifier.tests([None, program], [cases[0], ()], [None, None]) == [0.0, 0.0]
    assert verifier.tests(["while True:\n    pass"], [("pass",)], [None], timeout_s=0.5) == [0.0]


# Rewrites what its own instance reports: every expression it is graded by "returns" True.
FORGE_REPORT = "import wit_world\nwit_world.Outcome.value_repr = property(lambda s: 'True', lambda s, v: None)\n"


def test_a_program_that_forges_its_own_report_is_still_graded_correctly(sandbox: Sandbox) -> None:
    wrong = FORGE_REPORT + "def f(x):\n    return 0"
    # The threat is real: inside its own instance the forgery decides what an in-guest check reports.
    assert sandbox.run(Job(wrong, "f(1) == 2")).value_repr == "True"
    # The default policy rejects importing the guest's plumbing; grading must hold even without that.
    assert Verifier(sandbox).policy.check_program(wrong) == ("banned_import", "imports banned module `wit_world`")
    verifier = Verifier(sandbox, check_policy(banned_modules=[]))
    pairs = [("1", "2"), ("5", "10")]
    assert verifier.induction([pairs, pairs], [wrong, "def f(x):\n    return 2 * x"]) == [0.0, 1.0]
    forged_task = Triple(wrong, "1", "2")
    assert verifier.abduction([forged_task, forged_task], ["1", "5"]) == [False, False]
    # Reporting the gold value is the only way through: that is solving the task.
    solves = FORGE_REPORT.replace("'True'", "'2'") + "def f(x):\n    return 0"
    assert verifier.induction([[("1", "2")]], [solves]) == [1.0]


def test_expression_answers_are_format_errors_unless_in_compatibility_mode(sandbox: Sandbox) -> None:
    task = Task(TaskType.DEDUCTION, "def f(x):\n    return x", ("[1, 1]",), ("[1, 1]",))
    answers = ["[1, 1]", "[1] * 2", "[1] * 3", "(1, 1)", "{'a'}.pop()", "f([1, 1])"]
    grades = Verifier(sandbox).grade([task] * 6, answers)
    accepted, wrong, code = Verdict.ACCEPTED, Verdict.WRONG, Verdict.FORMAT_ERROR
    assert [g.verdict for g in grades] == [accepted, code, code, wrong, code, code]
    compatible = Verifier(sandbox, answers="expression", equality="value")
    # Evaluated alone: `f` is not defined there, so an answer that calls it scores nothing.
    assert [g.correct for g in compatible.grade([task] * 6, answers)] == [True, True, False, False, False, False]


def test_each_proposal_runs_alone_so_none_can_change_another(sandbox: Sandbox) -> None:
    # Keeps a count in a module attribute: in a shared instance the second input would see the first.
    counting = "import math\ndef f(x):\n    try:\n        math.calls += 1\n    except AttributeError:\n        math.calls = 1\n    return math.calls"
    first, second = TaskValidator(sandbox).validate([(counting, "1"), (counting, "2")])
    assert isinstance(first, Triple) and isinstance(second, Triple)
    assert first.output == second.output == "1"
    # One proposal's input patches a module the other's program uses: it changes nothing for the other.
    sqrt = "import math\ndef f(x):\n    return math.isqrt(x)"
    patching = "[1 for math.isqrt in [lambda x: 0]] and 16"
    honest, hostile = TaskValidator(sandbox, check_policy(banned_modules=[])).validate([(sqrt, "16"), (sqrt, patching)])
    assert isinstance(honest, Triple) and honest.output == "4"
    assert isinstance(hostile, Triple) and hostile.output == "0"  # only its own run saw the patch


@pytest.mark.parametrize("spelling", ["0x10", "1e999", "16  # sixteen", "(16)"])
def test_outputs_must_be_the_repr_of_their_value(sandbox: Sandbox, spelling: str) -> None:
    program = f"class H(int):\n    def __repr__(self):\n        return {spelling!r}\n\ndef f(x):\n    return H(16)"
    (result,) = TaskValidator(sandbox).validate([(program, "0")])
    assert isinstance(result, Rejected) and result.kind == "output_not_plain_data", result


def test_a_gold_that_is_not_plain_data_matches_nothing(sandbox: Sandbox) -> None:
    triple = Triple("def f(x):\n    return x", "1", "float('inf')")
    assert Verifier(sandbox).deduction([triple, triple], ["float('inf')", "1e999"]) == [False, False]
