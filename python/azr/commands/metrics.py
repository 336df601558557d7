"""``azr metrics RUN [RUN ...]`` prints the learning metrics of runs side by side, step by step.

A run and its control (docs/learning.md) are read together: the question is never "did a curve rise"
but "did it rise more than in the control". Reading two ``metrics.jsonl`` files by eye makes that easy
to get wrong (an evaluation is its own record beside the training record of the same step), so this
merges each run's records per step and prints one table, each cell holding the runs' values in the
order given. Markdown, so the table pastes into an issue or the docs as it is.
"""

from __future__ import annotations

import argparse
import fnmatch
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from azr.jsonl import read_intact

__all__ = ["DEFAULT_METRICS", "metrics_table", "register", "run", "steps_of"]

DEFAULT_METRICS = (
    "*/propose/valid_rate",
    "*/solve/format_error_rate",
    "*/solve/accuracy",
    "eval/*/pass@1",
    "eval/*/unparsed_rate",
    "probe/*/accuracy",
)
"""What learning looks like at small scale (issue #13): valid proposals, solver format errors, solver
accuracy by execution, benchmark pass@1 and its unparsed rate, the in-distribution probe's accuracy."""

_MISSING = "-"


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "metrics",
        help="print the learning metrics of one or more runs side by side, step by step (a run and its control)",
        description="Read each RUN/metrics.jsonl, merge each step's training and evaluation records, and print a "
        "Markdown table: one row per step, one column per metric, each cell the runs' values in the order "
        f"given ({_MISSING}: not logged at that step, or undefined). Exit 2 when a run has no metrics.jsonl or "
        "no metric matches.",
    )
    parser.add_argument("runs", nargs="+", type=Path, help="run directories (azr train --run-dir)")
    parser.add_argument(
        "--metric",
        action="append",
        dest="metrics",
        metavar="PATTERN",
        help="a metric name or shell-style pattern, repeatable (default: " + ", ".join(DEFAULT_METRICS) + ")",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print(metrics_table(args.runs, args.metrics or DEFAULT_METRICS))
    return 0


def steps_of(run_dir: Path) -> dict[int, dict[str, Any]]:
    """The run's records merged per step (a later record of a step, e.g. its evaluation, adds its keys)."""
    # RunDirectory's file, read here without importing torch (azr.runs.directory does).
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise FileNotFoundError(2, "no metrics.jsonl (not a run directory?)", str(path))
    merged: dict[int, dict[str, Any]] = {}
    for record in read_intact(path):
        step = record.get("step") if isinstance(record, dict) else None
        if isinstance(step, int):
            merged.setdefault(step, {}).update(record)
    return merged


def metrics_table(runs: Sequence[Path], patterns: Sequence[str]) -> str:
    """The Markdown table of the metrics matching ``patterns`` (in pattern order, then by name) for each
    step any run logged."""
    per_run = [steps_of(path) for path in runs]
    names: list[str] = []
    for pattern in patterns:
        found = sorted(
            {
                key
                for steps in per_run
                for record in steps.values()
                for key in record
                if fnmatch.fnmatchcase(key, pattern)
            }
        )
        names.extend(key for key in found if key not in names and key not in ("step", "time"))
    if not names:
        raise ValueError(f"no metric of {', '.join(map(str, runs))} matches {', '.join(patterns)}")
    legend = ", ".join(f"{_letter(k)} = {path}" for k, path in enumerate(runs))
    lines = [
        f"Each cell: {' / '.join(_letter(k) for k in range(len(runs)))} ({legend})",
        "",
        "| step | " + " | ".join(names) + " |",
        "|---:|" + "---:|" * len(names),
    ]
    for step in sorted({s for steps in per_run for s in steps}):
        cells = [" / ".join(_format(steps.get(step, {}).get(name)) for steps in per_run) for name in names]
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _letter(index: int) -> str:
    return chr(ord("A") + index) if index < 26 else f"R{index + 1}"


def _format(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return _MISSING
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.2f}" if math.isfinite(value) else _MISSING
    return _MISSING
