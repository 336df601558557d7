"""Where azr's Rust parser (rustpython-parser 0.4), the host's CPython and the guest's CPython 3.14 meet.

The graders rely on one invariant, written down in docs/grading.md: **no model text reaches a grading
instance except as a program run in its own instance.** Answers and reported values are read on the
host by CPython's parser (after ``_core`` bounds their size and nesting); what a grading instance sees
is source azr writes from those values (``values.source``). So the Rust parser and the guest never
have to agree on what a piece of model text *means* for a verdict to be sound; they only have to
agree on values azr itself writes, which these tests check against the guest.
"""

from __future__ import annotations

import pytest

from azr import Job, Sandbox, _core
from azr.verify import values

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies

from strategies import plain  # noqa: E402  (tests/strategies.py: plain data values)


@hypothesis.settings(max_examples=15, deadline=None)
@hypothesis.given(st.lists(plain, min_size=40, max_size=40))
def test_the_guest_reads_azr_written_source_as_the_same_values(sandbox: Sandbox, batch: list[object]) -> None:
    # Abduction hands values to the task's program as ``values.source(v)``; the guest must see v.
    jobs = [Job("", f"({values.source(v)})") for v in batch]
    for value, result in zip(batch, sandbox.run_batch(jobs), strict=True):
        assert result.ok, (value, result)
        back = values.parse_value(result.value_repr)
        assert isinstance(back, values.Data), (value, result.value_repr)
        assert values.typed_equal(back.value, value), (value, result.value_repr)
        # And the host reads the guest's repr of it back as the same value (the deduction path).
        assert values.typed_equal(values.parse_value(repr(value)).value, value)  # type: ignore[union-attr]


# Valid CPython 3.14 that rustpython-parser 0.4 rejects: proposers writing these get `syntax_error`.
# (Rejection is the safe direction: a program Rust cannot parse is never run as a task.)
VALID_314_REJECTED_BY_RUST = {
    "except A, B (PEP 758)": "def f(x):\n    try:\n        return 1\n    except ValueError, TypeError:\n        return 0",
    "t-strings (PEP 750)": "def f(x):\n    return t'{x}'",
    "same quotes nested in an f-string (PEP 701)": 'def f(x):\n    return f"{"a"}"',
}


@pytest.mark.parametrize("name", sorted(VALID_314_REJECTED_BY_RUST))
def test_known_parser_gaps_are_exactly_these(sandbox: Sandbox, name: str) -> None:
    source = VALID_314_REJECTED_BY_RUST[name]
    compiled = sandbox.run(Job("", f"compile({source!r}, '<p>', 'exec') is not None"))
    assert compiled.value_repr == "True", f"the guest should accept {name}"
    problem = _core.CheckPolicy().check_program(source)
    assert problem is not None and problem[0] == "syntax_error", f"rustpython now parses {name}: update docs/grading.md"


@pytest.mark.parametrize(
    "text",
    ["t'{x}'", "f'{x}'", "'a' 'b'", "0x10", "1_000", "1e999", "(1)", "--1", "[*a]", "{**a}", "'\\N{DASH}'"],
)
def test_rust_never_accepts_literal_text_the_host_reads_differently(text: str) -> None:
    """Whatever ``_core.check_literal`` accepts, the host's reading decides; where Rust rejects, the
    answer is not data. Either way no text is evaluated as code."""
    rust_ok = _core.check_literal(text) is None
    read = values.parse_value(text)
    if not rust_ok:
        assert isinstance(read, values.NotData)
    elif isinstance(read, values.Data):
        assert values.typed_equal(read.value, eval(text))  # trusted test input: the reference reading
