"""Any text in, data out: no sandbox entry point raises on lone surrogates or NULs, in or out."""

from __future__ import annotations

import pytest

from azr import Job, Sandbox, Status, _core

ODD = ["\udcff", "x = '\ud800'", "\x00", "x = 1\x00", "'\udfff' + '\x00'"]


@pytest.fixture(scope="module")
def core() -> _core.Sandbox:
    return _core.Sandbox(workers=2)


@pytest.mark.parametrize("text", ODD)
def test_core_run_takes_any_text(core: _core.Sandbox, text: str) -> None:
    for program, exprs in ((text, ["1"]), ("x = 1", [text, "x"]), (text, [text])):
        results = core.run(program, exprs)
        assert len(results) == len(exprs)
        assert results[0].status in (Status.SYNTAX_ERROR, Status.EXCEPTION), results


def test_core_run_batch_keeps_order_around_unencodable_jobs(core: _core.Sandbox) -> None:
    jobs: list[tuple[str, list[str], int, float | None]] = [
        ("", ["1"], 0, None),
        ("\udcff", ["1", "2"], 0, None),
        ("", ["'\ud800'"], 0, None),
        ("", ["2", "3"], 0, None),
    ]
    out = core.run_batch(jobs)
    assert [[r.status for r in rs] for rs in out] == [["ok"], ["syntax_error"] * 2, ["syntax_error"], ["ok", "ok"]]
    assert out[1][0].error_type == "UnicodeEncodeError"
    assert [r.value_repr for r in out[3]] == ["2", "3"]


def test_surrogates_in_output_are_data(sandbox: Sandbox) -> None:
    printed = sandbox.run(Job("def f():\n    print('a\\udcffb')\n    return 1", "f()"))
    assert (printed.status, printed.stdout) == (Status.OK, "a\ufffdb\n")
    raised = sandbox.run(Job("def f():\n    raise ValueError('\\ud800')", "f()"))
    assert (raised.status, raised.error_message) == (Status.EXCEPTION, "\ufffd")
    odd_repr = "class R:\n    def __repr__(self):\n        return '<\\udcff>'\ndef f():\n    return R()"
    assert sandbox.run(Job(odd_repr, "f()")).value_repr == "<\ufffd>"
    # The repr of a str escapes surrogates and NULs itself.
    assert sandbox.run(Job("", "'\\udcff\\x00'")).value_repr == "'\\udcff\\x00'"
    # The sandbox is still fine.
    assert sandbox.run(Job("", "1 + 1")).value_repr == "2"
