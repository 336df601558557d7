"""A second string-hash secret: another build of the guest.

The hash secret is drawn when a guest is built and fixed in its memory snapshot, so with one build a
program whose output depends on the iteration order of a set of strings looks deterministic.
``with_hash_seed`` gives the same sandbox on another build, with another secret. Which secret a build
gets is random (it differs between machines), so these tests use orders of many strings, which two
random secrets practically never share.
"""

from __future__ import annotations

import pytest

from azr import ConfigError, Job, Sandbox, Status

ORDER_DEPENDENT = "def f():\n    return ' '.join({str(i) for i in range(16)})"


@pytest.fixture(scope="module")
def other(sandbox: Sandbox) -> Sandbox:
    return sandbox.with_hash_seed(1)


def test_variant_has_the_same_settings_and_is_cached(sandbox: Sandbox, other: Sandbox) -> None:
    assert (sandbox.hash_seed, other.hash_seed) == (0, 1)
    assert sandbox.with_hash_seed(1) is other
    assert sandbox.with_hash_seed(0) is sandbox
    assert (other.workers, other.timeout_s, other.instance_mode) == (
        sandbox.workers,
        sandbox.timeout_s,
        sandbox.instance_mode,
    )
    assert other.guest_path != sandbox.guest_path
    with pytest.raises(AttributeError):
        sandbox.hash_seed = 1  # type: ignore[misc]


def test_string_hashes_and_set_order_differ(sandbox: Sandbox, other: Sandbox) -> None:
    exprs = ["hash('abc')", "f()", "list(set('abcdefghijkl'))"]
    first = [r.value_repr for r in sandbox.run_many(ORDER_DEPENDENT, exprs)]
    second = [r.value_repr for r in other.run_many(ORDER_DEPENDENT, exprs)]
    print(f"\nhash seed 0: {first}\nhash seed 1: {second}")
    for a, b in zip(first, second, strict=True):
        assert a is not None and b is not None and a != b
    # Hashes of non-strings do not use the secret.
    same = ["hash(1)", "hash((1, 2.5))", "sorted({'b', 'a'})", "list({3: 0, 1: 0})"]
    assert [r.value_repr for r in sandbox.run_many("", same)] == [r.value_repr for r in other.run_many("", same)]


def test_each_seed_is_itself_deterministic(other: Sandbox) -> None:
    values = {other.run(Job(ORDER_DEPENDENT, "f()", seed=s)).value_repr for s in range(4)}
    assert len(values) == 1


def test_cruxeval_results_otherwise_identical(sandbox: Sandbox, other: Sandbox, cruxeval: list[dict[str, str]]) -> None:
    rows = cruxeval[:100]
    jobs = [Job(row["code"], f"f({row['input']})") for row in rows]
    a, b = sandbox.run_batch(jobs), other.run_batch(jobs)
    assert all(r.status is Status.OK for r in a + b)
    differing = [
        row["id"] for row, x, y in zip(rows, a, b, strict=True) if (x.value_repr, x.stdout) != (y.value_repr, y.stdout)
    ]
    print(f"\nCRUXEval items 0-99 differing between hash seeds 0 and 1: {differing}")
    # Only programs that iterate over a set (or a set-derived collection) may differ.
    assert all("set" in row["code"] for row in rows if row["id"] in differing), differing


def test_prebuilt_guest_is_for_hash_seed_zero_only(sandbox: Sandbox) -> None:
    with pytest.raises(ConfigError):
        Sandbox(workers=1, guest=sandbox.guest_path, hash_seed=1)
    with pytest.raises(ConfigError):
        Sandbox(workers=1, hash_seed=-1)
    with pytest.raises(ConfigError):
        sandbox.with_hash_seed(2**32)
    pinned = Sandbox(workers=1, guest=sandbox.guest_path)
    assert pinned.with_hash_seed(1).guest_path == sandbox.with_hash_seed(1).guest_path
