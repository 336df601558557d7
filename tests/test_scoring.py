"""The plain scoring API: (program, tests) and (program, input, output), with no ML dependency."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from azr import Sandbox
from azr.verify.scoring import (
    ProgramTests,
    assemble_program,
    extract_code,
    score_abduction,
    score_deduction,
    score_induction,
    score_io,
    score_tests,
)

SORT = "def f(x):\n    return sorted(x)"
DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_score_io_checks_program_input_output_triples(sandbox: Sandbox) -> None:
    assert score_io(
        [SORT, SORT, SORT, "def f(x):\n    while True: pass"],
        ["[3, 1, 2]", "[3, 1, 2]", "'ba'", "1"],
        ["[1, 2, 3]", "[3, 2, 1]", "['a', 'b']", "1"],
        sandbox=sandbox,
    ) == [True, False, True, False]


def test_predicted_answers_raw_or_bare(sandbox: Sandbox) -> None:
    assert score_deduction(
        [SORT] * 3,
        ["[2, 1]"] * 3,
        ["[1, 2]"] * 3,
        ["[1, 2]", "<answer>\n```output\n[1, 2]\n```\n</answer>", "[2, 1]"],
        sandbox=sandbox,
    ) == [True, True, False]
    assert score_abduction([SORT] * 3, ["[1, 2]"] * 3, ["f([2, 1])", "[1, 2]", "[1]"], sandbox=sandbox) == [
        True,
        True,
        False,
    ]
    pairs = [("[2, 1]", "[1, 2]"), ("[]", "[]")]
    assert score_induction([pairs, pairs], [f"```python\n{SORT}\n```", "def f(x):\n    return x"], sandbox=sandbox) == [
        1.0,
        0.0,
    ]
    assert score_induction([pairs], ["def f(x):\n    return x"], fraction=True, sandbox=sandbox) == [0.5]


def test_score_tests_plain_asserts_cases_and_check_functions(sandbox: Sandbox) -> None:
    add = "def add(a, b):\n    return a + b"
    wrong = "def add(a, b):\n    return a - b"
    cases = ("assert add(1, 1) == 2", "assert add(0, 5) == 5", "assert add(2, 2) == 5")
    check = "def check(candidate):\n    assert candidate(2, 3) == 5"
    assert score_tests(
        [add, wrong, add, add, None],
        [
            "assert add(2, 3) == 5",
            "assert add(2, 3) == 5",
            ProgramTests(check, entry_point="add"),
            ProgramTests(cases),
            "assert True",
        ],
        sandbox=sandbox,
    ) == [1.0, 0.0, 1.0, 0.0, 0.0]
    assert score_tests([add], [ProgramTests(cases)], fraction=True, sandbox=sandbox) == [pytest.approx(2 / 3)]


def test_test_cases_are_isolated(sandbox: Sandbox) -> None:
    """A case that tampers with the namespace does not affect the next case: each runs in its own instance."""
    program = "def add(a, b):\n    return a + b"
    cases = ("import builtins\nbuiltins.abs = lambda x: 0\nassert True", "assert abs(-3) == 3")
    assert score_tests([program], [ProgramTests(cases)], fraction=True, sandbox=sandbox) == [1.0]


def test_assemble_and_extract() -> None:
    prompt = 'from typing import List\n\ndef g(xs: List[int]) -> int:\n    """Sum."""\n'
    assert assemble_program("    return sum(xs)\n", prompt, "g") == prompt + "    return sum(xs)\n"
    whole = "def g(xs):\n    return sum(xs)\n"
    assert assemble_program(whole, prompt, "g") == f"{prompt}\n{whole}"
    assert assemble_program(whole) == whole
    assert extract_code("<think>```python\nbad\n```</think>```python\ngood\n```") == "good\n"
    assert extract_code("    return 1\n") == "    return 1\n"
    assert extract_code("   ") is None
    assert extract_code([{"role": "assistant", "content": "```py\nx = 1\n```"}]) == "x = 1\n"
    with pytest.raises(ValueError, match="empty"):
        ProgramTests(())
    with pytest.raises(TypeError, match="tuple of strings"):
        ProgramTests(("assert True", 3))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="identifier"):
        ProgramTests("assert True", entry_point="not an identifier")
    with pytest.raises(ValueError, match="2 programs but 1 test cases"):
        score_tests(["x = 1", "x = 2"], ["assert x"])


def test_core_modules_import_without_ml_dependencies() -> None:
    """Scoring, evaluation of answers and the adapters must not pull in torch or transformers."""
    code = (
        "import sys\n"
        "import azr.verify.scoring, azr.evaluation, azr.integrations.trl, azr.integrations.verl, azr.commands.evaluate\n"
        "heavy = [m for m in ('torch', 'transformers', 'trl', 'vllm') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def python_blocks(doc: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", doc.read_text(encoding="utf-8"), re.DOTALL | re.MULTILINE)


@pytest.mark.parametrize(("doc", "block"), [("scoring.md", 0), ("verl.md", 1)])
def test_documented_snippets_print_what_their_comments_say(
    doc: str, block: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """The copy-paste snippets in the docs run, and print what the comments beside them promise."""
    code = python_blocks(DOCS / doc)[block]
    exec(compile(code, doc, "exec"), {})  # our own documentation, not model output
    printed = capsys.readouterr().out.splitlines()
    promised = [line.split("# ", 1)[1] for line in code.splitlines() if line.startswith("print(") and "# " in line]
    promised += [line[2:] for line in code.splitlines() if line.startswith("# {")]
    assert printed == promised
