"""The run charts are readable: drawn from a real metrics.jsonl (written by RunDirectory.log_metrics, as the
trainer writes it), then checked on the matplotlib objects: integer step ticks, fixed rate and reward
axes, a distinct marker on every line."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("torch")  # azr.runs.directory saves checkpoints with torch

from azr.runs.directory import RunDirectory, is_rate

TYPES = ("deduction", "abduction", "induction")


def record(step: int, *, proposer: float, accuracy: float, valid: float) -> dict[str, float]:
    """One step's metrics as the trainer names them; every proposer reward equal (all format errors)."""
    row: dict[str, float] = {"step": step, "time": 1.7e9 + step, "step_time_s": 12.5}
    for t in TYPES:
        row[f"{t}/propose/reward_mean"] = proposer
        row[f"{t}/solve/reward_mean"] = 0.25
        row[f"{t}/solve/accuracy"] = accuracy
        row[f"{t}/propose/valid_rate"] = valid
        row[f"{t}/propose/format_error_rate"] = 1.0 - valid
    row["induction/solve/accuracy"] = math.nan  # no task to solve yet: written as null, not drawn
    return row


def run_with(tmp_path: Path, rows: list[dict[str, float]]) -> RunDirectory:
    run = RunDirectory(tmp_path / "run")
    run.create("", resume=False)
    for row in rows:
        run.log_metrics(row)
    return run


def visible_ticks(ax) -> list[float]:
    lo, hi = ax.get_xlim()
    return [t for t in ax.get_xticks() if lo <= t <= hi]


def test_one_step_has_one_integer_tick_and_fixed_axes(tmp_path: Path) -> None:
    run = run_with(tmp_path, [record(1, proposer=-1.0, accuracy=0.5, valid=0.0)])
    figures = run.figures()
    assert set(figures) == {"rewards", "solve_rates", "valid_rates"}
    for name, fig in figures.items():
        (ax,) = fig.axes
        assert visible_ticks(ax) == [1.0], name  # not 0.96 ... 1.04
    # Rates on 0-1 even though every value is the same; rewards on -1..1, not -1.04..-0.96.
    assert figures["solve_rates"].axes[0].get_ylim() == (0.0, 1.0)
    assert figures["valid_rates"].axes[0].get_ylim() == (0.0, 1.0)
    assert figures["rewards"].axes[0].get_ylim() == (-1.0, 1.0)
    # The undefined induction accuracy is not a line; the others are.
    labels = [line.get_label() for line in figures["solve_rates"].axes[0].get_lines()]
    assert labels == ["abduction", "deduction"]


def test_every_line_has_its_own_marker_and_style_so_equal_lines_stay_visible(tmp_path: Path) -> None:
    rows = [record(step, proposer=-1.0, accuracy=0.1 * step, valid=0.0) for step in range(1, 8)]
    run = run_with(tmp_path, rows)
    for name, fig in run.figures().items():
        lines = fig.axes[0].get_lines()
        assert lines, name
        styles = [(line.get_marker(), line.get_linestyle()) for line in lines]
        assert all(marker not in ("None", "", None) for marker, _ in styles), name
        assert len(set(styles)) == len(styles), f"{name}: two lines look alike: {styles}"
        assert all(line.get_fillstyle() == "none" for line in lines)  # hollow: overlapping shapes show through
    rewards = run.figures()["rewards"].axes[0]
    proposers = [line for line in rewards.get_lines() if str(line.get_label()).endswith("/propose")]
    assert len(proposers) == 3 and all(list(line.get_ydata()) == [-1.0] * 7 for line in proposers)
    ticks = visible_ticks(rewards)
    assert ticks and all(t == int(t) for t in ticks) and min(ticks) >= 1 and max(ticks) <= 7


def test_rewards_outside_minus_one_to_one_widen_the_axis(tmp_path: Path) -> None:
    run = run_with(tmp_path, [record(1, proposer=-2.0, accuracy=0.0, valid=1.0)])
    low, high = run.figures()["rewards"].axes[0].get_ylim()
    assert low == -2.0 and high == 1.0


def test_plot_writes_the_pngs_and_nothing_before_the_first_step(tmp_path: Path) -> None:
    empty = run_with(tmp_path / "empty", [])
    assert empty.figures() == {} and empty.plot() == []
    run = run_with(tmp_path, [record(step, proposer=-0.5, accuracy=1.0, valid=1.0) for step in (1, 2)])
    written = run.plot()
    assert sorted(p.name for p in written) == ["rewards.png", "solve_rates.png", "valid_rates.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in written)


@pytest.mark.parametrize(
    ("key", "rate"),
    [
        ("deduction/propose/valid_rate", True),
        ("abduction/solve/format_error_rate", True),
        ("induction/solve/accuracy", True),
        ("deduction/propose/solve_rate_estimate", True),
        ("pass@1", True),
        ("deduction/propose/reward_mean", False),
        ("sandbox/timeouts", False),
        ("generation/tokens_per_s", False),
    ],
)
def test_rate_names(key: str, rate: bool) -> None:
    assert is_rate(key) is rate


def test_eval_records_get_their_charts_and_a_chart_without_data_is_skipped(tmp_path: Path) -> None:
    rows: list[dict[str, float]] = [record(1, proposer=-1.0, accuracy=0.5, valid=0.5)]
    for step in (0, 1):  # the trainer's own eval records, as TrainingEvaluator names them
        rows.append(
            {
                "step": step,
                "time": 1.7e9,
                "eval/cruxeval-o/pass@1": 0.25 * step,
                "eval/cruxeval-o/unparsed_rate": math.nan,  # undefined in every record: no chart
                "eval/cruxeval-o/parsed_accuracy": math.nan,
            }
        )
    figures = run_with(tmp_path, rows).figures()
    assert set(figures) == {"rewards", "solve_rates", "valid_rates", "eval_pass1"}
    (ax,) = figures["eval_pass1"].axes
    assert ax.get_ylim() == (0.0, 1.0)
    assert [line.get_label() for line in ax.get_lines()] == ["eval/cruxeval-o"]
    assert visible_ticks(ax) == [0.0, 1.0]
