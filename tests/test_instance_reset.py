"""Reset mode (one live instance per worker, memory restored after each job) must be
indistinguishable from a new instance per job, down to object addresses."""

from __future__ import annotations

import pytest

from azr import Job, Sandbox, Status

# Each probe reports state that depends on the whole heap: object addresses, allocator and
# collector counters, interned-string hashing, the seeded clock and RNG.
CANARY = Job(
    "import gc, sys, random, time\n"
    "def f():\n"
    "    o = object()\n"
    "    return (id(o), repr(o), sys.getallocatedblocks(), gc.get_count(), hash('azr'),\n"
    "            random.random(), time.time(), len(sys.modules), sorted(dir(__builtins__))[-3:])",
    "f()",
    seed=3,
)

# Programs that try to leave something behind, or end the instance abnormally.
DISTURBERS: list[Job] = [
    Job("import builtins\nbuiltins.len = lambda x: 0\nbuiltins.KEEP = 1", "len([1, 2])"),
    Job("import json\njson.dumps = None\nimport sys\nsys.modules['math'] = None", "0"),
    Job("import gc\ngc.disable()\ngc.set_threshold(1)", "gc.isenabled()"),
    Job("import random\nrandom.seed(1)\nx = [random.random() for _ in range(1000)]", "len(x)"),
    Job("import sys\nsys.setrecursionlimit(50)\nsys.__stdout__.write('raw write')", "sys.getrecursionlimit()"),
    Job("x = bytearray(64 * 2**20)", "len(x)"),  # grows the linear memory
    Job("def f():\n    while True:\n        pass", "f()", timeout_s=0.2),  # traps
    Job("import time\ntime.sleep(3)", "time.monotonic() > 2"),
    Job("class A:\n    def __del__(self):\n        print('bye')\na = A()\na.me = a", "1"),
    Job("import sys\nsys.exit(3)", "0"),
    Job("def f(n):\n    return f(n + 1)", "f(0)"),
    Job("s = {str(i) * 50 for i in range(20000)}", "len(s)"),
]


def _key(result):  # type: ignore[no-untyped-def]
    return (result.status, result.value_repr, result.stdout, result.error_type, result.error_message, result.fuel)


@pytest.fixture(scope="module")
def fresh() -> Sandbox:
    sandbox = Sandbox(workers=1, instance_mode="fresh")
    assert sandbox.instance_mode == "fresh"
    return sandbox


@pytest.fixture(scope="module")
def reset() -> Sandbox:
    sandbox = Sandbox(workers=1, instance_mode="reset")
    if sandbox.instance_mode != "reset":
        pytest.skip("this kernel lacks PAGEMAP_SCAN (Linux 6.7+): the sandbox fell back to fresh instances")
    return sandbox


def test_reset_is_indistinguishable_from_fresh_instances(fresh: Sandbox, reset: Sandbox) -> None:
    baseline = fresh.run(CANARY)
    assert baseline.status is Status.OK, baseline
    for job in DISTURBERS:
        expected = fresh.run(job)
        got = reset.run(job)
        assert _key(got) == _key(expected), job.program
        after = reset.run(CANARY)
        assert _key(after) == _key(baseline), f"state leaked from {job.program!r}"
    counts = reset.instance_counts()
    assert counts.reused > len(DISTURBERS), counts
    assert counts.discarded >= 2, counts  # the memory growth and the timeout at least
    assert reset.idle_instances_pristine()


def test_reset_matches_fresh_on_cruxeval(fresh: Sandbox, reset: Sandbox, cruxeval: list[dict[str, str]]) -> None:
    jobs = [Job(item["code"], f"f({item['input']})", seed=i) for i, item in enumerate(cruxeval[:200])]
    assert [_key(r) for r in reset.run_batch(jobs)] == [_key(r) for r in fresh.run_batch(jobs)]
    assert reset.idle_instances_pristine()


def test_fuel_is_the_same_in_both_modes() -> None:
    job = Job("def f(n):\n    return sorted(range(n, 0, -1))[:3]", "f(500)")
    fresh = Sandbox(workers=1, fuel=10**10, instance_mode="fresh")
    reset = Sandbox(workers=1, fuel=10**10, instance_mode="reset")
    expected = fresh.run(job)
    assert expected.fuel is not None and expected.fuel > 0
    # The first run instantiates; later runs reuse the restored instance.
    assert [_key(reset.run(job)) for _ in range(3)] == [_key(expected)] * 3


def test_run_many_after_a_trap_continues_in_a_new_instance(reset: Sandbox) -> None:
    program = "def f(x):\n    while x:\n        pass\n    return 'done'"
    results = reset.run_many(program, ["f(0)", "f(1)", "f(0)"], timeout_s=0.2)
    assert [r.status for r in results] == [Status.OK, Status.TIMEOUT, Status.OK]
    assert reset.idle_instances_pristine()


def test_bad_instance_mode_is_a_config_error() -> None:
    from azr.exceptions import ConfigError

    with pytest.raises(ConfigError, match="instance_mode"):
        Sandbox(instance_mode="snapshot")  # type: ignore[arg-type]
