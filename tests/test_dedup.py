"""Deduplication by canonical fingerprint, and static checks through the bindings."""

from __future__ import annotations

from azr import _core


def test_fingerprint_ignores_names_comments_docstrings_and_spacing() -> None:
    a = 'def f(xs):\n    """Total."""\n    t = 0  # running sum\n    for x in xs:\n        t += x\n    return t\n'
    b = "def f(values):\n    acc = 0\n\n    for v in values:\n        acc  +=  v\n    return acc"
    assert _core.program_fingerprint(a) == _core.program_fingerprint(b)
    assert _core.program_fingerprint("def f(x):\n    return len(x)") != _core.program_fingerprint(
        "def f(x):\n    return sum(x)"
    )
    assert _core.program_fingerprint("def f(:") is None


def test_deduper_batches_and_memory() -> None:
    d = _core.Deduper()
    batch = ["def f(a):\n    return a", "def f(b):\n    return b", "def f(a):\n    return a + 1", "not python ("]
    assert d.admit_programs(batch) == [True, False, True, False]
    assert d.admit_programs(["def f(z):\n    return z + 1"]) == [False]
    assert d.contains_programs(["def f(q):\n    return q", "def f(q):\n    return -q"]) == [True, False]
    assert d.num_programs == 2
    assert d.admit_pairs([("def f(a):\n    return a", "[1,2]"), ("def f(b):\n    return b", "[1, 2]")]) == [True, False]


def test_check_policy_defaults_and_overrides() -> None:
    policy = _core.CheckPolicy()
    assert (
        "os" in policy.banned_modules
        and "eval" in policy.banned_names
        and "input" in policy.banned_calls
        and policy.entry == "f"
    )
    assert policy.check_program("import os\ndef f():\n    return 1") == ("banned_import", "imports banned module `os`")
    assert _core.CheckPolicy(banned_modules=[]).check_program("import os\ndef f():\n    return 1") is None
    assert _core.CheckPolicy(entry="main").check_program("def f():\n    return 1")[0] == "missing_entry"
    assert policy.check_programs(["def f():\n    return 1", "def f(:"])[0] is None
