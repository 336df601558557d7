"""``azr eval --protocol``: each protocol's prompts render, stop and read back as specified (on fixed
replies and on the real tiny model), answers stay data, and scores under different protocols are not
compared."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CRUXEVAL

from azr.cli import main
from azr.evaluation import cruxeval as crux
from azr.evaluation.protocols import (
    CRUX_STOP,
    HUMANEVAL_STOP,
    CruxTemplates,
    cruxeval_answer,
    cruxeval_prompt,
    humaneval_code,
    humaneval_prompt,
)
from azr.exceptions import ConfigError
from azr.verify.grading import Verifier
from azr.verify.tasks import TaskType

PROMPTS = CRUXEVAL.parent / "prompts.json"
OUT, IN = TaskType.DEDUCTION, TaskType.ABDUCTION


@pytest.fixture(scope="module")
def templates() -> CruxTemplates:
    if not PROMPTS.is_file():
        pytest.skip(f"{PROMPTS} not found (../shared/data/cruxeval)")
    return CruxTemplates.load(PROMPTS)


def test_templates_render_as_raw_completion_prompts(templates: CruxTemplates) -> None:
    code, value = "def f(x):\n    return {'a': x}", "{'k': 1}"  # braces in code and argument stay literal
    cot = cruxeval_prompt(templates, "published", OUT, code, value)
    direct = cruxeval_prompt(templates, "published-direct", OUT, code, value)
    assert cot.endswith(f"[PYTHON]\n{code}\nassert f({value}) == ??\n[/PYTHON]\n[THOUGHT]\n")
    assert direct.endswith(f"[PYTHON]\n{code}\nassert f({value}) == ??\n[/PYTHON]\n[ANSWER]\n")
    assert "Execute the program step by step" in cot and "step by step" not in direct
    backwards = cruxeval_prompt(templates, "published", IN, code, "{'a': 3}")
    assert backwards.endswith("[PYTHON]\n" + code + "\nassert f(??) == {'a': 3}\n[/PYTHON]\n[THOUGHT]\n")
    assert "{code}" not in cot + direct + backwards
    # One pass: a placeholder's text inside the problem's code is the code's, not a slot.
    tricky = "def f(x):\n    return f'{output}{input}' + x"
    assert f"[PYTHON]\n{tricky}\nassert f(??) == 'gold'" in cruxeval_prompt(
        templates, "published", IN, tricky, "'gold'"
    )
    with pytest.raises(ValueError, match="selfplay"):
        cruxeval_prompt(templates, "selfplay", OUT, code, value)


def test_a_templates_file_missing_a_template_or_placeholder_is_refused(tmp_path: Path) -> None:
    full = {k: "{code} {input}" if k.endswith("output") else "{code} {output}" for k in CruxTemplates.__slots__}
    (tmp_path / "ok.json").write_text(json.dumps(full))
    assert CruxTemplates.load(tmp_path / "ok.json").cot_input == "{code} {output}"
    (tmp_path / "short.json").write_text(json.dumps({k: v for k, v in full.items() if k != "cot_input"}))
    with pytest.raises(ConfigError, match="no 'cot_input' template"):
        CruxTemplates.load(tmp_path / "short.json")
    (tmp_path / "hole.json").write_text(json.dumps({**full, "direct_input": "{code} and no output slot"}))
    with pytest.raises(ConfigError, match=r"'direct_input' lacks \{output\}"):
        CruxTemplates.load(tmp_path / "hole.json")
    (tmp_path / "bad.json").write_text("[")
    with pytest.raises(ConfigError, match="not a readable JSON"):
        CruxTemplates.load(tmp_path / "bad.json")


@pytest.mark.parametrize(
    ("reply", "protocol", "task_type", "expected"),
    [
        ("assert f(17) == 17\n[/ANSWER]", "published-direct", OUT, "17"),
        ("assert f(16) == 17\n[/ANSWER]", "published-direct", IN, "16"),
        (
            'Let\'s execute the code step by step:\n1. s becomes "hihi".\n[/THOUGHT]\n[ANSWER]\n'
            'assert f("hi") == "bhihia"\n[/ANSWER]',
            "published",
            OUT,
            '"bhihia"',
        ),
        # two answers: generation stops at the first [/ANSWER], and so does reading
        (
            "[/THOUGHT]\n[ANSWER]\nassert f(1) == 2\n[/ANSWER]\n[ANSWER]\nassert f(1) == 3\n[/ANSWER]",
            "published",
            OUT,
            "2",
        ),
        ("assert f(1) == 2\n[/ANSWER]\n[ANSWER]\nassert f(1) == 3\n[/ANSWER]", "published-direct", OUT, "2"),
        ("The output is 4, so the assertion is f(3) == 4.", "published", OUT, None),  # CoT without an answer block
        (
            "[/THOUGHT]\n[ANSWER]\nassert f(1) == f(1)\n[/ANSWER]",
            "published",
            OUT,
            "f(1)",
        ),  # calls f: read, then graded
        ("assert f(2) == 5", "published-direct", OUT, "5"),  # cut at the budget before [/ANSWER]
        # empty answers are no answers (not f() for CRUXEval-I)
        ("", "published-direct", IN, None),
        ("[/ANSWER]", "published-direct", IN, None),
        ("[/THOUGHT]\n[ANSWER]\n[/ANSWER]", "published", IN, None),
        # a repeated opening tag, a stray fence after the assertion
        ("[ANSWER]\nassert f(1) == 2\n[/ANSWER]", "published-direct", OUT, "2"),
        ("assert f(1) == 2\n```\n```\n[/ANSWER]", "published-direct", IN, "1"),
        ("[ANSWER] inside the thought [/THOUGHT]\n[ANSWER]\nassert f(3) == 4\n[/ANSWER]", "published", OUT, "4"),
    ],
)
def test_published_answers_are_read_from_the_first_answer_block(reply, protocol, task_type, expected) -> None:
    assert cruxeval_answer(reply, protocol, task_type) == expected


def test_graded_as_data_an_answer_that_calls_f_scores_nothing(cruxeval, sandbox) -> None:
    """The first CRUXEval problems, answered right, right-by-calling-f, and wrong, under both published
    protocols: only the plain value scores."""
    items = [crux.CruxItem(r["id"], r["code"], r["input"], r["output"]) for r in cruxeval[:4]]
    replies = [
        [
            f"assert f({it.input}) == {it.output}\n[/ANSWER]",
            f"assert f({it.input}) == f({it.input})\n[/ANSWER]",
            f"assert f({it.input}) == 'not it'\n[/ANSWER]",
        ]
        for it in items
    ]
    verdicts = crux.grade(
        items,
        replies,
        crux.CruxMode.OUTPUT,
        Verifier(sandbox),
        extract=lambda text: cruxeval_answer(text, "published-direct", OUT),
    )
    assert verdicts == [[True, False, False]] * 4
    cot = [[f"Step by step.\n[/THOUGHT]\n[ANSWER]\nassert f({it.input}) == {it.output}\n[/ANSWER]"] for it in items]
    read = lambda text: cruxeval_answer(text, "published", OUT)  # noqa: E731
    assert crux.grade(items, cot, crux.CruxMode.OUTPUT, Verifier(sandbox), extract=read) == [[True]] * 4
    inputs = [[f"[/THOUGHT]\n[ANSWER]\nassert f({it.input}) == {it.output}\n[/ANSWER]"] for it in items]
    read_input = lambda text: cruxeval_answer(text, "published", IN)  # noqa: E731
    assert crux.grade(items, inputs, crux.CruxMode.INPUT, Verifier(sandbox), extract=read_input) == [[True]] * 4


def test_humaneval_published_prompt_is_prefilled_and_its_code_read_as_written(tiny_model_dir) -> None:
    from azr.models.loading import load_model
    from azr.sampling.hf import render

    _, tokenizer = load_model(tiny_model_dir)
    messages = humaneval_prompt('def add(a, b):\n    """Add."""\n')
    assert messages[0]["content"].startswith("You are an intelligent programming assistant")
    assert "Can you complete the following Python function?\n```python\ndef add(a, b):" in messages[1]["content"]
    text = render(tokenizer, messages)
    assert text.endswith("```python\n"), text[-80:]  # the reply is begun, not closed
    assert "\n```" in HUMANEVAL_STOP
    reply = "def add(a, b):\n\treturn a + b\n```\nThat adds them."
    assert humaneval_code(reply) == "def add(a, b):\n    return a + b"
    assert humaneval_code("def add(a, b):\n    return a + b\n    )(\n") == "def add(a, b):\n    return a + b"
    assert humaneval_code("```") is None and humaneval_code(None) is None
    prose = "Here is the function:\ndef add(a, b):\n    return a + b\n\nIt adds."
    assert humaneval_code(prose) == "def add(a, b):\n    return a + b"
    form_feed = 'def add(a, b):\n    s = "x\x0cy"\n    return a + b'
    assert humaneval_code(form_feed) == form_feed  # split on newlines only


def test_cli_published_protocol_end_to_end_on_the_tiny_model(tiny_model_dir, tmp_path, capsys) -> None:
    """A real model through each published protocol: raw CRUXEval prompts stopped at [/ANSWER], HumanEval
    prefilled; the table, the JSON and --compare name the protocol, and protocols are not compared."""
    if not PROMPTS.is_file():
        pytest.skip(f"{PROMPTS} not found")
    common = ["--cruxeval", str(CRUXEVAL), "--limit", "3", "--max-new-tokens", "12", "--batch-size", "6"]
    outs = {}
    for protocol in ("published", "published-direct", "selfplay"):
        out = tmp_path / f"{protocol}.json"
        argv = ["eval", str(tiny_model_dir), *common, "--protocol", protocol, "--out", str(out)]
        assert main([*argv, "--cruxeval-prompts", str(PROMPTS)]) == 0
        table = capsys.readouterr().out
        assert f"protocol: {protocol}" in table.splitlines()[:3]
        result = json.loads(out.read_text())
        assert result["protocol"] == result["settings"]["protocol"] == protocol
        assert {b["problems"] for b in result["benchmarks"].values()} == {3}
        outs[protocol] = out
    assert json.loads(outs["published"].read_text())["settings"]["max_new_tokens"] == 12
    assert main(["eval", "--compare", str(outs["published"]), str(outs["published-direct"])]) == 2
    assert "not comparable" in capsys.readouterr().err
    assert main(["eval", "--compare", str(outs["published"]), str(outs["published"])]) == 0
    assert "protocol: published" in capsys.readouterr().out
    # The published protocols need the templates; azr ships none.
    assert main(["eval", str(tiny_model_dir), *common, "--protocol", "published"]) == 2
    assert "--cruxeval-prompts" in capsys.readouterr().err
    # A results file compared with a model under another protocol: refused before any model loads.
    missing = str(tmp_path / "no-such-model")
    assert (
        main(
            [
                "eval",
                "--compare",
                str(outs["selfplay"]),
                missing,
                *common,
                "--protocol",
                "published",
                "--cruxeval-prompts",
                str(PROMPTS),
            ]
        )
        == 2
    )
    assert "pass --protocol selfplay" in capsys.readouterr().err


def test_answers_under_a_published_protocol_need_no_templates(cruxeval, tmp_path, capsys) -> None:
    """Scoring pre-generated raw completions reads them with the protocol's reader; nothing is prompted."""
    rows = cruxeval[:4]
    replies = {r["id"]: [f"assert f({r['input']}) == {r['output']}\n[/ANSWER]"] for r in rows}
    (tmp_path / "a.json").write_text(json.dumps(replies))
    argv = ["eval", "--answers", str(tmp_path / "a.json"), "--benchmarks", "cruxeval-o", "--cruxeval", str(CRUXEVAL)]
    assert main([*argv, "--limit", "4", "--protocol", "published-direct", "--out", str(tmp_path / "r.json")]) == 0
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["protocol"] == "published-direct" and result["overall"]["pass@1"] == 1.0


def test_stop_strings_are_what_the_published_runs_used() -> None:
    assert CRUX_STOP == ("[/ANSWER]",)
    assert HUMANEVAL_STOP[0] == "\n```"


def test_the_templates_script_writes_what_the_loader_reads(tmp_path: Path) -> None:
    """scripts/cruxeval_prompts.py on a stand-in prompts.py with CRUXEval's four function names."""
    fake = tmp_path / "prompts.py"
    fake.write_text(
        "def make_direct_output_prompt(s):\n    code, input = s\n    return f'D {code} f({input}) [ANSWER]'\n"
        "def make_cot_output_prompt(s):\n    code, input = s\n    return f'C {code} f({input}) [THOUGHT]'\n"
        "def make_direct_input_prompt(s):\n    code, output = s\n    return f'D {code} == {output} [ANSWER]'\n"
        "def make_cot_input_prompt(s):\n    code, output = s\n    return f'C {code} == {output} [THOUGHT]'\n"
    )
    script = Path(__file__).resolve().parents[1] / "scripts" / "cruxeval_prompts.py"
    out = tmp_path / "templates.json"
    subprocess.run([sys.executable, str(script), str(fake), str(out)], check=True, capture_output=True)
    loaded = CruxTemplates.load(out)
    assert loaded.cot_output == "C {code} f({input}) [THOUGHT]"
    assert cruxeval_prompt(loaded, "published-direct", IN, "def f(): pass", "3") == "D def f(): pass == 3 [ANSWER]"
    (tmp_path / "other.py").write_text("x = 1\n")
    failed = subprocess.run([sys.executable, str(script), str(tmp_path / "other.py"), str(out)], capture_output=True)
    assert failed.returncode == 2 and b"make_direct_output_prompt" in failed.stderr
