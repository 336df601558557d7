"""``azr eval`` end to end: pre-generated answers, results JSON, --compare, errors; and a real model run
on the tiny local model over 20-problem slices."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
from conftest import CRUXEVAL

from azr.cli import main
from azr.commands.evaluate import resolve_checkpoint, resolve_model_spec


def write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def row(table: str, name: str) -> list[str]:
    return next(line.split() for line in table.splitlines() if line.split()[:1] == [name])


def test_eval_scores_answers_writes_json_and_compares(
    tmp_path: Path, cruxeval: list[dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    rows = cruxeval[:30]
    gold = write_json(tmp_path / "gold.json", {r["id"]: [r["output"]] for r in rows})
    half = write_json(
        tmp_path / "half.json", {r["id"]: [r["output"] if k % 2 else "'wrong'"] for k, r in enumerate(rows)}
    )
    common = ["--benchmarks", "cruxeval-o", "--cruxeval", str(CRUXEVAL), "--limit", "30"]
    assert main(["eval", "--answers", str(gold), *common, "--out", str(tmp_path / "a.json")]) == 0
    table = capsys.readouterr().out
    # One unit, fractions of problems, in the table (which says so above its columns) and the JSON.
    assert "pass@k: fraction of problems solved (0 to 1)" in table
    assert row(table, "cruxeval-o") == ["cruxeval-o", "30", "30", "1.000"]
    assert main(["eval", "--answers", f"cruxeval-o={half}", *common, "--out", str(tmp_path / "b.json")]) == 0
    table = capsys.readouterr().out
    assert row(table, "cruxeval-o")[-1] == "0.500"
    assert "checkpoint:" not in table  # answers, not a checkpoint
    result = json.loads((tmp_path / "b.json").read_text())
    assert result["format"] == "azr-eval/1" and result["unit"] == "fraction" and result["checkpoint"] is None
    assert result["benchmarks"]["cruxeval-o"]["pass@1"] == 0.5
    assert result["overall"]["pass@1"] == 0.5
    assert [p["correct"] for p in result["benchmarks"]["cruxeval-o"]["per_problem"]] == [k % 2 for k in range(30)]

    assert main(["eval", "--compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 0
    comparison = capsys.readouterr().out
    assert "pass@k: fraction of problems solved (0 to 1)" in comparison
    assert row(comparison, "cruxeval-o") == ["cruxeval-o", "1.000", "0.500", "-0.500"]


def test_results_in_another_unit_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from azr.evaluation.report import BenchmarkResult, EvalReport

    report = EvalReport("x", [BenchmarkResult("cruxeval-o", ["a"], [1], [1])]).to_json()
    old = write_json(tmp_path / "old.json", {k: v for k, v in report.items() if k != "unit"})  # before the field
    percent = write_json(tmp_path / "percent.json", {**report, "unit": "percent"})
    assert EvalReport.read(old).benchmarks[0].pass_at() == {1: 1.0}
    assert main(["eval", "--compare", str(old), str(percent)]) == 2
    assert "unit 'percent'" in capsys.readouterr().err


def test_result_and_answer_files_nested_past_the_recursion_limit_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A JSON file nested 100,000 deep makes Python's json raise RecursionError: a clear error, exit 2."""
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    deep_object = tmp_path / "deep-object.json"
    deep_object.write_text('{"a": ' * 100_000 + "1" + "}" * 100_000)
    assert main(["eval", "--compare", str(deep), str(deep)]) == 2
    assert "not an azr eval results file" in capsys.readouterr().err
    common = ["--benchmarks", "cruxeval-o", "--cruxeval", str(CRUXEVAL), "--limit", "3"]
    for path in (deep, deep_object):
        assert main(["eval", "--answers", str(path), *common]) == 2
        assert "azr: " in capsys.readouterr().err
    from azr.evaluation.protocols import CruxTemplates
    from azr.exceptions import ConfigError

    with pytest.raises(ConfigError, match="not a readable JSON file"):
        CruxTemplates.load(deep_object)


def test_eval_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    answers = write_json(tmp_path / "a.json", {"sample_0": ["1"]})
    cases = [
        ["eval"],  # nothing to evaluate
        ["eval", "--answers", str(answers), "--benchmarks", "cruxeval-o"],  # no --cruxeval
        ["eval", "--answers", str(answers), "--benchmarks", "nope", "--cruxeval", str(CRUXEVAL)],
        ["eval", "--answers", str(answers), "--cruxeval", str(CRUXEVAL)],  # several benchmarks, unnamed file
        ["eval", "--answers", str(answers), "--benchmarks", "cruxeval-o", "--cruxeval", str(CRUXEVAL), "--k", "x"],
        ["eval", "--compare", str(answers), str(answers)],  # not results files
        ["eval", str(tmp_path / "no-such-model"), "--benchmarks", "humaneval"],
    ]
    for argv in cases:
        assert main(argv) == 2, argv
        assert capsys.readouterr().err.startswith("azr: "), argv


def test_eval_end_to_end_on_the_tiny_model(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """A real model, given as an azr run directory (its latest checkpoint's model/), all three benchmarks on
    20-problem slices; the table and JSON name the checkpoint; generation and grading report progress per
    benchmark; the saved generations re-score identically through --answers."""
    run_dir = tmp_path / "run"
    for step in (3, 12):  # the latest is step 12, whose state.json says so
        (run_dir / "checkpoints" / f"step-{step:06d}").mkdir(parents=True)
        (run_dir / "checkpoints" / f"step-{step:06d}" / "model").symlink_to(tiny_model_dir, target_is_directory=True)
    checkpoint = run_dir / "checkpoints" / "step-000012"
    (checkpoint / "state.json").write_text(json.dumps({"step": 12}), encoding="utf-8")
    out, generations = tmp_path / "results.json", tmp_path / "generations.json"
    common = ["--cruxeval", str(CRUXEVAL), "--limit", "20"]
    argv = ["eval", str(run_dir), *common, "--max-new-tokens", "8", "--batch-size", "20"]
    with caplog.at_level(logging.INFO, logger="azr"):
        assert main([*argv, "--out", str(out), "--save-generations", str(generations)]) == 0
    table = capsys.readouterr().out
    assert "overall" in table
    assert f"checkpoint: {checkpoint} (step 12, full model)" in table.splitlines()[:3]
    result = json.loads(out.read_text())
    assert result["checkpoint"] == {"path": str(checkpoint), "step": 12, "weights": "model"}
    assert set(result["benchmarks"]) == {"cruxeval-o", "cruxeval-i", "humaneval"}
    for bench in result["benchmarks"].values():
        assert (bench["problems"], bench["samples"]) == (20, 20)
        assert 0.0 <= bench["pass@1"] <= 1.0
    assert result["settings"]["n"] == 1 and result["label"] == str(run_dir)
    # No terminal under pytest: one line per phase, naming the benchmark, counting samples and tokens.
    lines = [r.getMessage() for r in caplog.records if r.name == "azr.runs.progress"]
    for name in ("cruxeval-o", "cruxeval-i", "humaneval"):
        (generate,) = [line for line in lines if line.startswith(f"{name} generate: ")]
        assert re.match(rf"{name} generate: 20/20 samples, [\d,]+ tokens", generate), generate
        assert any(line.startswith(f"{name} grade: 20/20 answers") for line in lines), lines
    # Each benchmark's result is logged as soon as it is graded (a full run of a slow model takes hours).
    results = [r.getMessage() for r in caplog.records if r.name == "azr.evaluation.run"]
    for name in ("cruxeval-o", "cruxeval-i", "humaneval"):
        expected = f"{name}: pass@1 {result['benchmarks'][name]['pass@1']:.3f} over 20 problems"
        assert any(line.startswith(expected) for line in results), (expected, results)
    messages = [r.getMessage() for r in caplog.records if r.name == "azr.commands.evaluate"]
    assert f"loading checkpoint {checkpoint} (step 12, model)" in messages
    assert "results so far (cruxeval-o, cruxeval-i) written; the final ones replace them" in messages
    from azr.models.precision import inference_dtype

    torch = pytest.importorskip("torch")
    assert f"precision: {inference_dtype('auto', torch.device('cpu'))[1]}" in messages  # --dtype auto by default

    saved = json.loads(generations.read_text())
    for name, per_problem in saved.items():
        answers = write_json(tmp_path / f"{name}.json", per_problem)
        rescored = tmp_path / f"{name}-rescored.json"
        assert main(["eval", "--answers", str(answers), "--benchmarks", name, *common, "--out", str(rescored)]) == 0
        again = json.loads(rescored.read_text())["benchmarks"][name]
        assert again["per_problem"] == result["benchmarks"][name]["per_problem"]


def test_a_run_stopped_in_its_last_benchmark_keeps_the_ones_before(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Ctrl-C (or a kill) while HumanEval is graded: --out and --save-generations already hold CRUXEval-O,
    as the complete run reports it."""
    from azr.evaluation import run

    argv = ["eval", str(tiny_model_dir), "--cruxeval", str(CRUXEVAL), "--limit", "5", "--max-new-tokens", "8"]
    argv += ["--benchmarks", "cruxeval-o,humaneval"]
    whole = tmp_path / "whole.json"
    assert main([*argv, "--out", str(whole)]) == 0
    real_score = run._score

    def interrupted(bench: run.Benchmark, *rest: object, **options: object) -> object:
        if bench.name == "humaneval":
            raise KeyboardInterrupt
        return real_score(bench, *rest, **options)

    monkeypatch.setattr(run, "_score", interrupted)
    out, generations = tmp_path / "stopped.json", tmp_path / "stopped-generations.json"
    with pytest.raises(KeyboardInterrupt):
        main([*argv, "--out", str(out), "--save-generations", str(generations)])
    kept, complete = json.loads(out.read_text()), json.loads(whole.read_text())
    assert list(kept["benchmarks"]) == ["cruxeval-o"]
    assert kept["benchmarks"]["cruxeval-o"] == complete["benchmarks"]["cruxeval-o"]
    assert list(json.loads(generations.read_text())) == ["cruxeval-o"]


def test_checkpoints_and_run_directories_resolve_to_their_model(tmp_path: Path) -> None:
    run = tmp_path / "run"
    for step in ("step-000002", "step-000010", "step-000009"):
        (run / "checkpoints" / step / "model").mkdir(parents=True)
        (run / "checkpoints" / step / "model" / "config.json").write_text("{}")
    (run / "checkpoints" / ".tmp-step-000011" / "model").mkdir(parents=True)  # a save cut short
    (run / "checkpoints" / ".tmp-step-000011" / "model" / "config.json").write_text("{}")
    latest = run / "checkpoints" / "step-000010"
    assert resolve_model_spec(str(run)) == str(latest / "model")  # numeric order, not file order
    assert resolve_model_spec(str(latest)) == str(latest / "model")
    assert resolve_model_spec(str(latest / "model")) == str(latest / "model")
    assert resolve_model_spec("smollm2-135m") == "smollm2-135m"  # embedded names pass through
    info = {"path": str(latest), "step": 10, "weights": "model"}  # no state.json: the name says the step
    assert resolve_checkpoint(str(run)) == (str(latest / "model"), info)
    assert resolve_checkpoint(str(latest)) == (str(latest / "model"), info)
    assert resolve_checkpoint(str(latest / "model")) == (str(latest / "model"), info)
    assert resolve_checkpoint("smollm2-135m") == ("smollm2-135m", None)
    lora = run / "checkpoints" / "step-000020"
    (lora / "adapter").mkdir(parents=True)
    (lora / "adapter" / "adapter_config.json").write_text("{}")
    (lora / "state.json").write_text(json.dumps({"step": 20, "buffers": {}}))
    assert resolve_checkpoint(str(run)) == (
        str(lora / "adapter"),
        {"path": str(lora), "step": 20, "weights": "adapter"},
    )


def test_the_table_names_a_lora_checkpoint() -> None:
    from azr.evaluation.report import BenchmarkResult, EvalReport, format_comparison, format_table

    loaded = {"path": "runs/demo/checkpoints/step-000002", "step": 2, "weights": "adapter"}
    report = EvalReport("runs/demo", [BenchmarkResult("humaneval", ["a", "b"], [1, 1], [1, 0])], checkpoint=loaded)
    table = format_table(report).splitlines()
    assert table[:4] == [
        "runs/demo",
        "checkpoint: runs/demo/checkpoints/step-000002 (step 2, LoRA adapter on its base model)",
        "protocol: selfplay",  # a report without settings was azr's own prompts
        "pass@k: fraction of problems solved (0 to 1)",
    ]
    assert table[-1].split() == ["humaneval", "2", "2", "0.500"]
    again = EvalReport.from_json(json.loads(json.dumps(report.to_json())))
    assert again.checkpoint == loaded
    assert "B checkpoint: runs/demo/checkpoints/step-000002 (step 2" in format_comparison(report, again)


def test_answers_of_the_other_cruxeval_half_are_refused(tmp_path: Path, cruxeval: list[dict[str, str]]) -> None:
    inputs = tmp_path / "inputs.json"
    inputs.write_text(json.dumps({row["id"]: [row["input"]] for row in cruxeval[:40]}), encoding="utf-8")
    crux = tmp_path / "crux.jsonl"
    crux.write_text("".join(json.dumps(row) + "\n" for row in cruxeval[:40]), encoding="utf-8")
    out = tmp_path / "r.json"
    base = ["eval", "--cruxeval", str(crux), "--limit", "40", "--out", str(out)]
    assert main([*base, "--benchmarks", "cruxeval-o", "--answers", f"cruxeval-o={inputs}"]) == 2
    assert main([*base, "--benchmarks", "cruxeval-i", "--answers", f"cruxeval-i={inputs}"]) == 0
    settings = json.loads(out.read_text(encoding="utf-8"))["settings"]
    assert settings["source"] == "pre-generated answers" and settings["n"] == 1 and settings["temperature"] is None


@pytest.mark.parametrize("content", ['{"sample_0": 5}', '{"sample_0": ["x"', '{"sample_0": [1, 2]}'])
def test_malformed_answer_files_name_the_problem(
    tmp_path: Path, content: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from azr.evaluation.run import load_answers
    from azr.exceptions import ConfigError

    path = tmp_path / "answers.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"sample_0|not valid JSON"):
        load_answers(path)


def test_eval_help_says_what_the_timeout_applies_to_and_no_default_twice(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "every benchmark: one CRUXEval answer check (the program on an input) or one HumanEval completion's" in text
    assert not re.search(r"\(default: [^)]*\) \(default:", text)
    assert "(default: None)" not in text


def test_the_default_batch_follows_the_backend() -> None:
    """transformers decodes 8 sequences per call by default; vLLM gets a whole benchmark per call (the
    engine schedules its own batches), unless --batch-size says otherwise."""
    import argparse

    from azr.commands.evaluate import VLLM_BATCH, register, settings_from_args

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    for argv, expected in [
        ([], 8),
        (["--backend", "vllm"], VLLM_BATCH),
        (["--backend", "vllm", "--batch-size", "16"], 16),
    ]:
        args = parser.parse_args(["eval", "--benchmarks", "humaneval", *argv])
        assert settings_from_args(args).batch_size == expected


def test_the_kv_cache_flag_sizes_vllms_cache_and_is_refused_where_it_cannot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--kv-cache-gib reaches the vLLM sampler in bytes; zero, negative, non-finite sizes and the
    transformers backend (which has no such cache) exit 2 before any model is loaded."""
    pytest.importorskip("torch")
    import argparse

    from azr.commands.evaluate import backend_options, register, settings_from_args

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())

    def options(*argv: str) -> dict[str, object]:
        args = parser.parse_args(["eval", "--benchmarks", "humaneval", *argv])
        return backend_options(args, settings_from_args(args))

    assert options("--backend", "vllm", "--kv-cache-gib", "0.0625")["kv_cache_memory_bytes"] == 64 << 20
    assert options("--backend", "vllm", "--kv-cache-gib", "6")["kv_cache_memory_bytes"] == 6 << 30
    assert "kv_cache_memory_bytes" not in options("--backend", "vllm")
    missing = str(tmp_path / "no-such-model")  # the flag is refused before the model is looked for
    for argv in (
        ["--backend", "vllm", "--kv-cache-gib", "0"],
        ["--backend", "vllm", "--kv-cache-gib", "-1"],
        ["--backend", "vllm", "--kv-cache-gib", "nan"],
        ["--backend", "vllm", "--kv-cache-gib", "inf"],
        ["--backend", "vllm", "--kv-cache-gib", "1e-12"],  # would round to a cache of 1 byte
        ["--kv-cache-gib", "2"],
    ):
        assert main(["eval", missing, "--benchmarks", "humaneval", *argv]) == 2, argv
        assert "--kv-cache-gib" in capsys.readouterr().err, argv
