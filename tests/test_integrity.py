"""Reward integrity: a policy that tries everything earns nothing without solving the task.

Each class of attack goes through every entry point that grades: ``Verifier.grade`` (the trainer's
path), :mod:`azr.verify.scoring`, the TRL reward functions, veRL's ``compute_score`` and ``azr verify``.
All run in the real sandbox.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from azr import Job
from azr.cli import main
from azr.integrations import trl as azr_trl
from azr.integrations import verl as azr_verl
from azr.sandbox import Sandbox
from azr.verify import scoring, values
from azr.verify.grading import Grade, Verdict, Verifier
from azr.verify.parsing import parse_generation
from azr.verify.tasks import Task, TaskType, Triple
from azr.verify.validation import TaskValidator, check_policy

# A task whose output nobody can guess without running (or reasoning through) the program.
HASHY = "def f(x):\n    return (x * 7919) % 10007"
HASHY_INPUT, HASHY_OUTPUT = "1234", str((1234 * 7919) % 10007)

# Deduction answers that compute instead of predicting: each would pass a grader that evaluates them.
CODE_INSTEAD_OF_PREDICTION = [
    "(lambda x: (x * 7919) % 10007)(1234)",
    "(1234 * 7919) % 10007",
    "[exec][0]('r = (1234 * 7919) % 10007') or r",
    "__import__('functools').reduce(lambda a, b: a * b, [1234, 7919]) % 10007",
    "type('X', (), {'__eq__': lambda s, o: True, '__hash__': lambda s: 0})()",
    "int('" + HASHY_OUTPUT + "')",
    HASHY_OUTPUT + " if True else 0",
]

# Abduction answers that use or rewrite the program instead of finding an input.
GOLD = "'unguessable'"
ABDUCTION_PROGRAM = "def f(x):\n    return 'unguessable' if x == 987654321987 else 'no'"
USES_THE_PROGRAM = [
    "[exec][0](\"f.__code__ = (lambda *a, **k: 'unguessable').__code__\")",
    "[setattr][0](f, '__code__', (lambda *a, **k: 'unguessable').__code__)",
    "next(x for x in range(20000) if f(x) == 'unguessable')",
    "type('R', (), {'__eq__': lambda s, o: True})()",
    "1) or (True",
    "x=987654321987) or (f(1",
    "*[987654321987]",
    "**{'x': 987654321987}",
]


def deduction_task() -> Task:
    return Task(TaskType.DEDUCTION, HASHY, (HASHY_INPUT,), (HASHY_OUTPUT,))


def abduction_task() -> Task:
    return Task(TaskType.ABDUCTION, ABDUCTION_PROGRAM, ("987654321987",), (GOLD,))


def wrap(kind: str, body: str) -> str:
    return f"<think>t</think><answer>\n```{kind}\n{body}\n```\n</answer>"


# --- answers are data ------------------------------------------------------------------------


def test_code_instead_of_a_prediction_is_a_format_error_everywhere(sandbox: Sandbox) -> None:
    n = len(CODE_INSTEAD_OF_PREDICTION)
    grades = Verifier(sandbox).grade([deduction_task()] * n, CODE_INSTEAD_OF_PREDICTION)
    assert all(g.verdict is Verdict.FORMAT_ERROR for g in grades), grades
    # The honest prediction passes through the same path.
    assert Verifier(sandbox).grade([deduction_task()], [HASHY_OUTPUT])[0].correct
    assert not any(
        scoring.score_deduction([HASHY] * n, [HASHY_INPUT] * n, [HASHY_OUTPUT] * n, CODE_INSTEAD_OF_PREDICTION)
    )
    rewards = azr_trl.deduction_reward(
        completions=[wrap("output", a) for a in CODE_INSTEAD_OF_PREDICTION],
        programs=[HASHY] * n,
        inputs=[HASHY_INPUT] * n,
        outputs=[HASHY_OUTPUT] * n,
    )
    assert rewards == [-1.0] * n
    truth = {"program": HASHY, "input": HASHY_INPUT, "output": HASHY_OUTPUT}
    scores = azr_verl.compute_score_batched(
        ["azr/deduction"] * n, [wrap("output", a) for a in CODE_INSTEAD_OF_PREDICTION], [truth] * n
    )
    assert [s["acc"] for s in scores] == [0.0] * n


def test_abduction_answers_cannot_use_or_rewrite_the_program(sandbox: Sandbox) -> None:
    n = len(USES_THE_PROGRAM)
    grades = Verifier(sandbox).grade([abduction_task()] * n, USES_THE_PROGRAM)
    assert not any(g.correct for g in grades), [(a, g) for a, g in zip(USES_THE_PROGRAM, grades, strict=True)]
    # Even a policy with every static ban lifted cannot run code through an answer.
    lifted = Verifier(sandbox, check_policy(banned_modules=[], banned_calls=[], banned_names=[], banned_attributes=[]))
    assert not any(g.correct for g in lifted.grade([abduction_task()] * n, USES_THE_PROGRAM))
    assert Verifier(sandbox).grade([abduction_task()], ["987654321987"])[0].correct
    assert Verifier(sandbox).grade([abduction_task()], ["x=987654321987"])[0].correct
    assert not any(scoring.score_abduction([ABDUCTION_PROGRAM] * n, [GOLD] * n, USES_THE_PROGRAM))
    rewards = azr_trl.abduction_reward(
        completions=[wrap("input", a) for a in USES_THE_PROGRAM],
        programs=[ABDUCTION_PROGRAM] * n,
        inputs=[""] * n,
        outputs=[GOLD] * n,
    )
    assert all(r < 0 for r in rewards), rewards
    truth = {"program": ABDUCTION_PROGRAM, "output": GOLD}
    scores = azr_verl.compute_score_batched(
        ["azr/abduction"] * n, [wrap("input", a) for a in USES_THE_PROGRAM], [truth] * n
    )
    assert not any(s["acc"] for s in scores)


def test_an_argument_that_forges_its_repr_passes_nothing(sandbox: Sandbox) -> None:
    # `f` returns its argument; an object whose repr prints the gold would pass a grader that compares
    # reprs. Answers are data, so no object can be made; and the program's report is read as data.
    identity = Task(TaskType.ABDUCTION, "def f(x):\n    return x", ("1",), ("'gold'",))
    forged = "type('S', (), {'__repr__': lambda s: \"'gold'\"})()"
    assert Verifier(sandbox).grade([identity], [forged])[0].verdict is Verdict.FORMAT_ERROR
    assert Verifier(sandbox).grade([identity], ["'gold'"])[0].correct


def test_compatibility_mode_answers_may_not_call_f(sandbox: Sandbox) -> None:
    task = Task(TaskType.ABDUCTION, "def f(x):\n    return sorted(x)", ("[2, 1]",), ("[1, 2]",))
    compatible = Verifier(sandbox, answers="expression", equality="value")
    tries = ["set(f([2, 1]))", "set() or f([2, 1])", "[x for x in f([1, 2])]", "[2, 1]", "list(range(2, 0, -1))"]
    assert [g.correct for g in compatible.grade([task] * len(tries), tries)] == [False, False, False, True, True]
    deduction = Task(TaskType.DEDUCTION, "def f(x):\n    return sorted(x)", ("[2, 1]",), ("[1, 2]",))
    tries = ["f([2, 1])", "sorted([2, 1])", "[1, 2]"]
    assert [g.correct for g in compatible.grade([deduction] * 3, tries)] == [False, True, True]


# --- typed equality ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gold", "impostor"),
    [
        ("1", "True"),
        ("1", "1.0"),
        ("1", "(1+0j)"),
        ("0", "False"),
        ("{1}", "frozenset({1})"),
        ("[1, 2]", "(1, 2)"),
        ("{1: 'a'}", "{True: 'a'}"),
        ("{1: 'a'}", "{1.0: 'a'}"),
        ("{(1, 2)}", "{(1.0, 2)}"),
        ("[[1]]", "[[True]]"),
        ("'a'", "b'a'"),
    ],
)
def test_typed_equality_tells_types_apart(sandbox: Sandbox, gold: str, impostor: str) -> None:
    task = Task(TaskType.DEDUCTION, "def f(x):\n    return x", (gold,), (gold,))
    typed = Verifier(sandbox).grade([task, task], [gold, impostor])
    assert [g.correct for g in typed] == [True, False]
    # CRUXEval's rule is Python's ==, under which some of these are the same value.
    assert Verifier(sandbox, equality="value").grade([task], [impostor])[0].correct == (
        values.parse_value(gold) == values.parse_value(impostor)
    )


def test_induction_program_returning_booleans_does_not_pass_integer_cases(sandbox: Sandbox) -> None:
    pairs = [("1", "1"), ("0", "0")]
    scores = Verifier(sandbox).induction([pairs, pairs], ["def f(x):\n    return x == 1", "def f(x):\n    return x"])
    assert scores == [0.0, 1.0]
    assert azr_trl.induction_reward(completions=[wrap("python", "def f(x):\n    return x == 1")], io_pairs=[pairs]) == [
        -0.5
    ]


def test_negative_zero_equals_zero_and_is_documented() -> None:
    assert values.typed_equal(-0.0, 0.0)
    assert "-0.0" in (values.__doc__ or "")


# --- any text in, a verdict out -------------------------------------------------------------------

BAD_TEXT = ["\ud800", "a\x00b", "\x1b[2J\x07", "'\ud800'", "x" * 1_000_000, "[" * 100_000, "\ufeff1", "🙂" * 1000]


def test_bad_text_gets_a_verdict_from_every_grader_and_spares_its_batch(sandbox: Sandbox) -> None:
    good_d, good_a = deduction_task(), abduction_task()
    for text in BAD_TEXT:
        # In answers, programs, inputs and gold outputs, next to an honest item in the same batch.
        tasks = [good_d, good_d, Task(TaskType.DEDUCTION, text, (text,), (text,)), good_a, good_a]
        grades = Verifier(sandbox).grade(tasks, [HASHY_OUTPUT, text, HASHY_OUTPUT, "987654321987", text])
        assert [g.correct for g in grades] == [True, False, False, True, False], (text[:20], grades)
        induction = Task(TaskType.INDUCTION, "", ("1", text), ("1", text))
        assert not Verifier(sandbox).grade([induction], [text])[0].correct
        assert not Verifier(sandbox).grade([induction], ["def f(x):\n    return x"])[0].correct
        assert scoring.score_deduction(
            [HASHY, text], [HASHY_INPUT] * 2, [HASHY_OUTPUT, text], [HASHY_OUTPUT, text]
        ) == [
            True,
            False,
        ]
        assert azr_trl.deduction_reward(
            completions=[wrap("output", text), text],
            programs=[HASHY] * 2,
            inputs=[HASHY_INPUT] * 2,
            outputs=[HASHY_OUTPUT] * 2,
        ) in ([-1.0, -1.0], [-0.5, -1.0])
        scores = azr_verl.compute_score_batched(
            ["azr/deduction", "azr/abduction"], [text, text], [{"program": text, "input": text, "output": text}] * 2
        )
        assert [s["acc"] for s in scores] == [0.0, 0.0]


def test_validation_of_bad_text_is_rejected_not_raised(sandbox: Sandbox) -> None:
    items = [(text, "1") for text in BAD_TEXT] + [(HASHY, text) for text in BAD_TEXT] + [(HASHY, HASHY_INPUT)]
    results = TaskValidator(sandbox).validate(items)
    assert results[-1] == Triple(HASHY, HASHY_INPUT, HASHY_OUTPUT)
    assert all(not isinstance(r, Triple) for r in results[:-1])


@pytest.mark.parametrize(
    "text",
    [
        "<answer>" * 200_000,
        "```python\n" * 100_000,
        "<think>" * 200_000,
        "```" * 300_000,
        "[ANSWER]" * 100_000,
        "<answer>```output\n" * 60_000,
        "assert f(" * 100_000,
    ],
    ids=["answer-tags", "fences", "think-tags", "backticks", "crux-tags", "mixed", "assertions"],
)
def test_parsers_handle_a_megabyte_of_adversarial_text(text: str) -> None:
    # The old regexes took ~37 s (parse_generation) and ~55 s (extract_answer) on 20,000 repeated tags;
    # quadratic scanning of a megabyte would take hours. Linear scanning takes milliseconds.
    started = time.perf_counter()
    for task_type in TaskType:
        parse_generation(text, task_type, "solve", require_answer_tags=False)
        scoring.extract_answer(text, task_type)
    assert time.perf_counter() - started < 10.0


# --- static checks by reference --------------------------------------------------------------------


@pytest.mark.parametrize(
    "program",
    [
        "def f(x):\n    return [eval][0]('__import__(\"sys\")')",
        "def f(x, e=exec):\n    return e",
        "def f(x):\n    return [g for g in [vars]][0]()",
        "import operator\ndef f(x):\n    return operator.attrgetter('__globals__')(f)",
        "def f(x):\n    return sorted([1], key=compile)",
        "def f(x):\n    match x:\n        case _:\n            import os\n    return 1",
    ],
)
def test_banned_names_are_rejected_by_reference(sandbox: Sandbox, program: str) -> None:
    (result,) = TaskValidator(sandbox).validate([(program, "1")])
    assert not isinstance(result, Triple)
    assert result.kind in ("banned_call", "banned_attribute", "banned_import"), result


# --- the CLI --------------------------------------------------------------------------------------------


def test_verify_expect_cannot_be_spliced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    forger = tmp_path / "forger.py"
    forger.write_text(
        "class T:\n    def __repr__(self):\n        return 'True) or (True'\n\ndef f():\n    return T()\n",
        encoding="utf-8",
    )
    assert main(["verify", str(forger), "--expr", "f()", "--expect", "42"]) == 1
    assert "matches expected: False" in capsys.readouterr().out
    assert main(["verify", str(forger), "--expr", "f()", "--expect", "foo("]) == 2
    typed = tmp_path / "one.py"
    typed.write_text("def f():\n    return True\n", encoding="utf-8")
    assert main(["verify", str(typed), "--expr", "f()", "--expect", "1"]) == 1
    assert main(["verify", str(typed), "--expr", "f()", "--expect", "1", "--equality", "value"]) == 0


def test_verify_tasks_file_grades_code_answers_as_format_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        {"program": HASHY, "input": HASHY_INPUT, "type": "deduction", "answer": CODE_INSTEAD_OF_PREDICTION[0]},
        {"program": HASHY, "input": HASHY_INPUT, "type": "deduction", "answer": HASHY_OUTPUT},
        {"program": ABDUCTION_PROGRAM, "input": "987654321987", "type": "abduction", "answer": USES_THE_PROGRAM[2]},
        {"program": ABDUCTION_PROGRAM, "input": "987654321987", "type": "abduction", "answer": "987654321987"},
    ]
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main(["verify", str(tasks), "--out", str(out)]) == 0
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["correct"] for r in records] == [False, True, False, True]
    assert [r["verdict"] for r in records] == ["format_error", "accepted", "format_error", "accepted"]
    capsys.readouterr()


# --- property: repr(v) is the answer to repr(v), and nothing of another type is -----------------------

hypothesis = pytest.importorskip("hypothesis")

from strategies import plain  # noqa: E402  (tests/strategies.py: plain data values)


def retyped(value: object) -> object | None:
    """``value`` with the type of one part changed (an equal value where Python allows), or None."""
    kind = type(value)
    swaps: dict[type, Callable[[object], object]] = {
        bool: int,  # type: ignore[dict-item]
        list: tuple,  # type: ignore[dict-item]
        tuple: list,  # type: ignore[dict-item]
        set: frozenset,  # type: ignore[dict-item]
        frozenset: set,  # type: ignore[dict-item]
        str: lambda s: s.encode("utf-8", "surrogatepass"),  # type: ignore[attr-defined]
        bytes: lambda b: b.decode("latin-1"),  # type: ignore[attr-defined]
        type(None): lambda _: 0,
        dict: lambda d: list(d.items()),  # type: ignore[attr-defined]
        complex: lambda c: c.real if c.imag == 0 else c.imag,  # type: ignore[attr-defined]
    }
    if kind is int:
        return float(value) if abs(value) < 2**53 else True  # type: ignore[arg-type]
    if kind is float:
        return int(value) if value.is_integer() else complex(value)  # type: ignore[attr-defined]
    return swaps[kind](value)


def _deduce(sandbox: Sandbox, gold: str, answer: str) -> Grade:
    return Verifier(sandbox).grade([Task(TaskType.DEDUCTION, "def f(x):\n    return x", ("0",), (gold,))], [answer])[0]


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(plain)
def test_the_repr_of_a_value_answers_it_and_another_type_does_not(sandbox: Sandbox, value: object) -> None:
    gold = repr(value)  # what a guest program's report says
    assert _deduce(sandbox, gold, gold).correct
    other = retyped(value)
    if other is not None and type(other) is not type(value):
        assert not _deduce(sandbox, gold, repr(other)).correct


# --- determinism across string-hash secrets -----------------------------------------------------------


# Each guest build draws its own secret, so which small sets change order between builds differs from
# machine to machine. These orders depend on 9 or more strings: the chance that three random secrets agree on
# one of them is far below 1e-6.
@pytest.mark.parametrize(
    "program",
    [
        "def f(x):\n    return ' '.join({str(i) for i in range(12)})",
        "def f(x):\n    return list(set('abcdefghijklmnop'))",
        "def f(x):\n    return [k for k in {w: 1 for w in 'one two three four five six'.split()}.keys() | set('wxyz')]",
        "def f(x):\n    return tuple(frozenset('the quick brown fox jumps over a lazy dog'.split()))",
        "def f(x):\n    return list({'a': 1, 'b': 2, 'c': 3, 'd': 4, 'e': 5, 'f': 6, 'g': 7, 'h': 8}.keys() ^ set('ijkl'))",
    ],
)
def test_hash_order_dependent_programs_are_rejected(sandbox: Sandbox, program: str) -> None:
    (result,) = TaskValidator(sandbox).validate([(program, "0")])
    assert not isinstance(result, Triple) and result.kind == "nondeterministic", result


SMALL_SETS = [
    f"def f(x):\n    return ' '.join({{{a!r}, {b!r}}})" for a, b in zip("0123456789", "abcdefghij", strict=True)
]


def test_a_small_set_is_rejected_exactly_when_some_secret_orders_it_differently(sandbox: Sandbox) -> None:
    """The probabilistic case, tested exactly: what each build's secret does to each program is measured
    here, and the validator must reject precisely the programs whose output differs under some secret."""
    validator = TaskValidator(sandbox)
    builds = (sandbox, *validator.replay_sandboxes)
    outputs = [[r.value_repr for r in build.run_batch([Job(p, "f(0)") for p in SMALL_SETS])] for build in builds]
    results = validator.validate([(p, "0") for p in SMALL_SETS])
    expected = [len({run[k] for run in outputs}) > 1 for k in range(len(SMALL_SETS))]
    assert [not isinstance(r, Triple) for r in results] == expected, (outputs, results)
    assert all(isinstance(r, Triple) or r.kind == "nondeterministic" for r in results)
    print(f"\n{sum(expected)} of {len(SMALL_SETS)} two-string joins rejected with {len(builds)} secrets")


def test_more_secrets_cost_a_build_each_and_are_checked(sandbox: Sandbox) -> None:
    assert len(TaskValidator(sandbox).replay_sandboxes) == 2
    (single,) = TaskValidator(sandbox, hash_secrets=2).replay_sandboxes
    assert single.hash_seed != sandbox.hash_seed
    for bad in (1, 0, True, 2.5):
        with pytest.raises(ValueError, match="hash_secrets"):
            TaskValidator(sandbox, hash_secrets=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="another guest build"):
        TaskValidator(sandbox, hash_secrets=2, replay_sandboxes=[sandbox])
    with pytest.raises(ValueError, match="need 2"):
        TaskValidator(sandbox, replay_sandboxes=[sandbox.with_hash_seed(1)])


@pytest.mark.parametrize(
    "program",
    [
        "def f(x):\n    return {'a', 'b', 'c'}",  # a set of strings is one value whatever its repr's order
        "def f(x):\n    return sorted({'3', '4'})",
        "def f(x):\n    return {k: len(k) for k in {'ab', 'c'}}",  # dicts compare without order
    ],
)
def test_values_that_are_equal_under_both_secrets_are_deterministic(sandbox: Sandbox, program: str) -> None:
    (result,) = TaskValidator(sandbox).validate([(program, "0")])
    assert isinstance(result, Triple), result


# --- found by a hostile review of the grading change ---------------------------------------------------


def test_an_integer_too_long_for_repr_is_not_data_and_fails_nothing_else(sandbox: Sandbox) -> None:
    huge = "0x" + "f" * 5000
    assert isinstance(values.parse_value(huge), values.NotData)
    assert isinstance(values.parse_arguments(huge), values.NotData)
    rewards = azr_trl.deduction_reward(
        completions=[wrap("output", huge), wrap("output", HASHY_OUTPUT)],
        programs=[HASHY] * 2,
        inputs=[HASHY_INPUT] * 2,
        outputs=[HASHY_OUTPUT] * 2,
    )
    assert rewards == [-1.0, 1.0]
    reporter = "class R:\n    def __repr__(self):\n        return '0x' + 'f' * 5000\n\ndef f(x):\n    return R()"
    assert Verifier(sandbox).induction([[("1", "1")]], [reporter]) == [0.0]
    # Short in the first run, huge in the replay: the validator rejects it and grades its neighbours.
    flip = (
        "class R:\n    def __repr__(self):\n        return '0x' + 'f' * 5000\n\n"
        f"def f(x):\n    return x if hash('a') == {hash_of_a_in_the_guest(sandbox)} else R()"
    )
    good, flipped = TaskValidator(sandbox, check_policy(banned_names=[])).validate([(HASHY, HASHY_INPUT), (flip, "1")])
    assert isinstance(good, Triple) and not isinstance(flipped, Triple)


def hash_of_a_in_the_guest(sandbox: Sandbox) -> str:
    reported = sandbox.run(Job("", "hash('a')")).value_repr
    assert reported is not None
    return reported


@pytest.mark.parametrize(
    "program",
    [
        "def f(x):\n    return id(object()) % 97",
        "def f(x):\n    return hash(object()) % 97",
        "def f(x):\n    return repr(object())[-6:]",
        "def f(x):\n    return id([]) % 1000",
        "def f(x):\n    return int(repr(object()).split()[-1][:-1], 16) >> 8",
    ],
)
def test_outputs_that_expose_memory_addresses_are_rejected(sandbox: Sandbox, program: str) -> None:
    # `id` and `hash` are opaque by name; a default repr shows an address the replays' shifted heap moves.
    (result,) = TaskValidator(sandbox).validate([(program, "0")])
    expected = "opaque" if "id(" in program or "hash(" in program else "nondeterministic"
    assert not isinstance(result, Triple) and result.kind == expected, result
    # Without the static rule, the replays and the salted run still reject them.
    (result,) = TaskValidator(sandbox, check_policy(opaque_names=[])).validate([(program, "0")])
    assert not isinstance(result, Triple) and result.kind in ("opaque", "nondeterministic"), result


def test_a_program_cannot_shadow_the_builtins_azr_writes_values_with(sandbox: Sandbox) -> None:
    shadow = "def frozenset(x):\n    return 'not a frozenset'\n\ndef complex(a, b):\n    return 'no'\n\ndef f(x):\n    return x"
    tasks = [
        Task(TaskType.ABDUCTION, shadow, ("0",), ("frozenset({1})",)),
        Task(TaskType.ABDUCTION, shadow, ("0",), ("'not a frozenset'",)),
        Task(TaskType.ABDUCTION, shadow, ("0",), ("(1+2j)",)),
        Task(TaskType.ABDUCTION, shadow, ("0",), ("set()",)),
    ]
    answers = ["frozenset({1})", "frozenset({1})", "(1+2j)", "set()"]
    assert [g.correct for g in Verifier(sandbox).grade(tasks, answers)] == [True, False, True, True]


def test_compatibility_mode_answers_cannot_smuggle_objects_or_late_calls(sandbox: Sandbox) -> None:
    compatible = Verifier(sandbox, answers="expression", equality="value")
    double = Task(TaskType.ABDUCTION, "def f(x):\n    return x * 2", ("1",), ("'impossible'",))
    total = Task(TaskType.ABDUCTION, "def f(xs):\n    return sum(xs)", ("[1, 2, 3]",), ("6",))
    tries = [
        (double, "type('X', (), {'__mul__': lambda s, o: 'impossible'})()"),
        (total, "(f([1, 2, 3]) for _ in [0])"),
        (total, "[f([1, 2, 3])]"),
        (total, "[1, 2, 3]"),
        (total, "list(range(1, 4))"),
    ]
    grades = compatible.grade([t for t, _ in tries], [a for _, a in tries])
    assert [g.correct for g in grades] == [False, False, False, True, True]


@pytest.mark.parametrize(
    "program",
    [
        "import \uff4f\uff53\ndef f(x):\n    return len(\uff4f\uff53.name)",
        "def f(x):\n    return \uff45\uff56\uff41\uff4c('x*2')",
        "def f(x):\n    return x.__\uff47lobals__",
        "import pkgutil\ndef f(x):\n    return pkgutil.resolve_name('builtins:eval')('1')",
        "def f(x):\n    return b'__globals__'.decode()",
    ],
)
def test_lookalike_names_and_import_machinery_are_rejected(sandbox: Sandbox, program: str) -> None:
    (result,) = TaskValidator(sandbox).validate([(program, "0")])
    assert not isinstance(result, Triple), result
    assert result.kind in ("non_ascii_name", "banned_import", "banned_attribute"), result
