"""Scoring pre-generated CRUXEval answers (output prediction = deduction, input prediction = abduction)."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from conftest import CRUXEVAL

from azr import Sandbox
from azr.evaluation import EvalSettings, evaluate_answers, load_answers
from azr.evaluation.cruxeval import CruxMode, extract_answer, load_cruxeval
from azr.exceptions import ConfigError

WRONG_OUTPUT = "'__azr: certainly not an output__'"
WRONG_INPUT = "((("  # not argument text: graded as wrong without running anything


def settings(*benchmarks: str, limit: int | None = None, ks: tuple[int, ...] = (1,)) -> EvalSettings:
    return EvalSettings(benchmarks=benchmarks, cruxeval_path=CRUXEVAL, limit=limit, ks=ks)


def test_gold_answers_score_100_percent(sandbox: Sandbox, cruxeval: list[dict[str, str]]) -> None:
    gold = {
        "cruxeval-o": {row["id"]: [row["output"]] for row in cruxeval},
        "cruxeval-i": {row["id"]: [f"f({row['input']})"] for row in cruxeval},  # CRUXEval-I's generation format
    }
    report = evaluate_answers(gold, settings("cruxeval-o", "cruxeval-i"), sandbox, label="gold")
    assert [(b.name, len(b.ids)) for b in report.benchmarks] == [("cruxeval-o", 800), ("cruxeval-i", 800)]
    output, inputs = report.benchmarks
    assert output.pass_at()[1] == 1.0
    # Every gold input, the two lambdas and the range object included: those are pure arguments (they
    # name nothing of the program, so they cannot call `f`), placed as written in the graded call.
    failing = {i for i, c in zip(inputs.ids, inputs.correct, strict=True) if not c}
    assert failing == set()


def test_shuffled_answers_score_near_zero(sandbox: Sandbox, cruxeval: list[dict[str, str]]) -> None:
    rows = cruxeval[:400]
    order = list(range(len(rows)))
    random.Random(0).shuffle(order)
    shuffled = {
        "cruxeval-o": {row["id"]: [rows[j]["output"]] for row, j in zip(rows, order, strict=True)},
        "cruxeval-i": {row["id"]: [rows[j]["input"]] for row, j in zip(rows, order, strict=True)},
    }
    report = evaluate_answers(shuffled, settings("cruxeval-o", "cruxeval-i", limit=400), sandbox, label="shuffled")
    for bench in report.benchmarks:
        score = bench.pass_at()[1]
        assert score is not None and score < 0.05, (bench.name, score)  # a few coincide (e.g. outputs '' or True)


def _forms(row: dict[str, str], mode: CruxMode, k: int) -> str:
    """The gold answer written the k-th of five ways: raw model text or already stripped."""
    i, o = row["input"], row["output"]
    if mode is CruxMode.OUTPUT:
        return [
            o,
            f"assert f({i}) == {o}",
            f"[ANSWER]\nassert f({i}) == {o}\n[/ANSWER]",
            f"<think>run it</think>\n<answer>\n```output\n{o}\n```\n</answer>",
            f"```python\n{o}\n```",
        ][k % 5]
    return [
        f"f({i})",
        i,
        f"assert f({i}) == {o}",
        f"[ANSWER]f({i})[/ANSWER]",
        f"<answer>\n```input\n{i}\n```\n</answer>",
    ][k % 5]


@pytest.mark.parametrize("mode", list(CruxMode))
def test_mixed_sets_score_exactly_the_expected_fraction(
    sandbox: Sandbox, cruxeval: list[dict[str, str]], mode: CruxMode
) -> None:
    """Problem p gets 4 answers of which p % 5 are right (capped at 4): pass@1 and pass@2 are exact."""
    rows = cruxeval[:100]
    wrong = WRONG_OUTPUT if mode is CruxMode.OUTPUT else WRONG_INPUT
    answers: dict[str, list[object]] = {}
    correct = []
    for p, row in enumerate(rows):
        c = min(p % 5, 4)
        answers[row["id"]] = [_forms(row, mode, p + j) for j in range(c)] + [wrong] * (4 - c)
        correct.append(c)
    name = "cruxeval-o" if mode is CruxMode.OUTPUT else "cruxeval-i"
    report = evaluate_answers({name: answers}, settings(name, limit=100, ks=(1, 2)), sandbox, label="mixed")
    (bench,) = report.benchmarks
    assert bench.correct == correct
    expected_pass1 = sum(c / 4 for c in correct) / 100
    expected_pass2 = sum(1 - (4 - c) * (3 - c) / 12 for c in correct) / 100  # 1 - C(4-c, 2) / C(4, 2)
    assert bench.pass_at()[1] == pytest.approx(expected_pass1, abs=1e-12)
    assert bench.pass_at()[2] == pytest.approx(expected_pass2, abs=1e-12)


def test_answer_extraction_forms() -> None:
    out, inp = CruxMode.OUTPUT, CruxMode.INPUT
    assert extract_answer("assert f([1, 2]) == [2, 1]", out) == "[2, 1]"
    assert extract_answer("[ANSWER]assert f('a == b') == 'x == y'[/ANSWER]", out) == "'x == y'"
    assert extract_answer("  'abc'  ", out) == "'abc'"
    assert extract_answer("f([1, 2], k=3)", inp) == "[1, 2], k=3"
    assert extract_answer("assert f(1, 2) == 3", inp) == "1, 2"
    assert extract_answer("assert 3 == f(1, 2)", inp) == "1, 2"
    assert extract_answer("f()", inp) == ""
    assert extract_answer("", inp) == ""  # f() with no arguments is an answer
    assert extract_answer("", out) is None
    assert extract_answer(None, out) is None
    assert extract_answer("<answer>no block</answer>", out) is None
    assert extract_answer([{"role": "assistant", "content": "assert f(1) == 2"}], out) == "2"


def test_calling_f_in_an_output_answer_is_wrong(sandbox: Sandbox, cruxeval: list[dict[str, str]]) -> None:
    """CRUXEval-O answers must be values: an answer that calls the program scores nothing."""
    row = cruxeval[0]
    report = evaluate_answers(
        {"cruxeval-o": {row["id"]: [f"f({row['input']})"]}}, settings("cruxeval-o", limit=1), sandbox, label="x"
    )
    assert report.benchmarks[0].correct == [0]


def test_partial_and_foreign_answer_files(sandbox: Sandbox, cruxeval: list[dict[str, str]]) -> None:
    some = {row["id"]: [row["output"]] for row in cruxeval[:10]}
    report = evaluate_answers({"cruxeval-o": some}, settings("cruxeval-o"), sandbox, label="partial")
    bench = report.benchmarks[0]
    assert (len(bench.ids), bench.missing, bench.pass_at()[1]) == (10, 790, 1.0)
    with pytest.raises(ConfigError, match="not in the benchmark"):
        evaluate_answers({"cruxeval-o": {"HumanEval/0": ["x"]}}, settings("cruxeval-o"), sandbox, label="x")


def test_load_answers_and_data_errors(tmp_path: Path) -> None:
    generations = tmp_path / "generations.json"
    generations.write_text(json.dumps({"sample_0": ["1", "2"], "sample_1": "3"}))
    assert load_answers(generations) == {"sample_0": ["1", "2"], "sample_1": ["3"]}
    samples = tmp_path / "samples.jsonl"
    samples.write_text('{"task_id": "HumanEval/0", "completion": "a"}\n{"task_id": "HumanEval/0", "completion": "b"}\n')
    assert load_answers(samples) == {"HumanEval/0": ["a", "b"]}
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"code": "def f(): pass", "input": ""}\n')
    with pytest.raises(ConfigError, match=r"bad\.jsonl:1"):
        load_cruxeval(bad)
    with pytest.raises(ConfigError, match="--cruxeval"):
        EvalSettings(benchmarks=("cruxeval-o",))
    assert len(load_cruxeval(CRUXEVAL, limit=20)) == 20


def test_documented_python_example(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """docs/eval.md's "From Python" snippet runs (with the CRUXEval file in the working directory)."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "eval.md").read_text(encoding="utf-8")
    code = re.findall(r"^```python\n(.*?)^```", doc, re.DOTALL | re.MULTILINE)[-1]
    (tmp_path / "cruxeval.jsonl").symlink_to(CRUXEVAL)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "eval.md", "exec"), {})  # our own documentation, not model output
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert ["cruxeval-o", "1", "1", "1.000"] in rows  # pass@k as a fraction of problems
