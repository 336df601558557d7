"""Reward integrity, round 3: each class of attack a hostile review found, through every entry point.

1. model text that nests deeply enough to overflow a check's stack (the host process died);
2. outputs that hang on the order of a small set of strings (see also ``tests/test_replay_builds.py``);
3. opaque tasks: outputs a solver cannot work out (hashes, checksums, digests, seeded generators, clocks);
4. compatibility-mode answers that search with ``f`` after the refusal window (and honest lambdas refused);
5. test rewards paid by objects that equal anything;
6. the smaller ones: compile bombs outside the deadline, bans bypassed through module attributes, JSON nested
   past the recursion limit, malformed veRL ground truth, inputs that differ only in spelling.

All run in the real sandbox.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from azr import Job, Sandbox, Status, _core
from azr.cli import main
from azr.evaluation.run import EvalSettings, evaluate_answers
from azr.integrations import trl as azr_trl
from azr.integrations import verl as azr_verl
from azr.verify import scoring, values
from azr.verify.grading import Verdict, Verifier
from azr.verify.scoring import ProgramTests
from azr.verify.tasks import Task, TaskType, Triple
from azr.verify.validation import TaskValidator, check_policy

# --- 1. nesting -----------------------------------------------------------------------------------------

DEEP = {
    "unary": "def f(x):\n    return " + "-" * 6000 + "x",
    "invert": "def f(x):\n    return " + "~" * 6000 + "x",
    "lists": "def f(x):\n    return " + "[" * 3000 + "]" * 3000,
    "sum": "def f(x):\n    return 1" + "+1" * 4000,
    "attributes": "def f(x):\n    return x" + ".a" * 3000,
    "calls": "def f(x):\n    return x" + "()" * 3000,
}


def test_a_batch_with_deep_proposals_is_rejected_cleanly_in_a_fresh_process() -> None:
    # The crash was a SIGSEGV of the whole process when a batch of two or more ran on rayon's threads,
    # so the batch runs in a child process: it must exit normally with one clean rejection per proposal.
    script = (
        "import json, sys\n"
        "from azr import Sandbox\n"
        "from azr.verify.validation import TaskValidator\n"
        "items = [(p, '1') for p in json.loads(sys.stdin.read())] + [('def f(x):\\n    return x', '1')]\n"
        "print(json.dumps([getattr(r, 'kind', 'ok') for r in TaskValidator(Sandbox(workers=2)).validate(items)]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(list(DEEP.values())),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    kinds = json.loads(done.stdout.strip().splitlines()[-1])
    assert kinds == ["too_deep"] * len(DEEP) + ["ok"], kinds


def test_deep_text_gets_a_verdict_through_every_entry_point(sandbox: Sandbox, tmp_path: Path) -> None:
    deep_value = "x" + "()" * 20_000  # an answer: a call chain past any bracket count
    deep_args = "1" + "+1" * 20_000
    for text in (deep_value, deep_args, "-" * 60_000 + "1"):
        assert isinstance(values.parse_value(text), values.NotData)
        assert isinstance(values.parse_arguments(text), values.NotData)
    task = Task(TaskType.DEDUCTION, "def f(x):\n    return x", ("1",), ("1",))
    assert Verifier(sandbox).grade([task, task], [deep_value, "1"])[0].verdict is Verdict.FORMAT_ERROR
    compatible = Verifier(sandbox, answers="expression", equality="value")
    abduction = Task(TaskType.ABDUCTION, "def f(x):\n    return x", ("1",), ("1",))
    assert [g.correct for g in compatible.grade([abduction] * 3, [deep_args, deep_value, "1"])] == [False, False, True]
    programs = list(DEEP.values())
    induction = [Task(TaskType.INDUCTION, "", ("1",), ("1",))] * len(programs)
    assert not any(g.correct for g in Verifier(sandbox).grade(induction, programs))
    assert scoring.score_induction([[("1", "1")]] * len(programs), programs) == [0.0] * len(programs)
    rewards = azr_trl.induction_reward(
        completions=[f"<answer>\n```python\n{p}\n```\n</answer>" for p in programs],
        io_pairs=[[["1", "1"]]] * len(programs),
    )
    assert all(r < 1 for r in rewards)
    truth = {"io_pairs": [["1", "1"]]}
    scores = azr_verl.compute_score_batched(
        ["azr/induction"] * 2, [f"```python\n{DEEP['unary']}\n```"] * 2, [truth] * 2
    )
    assert [s["acc"] for s in scores] == [0.0, 0.0]
    tasks = tmp_path / "deep.jsonl"
    tasks.write_text("".join(json.dumps({"program": p, "input": "1"}) + "\n" for p in programs), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main(["verify", str(tasks), "--out", str(out)]) == 0
    assert {json.loads(line)["reason_kind"] for line in out.read_text(encoding="utf-8").splitlines()} == {"too_deep"}


def test_json_nested_past_the_recursion_limit_is_a_malformed_line(tmp_path: Path) -> None:
    deep = tmp_path / "deep.jsonl"
    deep.write_text("[" * 200_000 + "]" * 200_000 + "\n", encoding="utf-8")
    assert main(["verify", str(deep)]) == 2  # a usage error naming the line, not a traceback
    with pytest.raises(ValueError, match="nests too deeply"):
        azr_verl.compute_score("azr/induction", "x", "[" * 200_000)


# --- 3. opaque tasks ---------------------------------------------------------------------------------------

# Deterministic, but a coin flip for a solver that reads the program: each reached directly or around the
# static checks (a module held by another, a seed through a class).
OPAQUE = [
    "import zlib\ndef f(s):\n    return zlib.crc32(s.encode()) % 2",
    "import base64\ndef f(s):\n    return base64.binascii.crc32(s.encode()) % 2",
    "import hashlib\ndef f(s):\n    return hashlib.sha256(s.encode()).hexdigest()[:2]",
    "def f(s):\n    return hash((s, 17)) % 2",
    "def f(s):\n    return hash(len(s) / 7) % 2",
    "def f(s):\n    return id(s) % 7",
    "import random\ndef f(s):\n    random.seed(s)\n    return random.randint(0, 1)",
    "import statistics\ndef f(s):\n    return statistics.random.Random(s).randint(0, 1)",
    "import codecs\ndef f(s):\n    return codecs.encode(s.encode(), 'zlib')[-1] % 2",
    "import time\ndef f(s):\n    return time.localtime().tm_year",
    "import dataclasses\ndef f(s):\n    return dataclasses.inspect.sys.version_info[1]",
    "import collections\ndef f(s):\n    return collections._sys.maxsize % 3",
    "def f(s):\n    return print.__self__.hash(s) % 2",
]
# What a solver can work out by reading the program: a hand-written hash is arithmetic.
TRANSPARENT = [
    "def f(s):\n    h = 0\n    for c in s:\n        h = (h * 31 + ord(c)) % 1000003\n    return h % 2",
    "def f(s):\n    state = len(s)\n    for _ in range(5):\n        state = (1103515245 * state + 12345) % 2**31\n    return state % 2",
    "import copy, json\ndef f(s):\n    return json.dumps(copy.deepcopy({'k': [s]}))",
]


@pytest.mark.parametrize("program", OPAQUE)
def test_opaque_programs_are_rejected_with_a_named_reason(sandbox: Sandbox, program: str) -> None:
    (result,) = TaskValidator(sandbox).validate([(program, "'abc'")])
    assert not isinstance(result, Triple), program
    assert result.kind in ("opaque", "banned_attribute", "banned_import"), result


@pytest.mark.parametrize("program", OPAQUE[:9])
def test_the_salted_run_catches_opaque_functions_past_the_static_checks(sandbox: Sandbox, program: str) -> None:
    # With every static list emptied, the salted run (same build, same seed) must still name the function.
    lifted = check_policy(banned_modules=[], banned_names=[], banned_attributes=[], opaque_modules=[], opaque_names=[])
    (result,) = TaskValidator(sandbox, lifted).validate([(program, "'abc'")])
    assert not isinstance(result, Triple) and result.kind in ("opaque", "nondeterministic"), result


@pytest.mark.parametrize("program", TRANSPARENT)
def test_transparent_programs_stay_valid(sandbox: Sandbox, program: str) -> None:
    (result,) = TaskValidator(sandbox).validate([(program, "'abc'")])
    assert isinstance(result, Triple), result


# --- 4. compatibility mode --------------------------------------------------------------------------------

SEARCH_IN_REPR = "type('X', (), {'__repr__': lambda s: repr(next(i for i in range(100) if f(i) == 10))})()"


def test_no_answer_code_runs_after_the_refusal_window(sandbox: Sandbox, tmp_path: Path) -> None:
    task = Task(TaskType.ABDUCTION, "def f(x):\n    return x * 2\n\ng = f", ("5",), ("10",))
    compatible = Verifier(sandbox, answers="expression", equality="value")
    tries = [SEARCH_IN_REPR, SEARCH_IN_REPR.replace("f(i)", "g(i)"), "5"]
    assert [g.correct for g in compatible.grade([task] * 3, tries)] == [False, False, True]
    # Through azr eval's answers mode, with a CRUXEval-shaped dataset of one problem.
    data = tmp_path / "one.jsonl"
    data.write_text(
        json.dumps({"id": "p0", "code": task.program, "input": "5", "output": "10"}) + "\n", encoding="utf-8"
    )
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"p0": [f"f({SEARCH_IN_REPR})", "f(5)"]}), encoding="utf-8")
    report = evaluate_answers(
        {"cruxeval-i": json.loads(answers.read_text(encoding="utf-8"))},
        EvalSettings(benchmarks=("cruxeval-i",), cruxeval_path=data),
        sandbox,
        label="hostile",
    )
    assert report.benchmarks[0].correct == [1]  # one of its two answers: the honest one


def test_pure_lambdas_are_admitted_and_impure_ones_refused(sandbox: Sandbox) -> None:
    compatible = Verifier(sandbox, answers="expression", equality="value")
    program = "def f(xs, keep):\n    return [x for x in xs if keep(x)]"
    task = Task(TaskType.ABDUCTION, program, ("[1, 2, 3], lambda x: x > 1",), ("[2, 3]",))
    tries = {
        "[1, 2, 3], lambda x: x > 1": True,
        "[1, 2, 3], lambda x: x != 1 and x % 1 == 0": True,
        "[1, 2, 3], lambda x: f([x], lambda y: True) == [x] and x > 1": False,  # names f
        "[1, 2, 3], lambda x: globals() is not None and x > 1": False,  # names a non-pure builtin
        "[1, 2, 3], lambda x: x.__class__ is int and x > 1": False,  # a dunder attribute
        "[1, 2, 3], lambda x, g=f: x > 1": False,  # a default that names f
    }
    grades = compatible.grade([task] * len(tries), list(tries))
    assert [g.correct for g in grades] == list(tries.values()), grades
    # In training mode a lambda is never data.
    assert Verifier(sandbox).grade([task], ["[1, 2, 3], lambda x: x > 1"])[0].verdict is Verdict.FORMAT_ERROR


# --- 5. test rewards -------------------------------------------------------------------------------------

ALWAYS_EQUAL = (
    "class A:\n    def __eq__(self, other):\n        return True\n    def __ne__(self, other):\n        return False\n"
)
EQUAL_INT = "class I(int):\n    def __eq__(self, other):\n        return True\n"


@pytest.mark.parametrize(
    "program",
    [
        ALWAYS_EQUAL + "def f(x):\n    return A()",
        EQUAL_INT + "def f(x):\n    return I(0)",
        ALWAYS_EQUAL + "def f(x):\n    return [A(), A()]",
        "class M(type):\n    def __eq__(cls, other):\n        return True\n"
        "class T(int, metaclass=M):\n    def __eq__(self, other):\n        return True\n"
        "def f(x):\n    return T(0)",
    ],
)
def test_always_equal_results_do_not_pass_tests_anywhere(sandbox: Sandbox, program: str) -> None:
    asserts = "assert f([2, 1]) == [1, 2]"
    honest = "def f(x):\n    return sorted(x)"
    assert scoring.score_tests([program, honest], [asserts, asserts], sandbox=sandbox) == [0.0, 1.0]
    check = ProgramTests("def check(candidate):\n    assert candidate([2, 1]) == [1, 2]", entry_point="f")
    assert scoring.score_tests([program, honest], [check, check], sandbox=sandbox) == [0.0, 1.0]
    completions = [f"```python\n{p}\n```" for p in (program, honest)]
    assert azr_trl.tests_reward(completions=completions, tests=[asserts] * 2) == [0.0, 1.0]
    scores = azr_verl.compute_score_batched(
        ["humaneval"] * 2, completions, [{"tests": check.test, "entry_point": "f"}] * 2
    )
    assert [s["acc"] for s in scores] == [0.0, 1.0]


# --- 6. the smaller ones -------------------------------------------------------------------------------------


def test_compiling_counts_against_the_first_expressions_deadline() -> None:
    # Nested try/finally compiles in exponential time (~0.7 s here at 15 levels); the call then loops. The
    # compile used to run before the deadline started: 1.7 s of wall time under a 1 s limit.
    nested = "def g(x):\n"
    indent = "    "
    for _ in range(15):
        nested += f"{indent}try:\n{indent}    x += 1\n{indent}finally:\n"
        indent += "    "
    nested += f"{indent}x += 1\n    return x\n\ndef f(x):\n    while True:\n        pass\n"
    fast = Sandbox(workers=1, timeout_s=1.0)
    started = time.monotonic()
    result = fast.run(Job(nested, "f(1)"))
    assert result.status is Status.TIMEOUT
    assert time.monotonic() - started < 1.4


@pytest.mark.parametrize(
    ("program", "kind"),
    [
        ("import statistics\ndef f(x):\n    return statistics.sys.modules['os'].name", "banned_attribute"),
        ("import dataclasses\ndef f(x):\n    return dataclasses.inspect.getsource(f)", "banned_attribute"),
        ("def f(x):\n    b = print.__self__\n    b.range = None\n    return x", "banned_attribute"),
        ("import collections\ndef f(x):\n    return collections._sys.version", "banned_attribute"),
        ("import typing\ndef f(x: 'int'):\n    return typing.get_type_hints(f)", "banned_attribute"),
        ("import _frozen_importlib_external as m\ndef f(x):\n    return m._os.getcwd()", "banned_import"),
        ("import time\ndef f(x):\n    return time.time() // 1000", "opaque"),
    ],
)
def test_bans_hold_through_module_attributes(sandbox: Sandbox, program: str, kind: str) -> None:
    (result,) = TaskValidator(sandbox).validate([(program, "1")])
    assert not isinstance(result, Triple) and result.kind == kind, result


def test_every_module_an_allowed_module_holds_is_reachable_only_under_a_banned_name(sandbox: Sandbox) -> None:
    """The denylist is checked against the guest itself: for every module a program may import, every
    attribute that holds a banned or opaque module must have a name the static checks reject."""
    policy = _core.CheckPolicy()
    banned = sorted(set(policy.banned_modules) | set(policy.opaque_modules))
    probe = (
        "import sys, types\n"
        f"BANNED = {banned!r}\n"
        "def f():\n"
        "    out = []\n"
        "    for name, module in list(sys.modules.items()):\n"
        "        if module is None or name.split('.')[0] in BANNED:\n"
        "            continue\n"
        "        for attribute, value in list(vars(module).items()):\n"
        "            if isinstance(value, types.ModuleType) and value.__name__.split('.')[0] in BANNED:\n"
        "                out.append((name, attribute, value.__name__))\n"
        "    return sorted(set(out))\n"
    )
    result = sandbox.run(Job(probe, "f()"))  # azr's own probe, not a checked program
    reachable = values.parse_value(result.value_repr)
    assert isinstance(reachable, values.Data) and reachable.value, result
    names = set(policy.banned_attributes) | set(banned)
    open_paths = [path for path in reachable.value if path[1] not in names]  # type: ignore[union-attr]
    assert not open_paths, open_paths


def test_veRL_ground_truth_of_the_wrong_shape_is_a_value_error() -> None:
    for truth in ({"io_pairs": {"12": "3"}}, {"io_pairs": 5}, {"io_pairs": [["1", "2", "3"]]}, {"io_pairs": [[1, 2]]}):
        with pytest.raises(ValueError, match="io_pairs"):
            azr_verl.compute_score("azr/induction", "```python\ndef f(x):\n    return x\n```", truth)
    with pytest.raises(ValueError, match="program"):
        azr_verl.compute_score("azr/deduction", "x", {"program": 5, "input": "1", "output": "1"})


def test_inputs_that_spell_the_same_values_are_one_case() -> None:
    spellings = ["7", "(7)", "0x7", "+7", "7  # seven", "0b111"]
    assert len({values.argument_key(s) for s in spellings}) == 1
    assert len({values.argument_key(s) for s in ["7", "7.0", "True", "(7,)", "'7'"]}) == 5
    assert values.argument_key("x + 1") == "x + 1"  # not data: kept as written


# --- found by a hostile review of this change ---------------------------------------------------------------

FORMATTER_SYS = "import string, enum\ndef f(x):\n    sys = string.Formatter().get_field('0.sys', [enum], {})[0]\n"


def test_lambda_parameter_lists_count_toward_the_nesting_bound() -> None:
    # Commas in a parameter list once ended the segment, so `lambda a, b: lambda a, b: ...` got a bound of
    # 7 at depth 54, and 1,381 levels fitted under the bound (a segfault on a 256 KiB stack).
    policy = _core.CheckPolicy()
    chain = ("lambda:" * 85 + "lambda*,a:") * 15 + "x"
    assert policy.check_program("def f(x):\n    return " + chain + "\n") == ("too_deep", "nests deeper than 200 levels")
    assert policy.check_input("lambda a,b:" * 600 + "0") is not None
    assert _core.check_literal("lambda a,b:" * 5000 + "0") is not None


@pytest.mark.parametrize(
    ("program", "text", "kind"),
    [
        (
            FORMATTER_SYS + "    return sys.modules['_sha2'].sha256(str(x).encode()).digest()[0] % 2",
            "1",
            "banned_attribute",
        ),
        ("def f(x):\n    return int(repr(f).split()[-1][:-1], 16) % x", "97", "nondeterministic"),
        # The address of an object allocated past a large block: the builds' heaps and the shift move it.
        (
            "def f(x):\n    big = bytearray(10**7)\n    return int(repr(object()).split()[-1][:-1], 16) >> x",
            "20",
            "nondeterministic",
        ),
        ("def f(x):\n    return len(dir(str)) + len(dir(int)) * 1000 + x", "5", "opaque"),
        ("def f(x):\n    return [].__sizeof__() + x", "5", "banned_attribute"),
    ],
)
def test_reviewed_opaque_programs_are_rejected(sandbox: Sandbox, program: str, text: str, kind: str) -> None:
    (result,) = TaskValidator(sandbox).validate([(program, text)])
    assert not isinstance(result, Triple) and result.kind == kind, result


@pytest.mark.parametrize(
    "body",
    [
        "    return sys.modules['_sha2'].sha256(str(x).encode()).digest()[0] % 2",
        "    r = sys.modules['random'].Random()\n    r.setstate((3, tuple([x] * 624 + [624]), None))\n"
        "    return r.getrandbits(1)",
    ],
)
def test_the_salted_run_records_c_digests_and_generator_states(sandbox: Sandbox, body: str) -> None:
    lifted = check_policy(banned_modules=[], banned_names=[], banned_attributes=[], opaque_modules=[], opaque_names=[])
    (result,) = TaskValidator(sandbox, lifted).validate([(FORMATTER_SYS + body, "7")])
    assert not isinstance(result, Triple) and result.kind == "opaque", result


@pytest.mark.parametrize(
    ("program", "text"),
    [
        ("from fractions import Fraction\n\ndef f(xs):\n    return len(set(xs) | {Fraction(1, 2)})", "[0.5, 1]"),
        ("def f(id):\n    return id + 1", "1"),
        (
            "def f(x):\n    hash = 0\n    for c in x:\n        hash = (hash * 31 + ord(c)) % 1000003\n    return hash % 2",
            "'ab'",
        ),
    ],
)
def test_honest_programs_near_the_opaque_rule_stay_valid(sandbox: Sandbox, program: str, text: str) -> None:
    (result,) = TaskValidator(sandbox).validate([(program, text)])
    assert isinstance(result, Triple), result


def test_a_class_returning_always_equal_instances_fails_its_tests(sandbox: Sandbox) -> None:
    impostor = "class f(list):\n    __eq__ = lambda s, o: True"
    honest = "def f(x):\n    return sorted(x)"
    assert scoring.score_tests([impostor, honest], ["assert f([2, 1]) == [1, 2]"] * 2, sandbox=sandbox) == [0.0, 1.0]


def test_a_pure_answer_cannot_call_a_builtin_the_program_rebinds(sandbox: Sandbox) -> None:
    compatible = Verifier(sandbox, answers="expression", equality="value")
    task = Task(TaskType.ABDUCTION, "def f(x):\n    return x * 2\n\nmax = f", ("5",), ("10",))
    assert [g.correct for g in compatible.grade([task] * 2, ["max([5])", "5"])] == [False, True]
