"""Hostile programs: each ends with a typed status within timeout + 0.5 s, and the sandbox still works."""

from __future__ import annotations

import time

import pytest

from azr import Job, Sandbox, Status

TIMEOUT_S = 1.0

HOSTILE: list[tuple[str, str, str, set[Status]]] = [
    ("infinite loop", "def f():\n    while True:\n        pass", "f()", {Status.TIMEOUT}),
    ("memory bomb", "", "len(bytearray(10**9))", {Status.MEMORY}),
    ("list growth", "x = []\nwhile True:\n    x.append(' ' * 10**6)", "0", {Status.MEMORY}),
    ("10**7-digit int", "", "len(str(10**(10**7)))", {Status.EXCEPTION, Status.TIMEOUT}),
    ("deep recursion", "def f(n):\n    return f(n + 1)", "f(0)", {Status.EXCEPTION}),
    ("huge output", "def f():\n    while True:\n        print('x' * 4096)", "f()", {Status.OUTPUT_LIMIT}),
    ("huge value", "", "'z' * 10**6", {Status.OUTPUT_LIMIT}),
    ("read /etc/passwd", "", "open('/etc/passwd').read()", {Status.EXCEPTION}),
    ("write a file", "", "open('/tmp/azr-pwned', 'w').write('x')", {Status.EXCEPTION}),
    ("sockets", "import socket", "socket.create_connection(('127.0.0.1', 22), timeout=1)", {Status.EXCEPTION}),
    ("subprocess", "import subprocess", "subprocess.run(['ls'])", {Status.EXCEPTION}),
    ("os.system", "import os", "os.system('ls')", {Status.EXCEPTION}),
    ("ctypes", "import ctypes", "ctypes.CDLL(None)", {Status.EXCEPTION}),
    ("threads", "import threading", "threading.Thread(target=print).start()", {Status.EXCEPTION}),
    ("exit()", "exit(0)", "0", {Status.EXIT}),
    ("sys.exit", "import sys\nsys.exit(4)", "0", {Status.EXIT}),
    ("os._exit", "import os\nos._exit(3)", "0", {Status.EXIT}),
    ("BaseException", "raise BaseException('boom')", "0", {Status.EXCEPTION}),
    ("KeyboardInterrupt", "raise KeyboardInterrupt", "0", {Status.EXCEPTION}),
    ("SystemExit in expr", "", "(_ for _ in ()).throw(SystemExit(2))", {Status.EXIT}),
    ("hostile __repr__", "class A:\n    def __repr__(self):\n        raise SystemExit(1)", "A()", {Status.EXIT}),
    ("long sleep", "import time", "time.sleep(10**6) or 1", {Status.OK}),
    (
        "swallow output limit",
        "def f():\n    try:\n        while True:\n            print('y' * 999)\n    except BaseException:\n        return 1",
        "f()",
        {Status.OUTPUT_LIMIT},
    ),
]


@pytest.mark.parametrize(("name", "program", "expr", "allowed"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_program_is_contained(
    sandbox: Sandbox, name: str, program: str, expr: str, allowed: set[Status]
) -> None:
    started = time.monotonic()
    result = sandbox.run(Job(program, expr, timeout_s=TIMEOUT_S))
    elapsed = time.monotonic() - started
    assert result.status in allowed, f"{name}: {result}"
    assert elapsed < TIMEOUT_S + 0.5, f"{name} took {elapsed:.2f} s"
    after = sandbox.run(Job("def f(x):\n    return x + 1", "f(41)"))
    assert after.value_repr == "42", f"sandbox unusable after {name}: {after}"


def test_exit_codes(sandbox: Sandbox) -> None:
    assert sandbox.run(Job("import sys\nsys.exit(4)", "0")).exit_code == 4
    assert sandbox.run(Job("raise SystemExit", "0")).exit_code == 0
    # WASI preview 2 carries only success/failure for a process exit.
    assert sandbox.run(Job("import os\nos._exit(3)", "0")).exit_code == 1


def test_no_host_filesystem_env_or_args(sandbox: Sandbox) -> None:
    listing = sandbox.run(Job("import os", "os.listdir('/')"))
    assert listing.status is Status.EXCEPTION or listing.value_repr == "[]", listing
    assert sandbox.run(Job("import os", "dict(os.environ)")).value_repr == "{}"
    assert sandbox.run(Job("import sys", "sys.argv[1:]")).value_repr == "[]"
    assert sandbox.run(Job("import os", "os.path.exists('/etc/passwd')")).value_repr == "False"


@pytest.mark.parametrize(
    "poison",
    [
        "import builtins\nbuiltins.sorted = lambda x, **k: 'poisoned'",
        "import builtins\nbuiltins.len = lambda x: 0",
        "import collections\ncollections.Counter = None",
        "import math\nmath.sqrt = lambda x: -1",
        "import sys\nsys.modules['json'] = None",
        "GLOBAL_LEFTOVER = 1\nimport builtins\nbuiltins.GLOBAL_LEFTOVER = 2",
    ],
)
def test_no_state_crosses_jobs(sandbox: Sandbox, poison: str) -> None:
    sandbox.run(Job(poison, "0"))
    probe = (
        "import collections, math, json\n"
        "def f():\n"
        "    return (sorted([2, 1]), len([1]), collections.Counter('aa')['a'], math.sqrt(4), json.dumps(1),"
        " 'GLOBAL_LEFTOVER' in globals() or hasattr(__builtins__, 'GLOBAL_LEFTOVER'))"
    )
    assert sandbox.run(Job(probe, "f()")).value_repr == "([1, 2], 1, 2, 2.0, '1', False)"


@pytest.mark.parametrize(
    "poison",
    [
        "import builtins\nbuiltins.len = 5",
        "import builtins\nbuiltins.TypeError = builtins.str = builtins.isinstance = None\nraise ValueError(1)",
        "import builtins\nbuiltins.__dict__.clear()",
        "import sys\nsys.modules.clear()\nraise KeyError",
        "import builtins\nbuiltins.BaseException = None\nraise SystemExit(3)",
        "import builtins\nbuiltins.__import__ = None\nbuiltins.range = builtins.repr = None",
        "import sys\nfor name in list(sys.modules):\n    sys.modules[name] = None",
        "import builtins, sys\nbuiltins.__dict__.clear()\nsys.modules.clear()\nraise SystemExit('x')",
    ],
)
def test_poisoned_builtins_do_not_break_the_harness(sandbox: Sandbox, poison: str) -> None:
    # The last expression reports with the poison still in place (the instance is reset or
    # dropped afterwards); earlier ones are restored for the next expression.
    results = sandbox.run_many(poison, ["0", "1"])
    assert all(r.status is not Status.CRASH for r in results), results
    single = sandbox.run(Job(poison, "7"))
    assert single.status in (Status.OK, Status.EXCEPTION, Status.EXIT), single
    assert single.status is results[0].status and single.value_repr == (None if results[0].value_repr is None else "7")


def test_poison_in_a_batch_does_not_reach_its_neighbours(sandbox: Sandbox) -> None:
    poison = Job("import builtins\nbuiltins.sorted = lambda x, **k: 'poisoned'", "sorted([3, 1])")
    clean = Job("def f(x):\n    return sorted(x)", "f([3, 1])")
    results = sandbox.run_batch([poison, clean] * 50)
    assert {r.value_repr for r in results[0::2]} == {"'poisoned'"}
    assert {r.value_repr for r in results[1::2]} == {"[1, 3]"}


def test_time_and_randomness_depend_only_on_seed(sandbox: Sandbox) -> None:
    program = "import random, time, os\ndef f():\n    return (random.random(), time.time(), os.urandom(4).hex())"
    a = sandbox.run(Job(program, "f()", seed=1))
    b = sandbox.run(Job(program, "f()", seed=1))
    c = sandbox.run(Job(program, "f()", seed=2))
    assert a.status is Status.OK and a.value_repr == b.value_repr
    assert c.value_repr != a.value_repr


def test_trap_in_batch_leaves_others_intact(sandbox: Sandbox) -> None:
    jobs = [Job("def f():\n    while True:\n        pass", "f()", timeout_s=0.3), Job("", "6 * 7")] * 4
    results = sandbox.run_batch(jobs)
    assert [r.status for r in results] == [Status.TIMEOUT, Status.OK] * 4
    assert {r.value_repr for r in results[1::2]} == {"42"}


@pytest.mark.parametrize(
    "program",
    [
        # Calling the harness's own imports: resetting the deadline forever, reporting extra results.
        "import wit_world\ndef f():\n    while True:\n        wit_world.begin(0)",
        "import wit_world, azr_guest\ndef f():\n    for _ in range(5):\n        wit_world.report(azr_guest._outcome(wit_world.Status.OK, '', 'True'))",
        # A forged report followed by a hang: the report is not confirmed, the timeout stands.
        "import wit_world, azr_guest\ndef f():\n    wit_world.report(azr_guest._outcome(wit_world.Status.OK, '', 'True'))\n"
        "    while True:\n        pass",
    ],
    ids=["begin-loop", "extra-reports", "report-then-hang"],
)
def test_guest_code_cannot_drive_the_harness_protocol(sandbox: Sandbox, program: str) -> None:
    started = time.monotonic()
    results = sandbox.run_many(program, ["f()", "1"], timeout_s=TIMEOUT_S)
    assert time.monotonic() - started < TIMEOUT_S + 0.5
    assert results[0].value_repr is None, results[0]
    assert results[0].error_type == "ProtocolViolation" or results[0].status is Status.TIMEOUT, results[0]
    assert results[1].status is Status.OK and results[1].value_repr == "1"  # the rest run in a new instance
    after = sandbox.run(Job("def f(x):\n    return x + 1", "f(41)"))
    assert after.value_repr == "42"
