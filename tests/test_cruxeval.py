"""Fidelity: all 800 CRUXEval programs give the same value in the sandbox as in native CPython."""

from __future__ import annotations

from azr import Job, Sandbox, Status


def _native(code: str, expr: str) -> str:
    namespace: dict[str, object] = {}
    exec(code, namespace)  # trusted test data (CRUXEval), not model output
    return repr(eval(expr, namespace))


def test_cruxeval_values_match_native(sandbox: Sandbox, cruxeval: list[dict[str, str]]) -> None:
    assert len(cruxeval) == 800
    results = sandbox.run_batch([Job(row["code"], f"f({row['input']})") for row in cruxeval])
    not_ok = {row["id"]: r for row, r in zip(cruxeval, results, strict=True) if r.status is not Status.OK}
    assert not not_ok, f"programs that did not run: {not_ok}"
    # Compare by value, inside the sandbox: eval(value_repr) == eval(gold output).
    checks = sandbox.run_batch(
        [Job("", f"({r.value_repr}) == ({row['output']})") for row, r in zip(cruxeval, results, strict=True)]
    )
    mismatched = [row["id"] for row, c in zip(cruxeval, checks, strict=True) if c.value_repr != "True"]
    assert mismatched == [], f"values differing from CRUXEval's gold outputs: {mismatched}"
    # And against this machine's native CPython, by repr, on every item.
    differing = [
        row["id"]
        for row, r in zip(cruxeval, results, strict=True)
        if r.value_repr != _native(row["code"], f"f({row['input']})")
    ]
    assert differing == [], f"values differing from native CPython: {differing}"
