"""The azr command line, called in-process through main(argv)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from azr.cli import main


@pytest.fixture
def program(tmp_path: Path) -> Path:
    path = tmp_path / "prog.py"
    path.write_text("def f(x):\n    print('hi')\n    return sorted(x)\n", encoding="utf-8")
    return path


def test_verify_prints_result(program: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(program), "--input", "[3, 1, 2]", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "ok" and out["value_repr"] == "[1, 2, 3]" and out["stdout"] == "hi\n"


def test_verify_expect_compares_by_value(program: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(program), "--input", "(2, 1)", "--expect", "[1,2]"]) == 0
    assert "matches expected: True" in capsys.readouterr().out
    assert main(["verify", str(program), "--input", "(2, 1)", "--expect", "[2, 1]"]) == 1


def test_verify_failing_program_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    while True:\n        pass\n", encoding="utf-8")
    assert main(["verify", str(bad), "--expr", "f()", "--timeout", "0.2"]) == 1
    assert "status: timeout" in capsys.readouterr().out


def test_verify_missing_file_is_usage_error(tmp_path: Path) -> None:
    assert main(["verify", str(tmp_path / "missing.py"), "--expr", "1"]) == 2


def test_bench_on_bundled_examples(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--snippets", "64", "--workers", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["jobs"] == 64 and out["statuses"] == {"ok": 64}
    assert out["repr_matches_expected_output"] == 64 and out["jobs_per_s"] > 0
    # "reset" unless this kernel lacks PAGEMAP_SCAN (then the sandbox falls back to "fresh").
    assert out["instance_mode"] in ("reset", "fresh")
    if out["instance_mode"] == "reset":
        assert out["instances_created"] <= 4


def test_bench_fresh_mode_instantiates_per_job(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--snippets", "16", "--workers", "1", "--instance-mode", "fresh", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["instance_mode"] == "fresh" and out["statuses"] == {"ok": 16}
    assert out["instances_created"] >= 16


def test_bench_bad_jobs_file_is_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "jobs.jsonl"
    bad.write_text("{not json\n", encoding="utf-8")
    assert main(["bench", "--jobs", str(bad)]) == 2


def test_sandbox_check(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sandbox", "check"]) == 0
    assert "runs    ok" in capsys.readouterr().out


def test_verify_jsonl_tasks(tmp_path: Path, cruxeval: list[dict[str, str]], capsys: pytest.CaptureFixture[str]) -> None:
    tasks = tmp_path / "tasks.jsonl"
    lines = []
    for k, row in enumerate(cruxeval[:20]):
        answer = row["output"] if k % 2 else "None"
        lines.append(json.dumps({**row, "type": "deduction", "answer": answer}))
    lines.append("{broken")
    lines.append(json.dumps({"program": "import os\ndef f(x):\n    return x", "input": "1"}))
    lines.append(json.dumps({"code": "def f(x):\n    return x", "input": "2", "type": "abduction", "answer": "2"}))
    tasks.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "results.jsonl"
    assert main(["verify", str(tasks), "--out", str(out)]) == 2  # the broken line; every other line is graded
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(records) == 23
    assert all(r["output_matches"] for r in records[:20])
    assert [r["correct"] for r in records[:20]] == [bool(k % 2) for k in range(20)]
    assert "error" in records[20]
    assert records[21]["reason_kind"] == "banned_import"
    assert records[22]["correct"] is True
    summary = capsys.readouterr().out
    assert "valid" in summary and "correct" in summary


def test_missing_files_and_malformed_lines_are_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.jsonl"
    for argv in (
        ["verify", str(missing)],
        ["bench", "--jobs", str(missing)],
        ["eval", "--answers", f"cruxeval-o={tmp_path / 'answers.json'}", "--cruxeval", str(missing)],
    ):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and ("missing.jsonl" in err or "answers.json" in err), err
        assert "Traceback" not in err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"program": "def f(x):\\n    return x", "input": "1"}\nnot json\n', encoding="utf-8")
    assert main(["verify", str(bad), "--out", str(tmp_path / "out.jsonl")]) == 2
    assert f"{bad}:2" in capsys.readouterr().err
    # The good line was still verified and written.
    assert json.loads((tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()[0])["status"] == "valid"
    assert main(["bench", "--jobs", str(bad)]) == 2


def test_every_option_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    from azr.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, command in sub.choices.items():  # type: ignore[attr-defined]
        assert command.description, f"azr {name} has no description"
        for action in command._actions:
            assert action.help, f"azr {name} {action.option_strings or action.dest} has no help"
        assert "(default: None)" not in command.format_help()
    assert "``" not in parser.format_help()
    assert "SmolLM2" not in sub.choices["train"].format_help()  # type: ignore[attr-defined]


def test_log_levels_show_azr_and_rust_messages_from_info_and_other_libraries_from_warning() -> None:
    import logging

    from azr.cli import configure_logging

    names = ("", "azr", "_core")
    saved = {name: logging.getLogger(name).level for name in names}
    try:
        configure_logging("INFO")  # the default
        assert logging.getLogger("azr.models.embedded").isEnabledFor(logging.INFO)  # model join
        assert logging.getLogger("_core.sandbox.guest").isEnabledFor(logging.INFO)  # guest build (Rust, pyo3-log)
        assert not logging.getLogger("another_library.module").isEnabledFor(logging.INFO)
        configure_logging("warning")
        assert not logging.getLogger("azr.runs.progress").isEnabledFor(logging.INFO)
        assert logging.getLogger("azr.runs.progress").isEnabledFor(logging.WARNING)
        configure_logging("DEBUG")
        assert logging.getLogger("another_library.module").isEnabledFor(logging.DEBUG)
        configure_logging("ERROR")
        assert not logging.getLogger("another_library.module").isEnabledFor(logging.WARNING)
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def test_a_bad_azr_log_is_a_usage_error(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AZR_LOG", "LOUD")
    with pytest.raises(SystemExit) as exit_info:
        main(["sandbox", "check"])
    assert exit_info.value.code == 2 and "'LOUD' is not one of DEBUG, INFO, WARNING, ERROR" in capsys.readouterr().err


def test_compiling_the_guest_says_so_at_the_default_log_level(tmp_path: Path) -> None:
    """A one-time set-up seen by a new user: a fresh cache compiles the guest for this machine (~15 s).
    The Rust core's INFO record reaches the terminal through pyo3-log with no --log-level given."""
    import os
    import subprocess
    import sys

    from azr import _core

    guest = Path(_core.locate_guest())
    for path in (guest, guest.with_name(guest.name + ".sha256")):
        if path.exists():
            (tmp_path / path.name).symlink_to(path)
    env = {k: v for k, v in os.environ.items() if k != "AZR_LOG"}
    env["AZR_CACHE_DIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "azr.cli", "sandbox", "check"], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    assert "INFO _core.sandbox.engine: compiled the sandbox guest in" in done.stderr
    assert "runs    ok" in done.stdout


DEMO = Path(__file__).resolve().parents[1] / "configs" / "cpu-demo.toml"

# Runs `azr train` through main() in a fresh interpreter and reports its exit code, how long main() took
# and whether torch was imported: a config error must come before anything heavy is even imported.
_TRAIN_PROBE = """
import json, sys, time
from azr.cli import main
started = time.perf_counter()
code = main(sys.argv[1:])
print(json.dumps({"code": code, "seconds": time.perf_counter() - started, "torch": "torch" in sys.modules}))
"""


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("run.plot_every=0", "run.plot_every"),
        ("selfplay.recency_half_life=0", "selfplay.recency_half_life"),
        ("sandbox.timeout_s=-1", "sandbox.timeout_s"),
        ("sandbox.workers=-3", "sandbox.workers"),
    ],
)
def test_train_config_errors_exit_2_before_anything_loads(override: str, key: str, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    argv = ["train", str(DEMO), "--set", override, "--run-dir", str(run_dir)]
    proc = subprocess.run(
        [sys.executable, "-c", _TRAIN_PROBE, *argv], capture_output=True, text=True, timeout=120, check=False
    )
    report = json.loads(proc.stdout)
    assert report["code"] == 2, proc.stderr
    assert proc.stderr.startswith(f"azr: {key} must be ") and proc.stderr.count("\n") == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not report["torch"], "the config was checked only after torch was imported"
    assert report["seconds"] < 1.0
    assert not run_dir.exists()


def test_train_show_config_prints_every_key_and_exits_0(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    argv = ["train", str(DEMO), "--set", "run.steps=7", "--show-config", "--run-dir", str(run_dir)]
    assert main(argv) == 0
    shown = tmp_path / "shown.toml"
    shown.write_text(capsys.readouterr().out, encoding="utf-8")
    from azr.selfplay.config import load_config

    assert load_config(shown) == load_config(DEMO, ["run.steps=7"])
    assert "# Self-play steps to train" in shown.read_text(encoding="utf-8")
    assert not run_dir.exists()
    assert main(["train", "--show-config", "--set", "run.plot_every=0"]) == 2  # a bad value is still an error
    assert "run.plot_every must be >= 1" in capsys.readouterr().err


def test_train_help_lists_the_sections_and_show_config(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["train", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for name in ("model", "sampler", "selfplay", "optim", "sandbox", "run", "parallel"):
        assert f"[{name}]" in text
    assert "--show-config" in text and "Which model to train" in text


def test_documented_exit_codes(program: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """README: 0 success, 1 run failure, 2 usage or configuration error."""
    assert main(["verify", str(program), "--input", "[1]"]) == 0
    assert main(["verify", str(program), "--input", "1"]) == 1  # the program raises: a run failure
    with pytest.raises(SystemExit) as info:  # argparse's own usage errors
        main(["train", "--no-such-option"])
    assert info.value.code == 2
    assert main(["train", str(tmp_path / "missing.toml")]) == 2
    assert main(["train", "--set", "run.steps=many"]) == 2
    assert main(["verify", str(program), "--input", "[1]", "--timeout", "-1"]) == 2  # a Sandbox setting
    capsys.readouterr()


def test_python_dash_m_azr_runs_the_cli_and_keeps_its_exit_code(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "azr", "train", str(DEMO), "--set", "run.steps=0", "--run-dir", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("azr: run.steps must be "), proc.stderr


def _run_dir(path: Path, records: list[dict[str, object]]) -> Path:
    from azr.runs.directory import RunDirectory

    run = RunDirectory(path)
    run.path.mkdir(parents=True)
    for record in records:
        run.log_metrics(record)
    return path


def test_metrics_merges_each_steps_records_and_puts_runs_side_by_side(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    azr = _run_dir(
        tmp_path / "azr",
        [
            {"step": 0, "time": 1.0, "eval/cruxeval-o/pass@1": 0.1},  # the evaluation at the start
            {"step": 1, "time": 2.0, "deduction/solve/accuracy": 0.25, "deduction/propose/valid_rate": 0.5},
            {"step": 2, "time": 3.0, "deduction/solve/accuracy": float("nan"), "update/loss": 0.3},
            {"step": 2, "time": 4.0, "eval/cruxeval-o/pass@1": 0.2},  # beside the training record of step 2
        ],
    )
    control = _run_dir(tmp_path / "control", [{"step": 1, "time": 2.0, "deduction/solve/accuracy": 0.75}])
    assert main(["metrics", str(azr), str(control)]) == 0
    out = capsys.readouterr().out
    assert f"A / B (A = {azr}, B = {control})" in out
    header = next(line for line in out.splitlines() if line.startswith("| step"))
    # default metrics in their pattern order; update/loss and time are not learning metrics
    assert header == "| step | deduction/propose/valid_rate | deduction/solve/accuracy | eval/cruxeval-o/pass@1 |"
    rows = {line.split(" | ")[0]: line for line in out.splitlines() if line.startswith("| ") and line[2].isdigit()}
    assert rows["| 0"] == "| 0 | - / - | - / - | 0.10 / - |"
    assert rows["| 1"] == "| 1 | 0.50 / - | 0.25 / 0.75 | - / - |"
    assert rows["| 2"] == "| 2 | - / - | - / - | 0.20 / - |"  # NaN (null in the file) reads as not logged

    assert main(["metrics", str(azr), "--metric", "update/*"]) == 0
    assert "| 2 | 0.30 |" in capsys.readouterr().out


def test_metrics_without_a_run_or_a_matching_metric_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["metrics", str(tmp_path / "nowhere")]) == 2
    assert "metrics.jsonl: not found" in capsys.readouterr().err
    run = _run_dir(tmp_path / "run", [{"step": 1, "time": 1.0, "update/loss": 0.1}])
    assert main(["metrics", str(run)]) == 2
    assert "no metric of" in capsys.readouterr().err
