"""The public sandbox contract: names, statuses, ordering, run_many, determinism."""

from __future__ import annotations

import inspect
import json

import pytest

from azr import ConfigError, ExecResult, Job, Sandbox, Status, _core


def test_contract_example(sandbox: Sandbox) -> None:
    r = sandbox.run(Job(program="def f(x):\n    return x[::-1]", expr="f([1, 2, 3])"))
    assert isinstance(r, ExecResult)
    assert r.status is Status.OK and r.value_repr == "[3, 2, 1]"
    assert r.error_type is None and r.elapsed_ms > 0


def test_results_are_frozen_values_made_in_rust(sandbox: Sandbox) -> None:
    r = sandbox.run(Job("def f():\n    print('hi')\n    return [1, 'a']", "f()"))
    assert type(r) is _core.ExecResult and r.ok
    with pytest.raises(AttributeError):
        r.value_repr = "2"  # type: ignore[misc]
    fields = {
        "status": Status.OK,
        "value_repr": "[1, 'a']",
        "stdout": "hi\n",
        "error_type": None,
        "error_message": None,
        "exit_code": None,
        "elapsed_ms": r.elapsed_ms,
        "fuel": None,
    }
    assert r.to_dict() == fields and r.to_dict()["status"] is Status.OK
    assert json.loads(json.dumps(r.to_dict()))["status"] == "ok"
    assert repr(r) == "ExecResult(" + ", ".join(f"{k}={v!r}" for k, v in fields.items()) + ")"
    # Two unencodable jobs get field-for-field equal results (no guest time); a guest result differs.
    a, b = sandbox.run_many("\udcff", ["1", "2"])
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != r and r != r.to_dict()
    with pytest.raises(TypeError):
        ExecResult()  # type: ignore[call-arg]


def test_status_is_the_str_enum_rust_defines() -> None:
    assert Status is _core.Status and len(Status) == 9
    for status in Status:
        assert isinstance(status, str) and Status(status.value) is status
        assert status.name == status.value.upper() and str(status) == status.value
        assert f"{status.name} ({status.value!r})".replace("'", '"') in (Status.__doc__ or "")


def test_sandbox_defaults_come_from_the_core() -> None:
    core = _core.Sandbox(workers=1)
    assert (core.timeout_s, core.memory_mb, core.max_output_bytes, core.hash_seed, core.fuel) == (
        _core.DEFAULT_TIMEOUT_S,
        _core.DEFAULT_MEMORY_MB,
        _core.DEFAULT_MAX_OUTPUT_BYTES,
        _core.DEFAULT_HASH_SEED,
        None,
    )
    params = inspect.signature(Sandbox).parameters
    assert (params["timeout_s"].default, params["memory_mb"].default, params["instance_mode"].default) == (
        _core.DEFAULT_TIMEOUT_S,
        _core.DEFAULT_MEMORY_MB,
        _core.DEFAULT_INSTANCE_MODE,
    )


def test_statuses_are_data_not_exceptions(sandbox: Sandbox) -> None:
    r = sandbox.run(Job("def f():\n    print('out')\n    raise ValueError('bad')", "f()"))
    assert r.status is Status.EXCEPTION
    assert (r.error_type, r.error_message, r.stdout) == ("ValueError", "bad", "out\n")
    assert sandbox.run(Job("def f(:", "f()")).status is Status.SYNTAX_ERROR
    assert sandbox.run(Job("x = 1", "x +")).status is Status.SYNTAX_ERROR
    assert sandbox.run(Job("x = 1", "y")).error_type == "NameError"


def test_program_with_helpers_and_imports(sandbox: Sandbox) -> None:
    program = "import json\nfrom fractions import Fraction\n\ndef g(x):\n    return Fraction(x, 3)\n\ndef f(x):\n    return json.dumps([str(g(x))])"
    r = sandbox.run(Job(program, "f(2)"))
    assert r.value_repr == "'[\"2/3\"]'", r


def test_run_batch_keeps_order_and_matches_serial(sandbox: Sandbox) -> None:
    jobs = [Job(f"def f(x):\n    return [x, {i}, {i} ** 2]", f"f({i % 7})") for i in range(2000)]
    batch = sandbox.run_batch(jobs)
    assert len(batch) == len(jobs)
    serial = [sandbox.run(job) for job in jobs]
    assert [r.value_repr for r in batch] == [r.value_repr for r in serial]
    assert batch[1999].value_repr == f"[{1999 % 7}, 1999, {1999**2}]"


def test_run_many_fresh_namespace_per_expression(sandbox: Sandbox) -> None:
    program = "seen = []\ndef f(x):\n    seen.append(x)\n    return len(seen)"
    results = sandbox.run_many(program, ["f(1)", "f(2)", "f(3)"])
    assert [r.value_repr for r in results] == ["1", "1", "1"]


def test_run_many_restores_builtins_between_expressions(sandbox: Sandbox) -> None:
    program = "import builtins\ndef f(x):\n    builtins.len = lambda v: -1\n    return len([1, 2])"
    results = sandbox.run_many(program, ["f(0)", "len([1, 2, 3])"])
    assert results[0].value_repr == "-1"
    # The second expression re-runs the program, which does not call f: len is the real one again.
    assert results[1].value_repr == "3"


def test_run_many_timeout_is_per_expression(sandbox: Sandbox) -> None:
    program = "def f(x):\n    while x == 1:\n        pass\n    return x"
    results = sandbox.run_many(program, ["f(0)", "f(1)", "f(2)"], timeout_s=0.3)
    assert [r.status for r in results] == [Status.OK, Status.TIMEOUT, Status.OK]
    assert results[2].value_repr == "2"


def test_run_many_batch(sandbox: Sandbox) -> None:
    items = [(f"def f(x):\n    return x * {k}", ["f(1)", "f(2)"]) for k in range(10)]
    out = sandbox.run_many_batch(items)
    assert [[r.value_repr for r in rs] for rs in out] == [[str(k), str(2 * k)] for k in range(10)]


def test_same_job_same_result_and_fuel() -> None:
    metered = Sandbox(workers=1, fuel=10**10)
    program = "import random, time\ndef f(n):\n    random.seed(time.time())\n    return sorted(random.random() for _ in range(n))"
    a = metered.run(Job(program, "f(50)", seed=7))
    b = metered.run(Job(program, "f(50)", seed=7))
    c = metered.run(Job(program, "f(50)", seed=8))
    assert a.status is Status.OK
    assert (a.value_repr, a.stdout, a.fuel) == (b.value_repr, b.stdout, b.fuel)
    assert a.fuel is not None and a.fuel > 0
    assert c.value_repr != a.value_repr


def test_fuel_budget_exhaustion() -> None:
    metered = Sandbox(workers=1, fuel=5_000_000, timeout_s=10)
    r = metered.run(Job("def f():\n    while True:\n        pass", "f()"))
    assert r.status is Status.OUT_OF_FUEL


def test_unmetered_results_have_no_fuel(sandbox: Sandbox) -> None:
    assert sandbox.run(Job("", "1")).fuel is None


@pytest.mark.parametrize(
    "kwargs",
    [{"workers": 0}, {"timeout_s": 0}, {"timeout_s": -1.0}, {"memory_mb": 0}, {"memory_mb": 8}, {"fuel": 0}],
)
def test_bad_config_raises_config_error(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        Sandbox(**kwargs)  # type: ignore[arg-type]


def test_bad_job_values(sandbox: Sandbox) -> None:
    # A job's values are a caller's arguments: ValueError/TypeError (the Sandbox's own settings: ConfigError).
    with pytest.raises(ValueError, match="seed"):
        Job("", "1", seed=-1)
    with pytest.raises(TypeError, match="seed must be an int"):
        Job("", "1", seed=1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout_s"):
        Job("", "1", timeout_s=0)
    with pytest.raises(TypeError, match="timeout_s"):
        Job("", "1", timeout_s="1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout_s"):
        sandbox.run_many("", ["1"], timeout_s=-1.0)
    with pytest.raises(ValueError, match="seed"):
        sandbox.run_many_batch([("", ["1"])], seed=2**64)
    with pytest.raises(TypeError):
        Job(b"x", "1")  # type: ignore[arg-type]


def test_huge_and_odd_text_is_data(sandbox: Sandbox) -> None:
    assert sandbox.run(Job("x = '\\x00'", "x")).value_repr == "'\\x00'"
    assert sandbox.run(Job("\x00", "1")).status is Status.SYNTAX_ERROR
    bad = sandbox.run(Job("s = '\udcff'", "len(s)"))
    assert (bad.status, bad.error_type) == (Status.SYNTAX_ERROR, "UnicodeEncodeError")
    mixed = sandbox.run_batch([Job("", "1"), Job("", "'\udcff'"), Job("", "2")])
    assert [r.status for r in mixed] == [Status.OK, Status.SYNTAX_ERROR, Status.OK]
    big = "x = 1\n" * 100_000  # compiling it takes ~0.5 s in the guest, more on a loaded machine
    assert sandbox.run(Job(big, "x", timeout_s=30)).value_repr == "1"
