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
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from azr.jsonl import read_intact
from azr.verify.grading import Verdict
from azr.verify.tasks import TaskType

__all__ = ["DEFAULT_METRICS", "metrics_table", "paired_probe_table", "register", "run", "steps_of"]

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
_PROBE_ANSWERS_FORMAT = "azr-probe-answers/1"  # azr.selfplay.probe.PROBE_ANSWERS_FORMAT (that module loads torch)


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "metrics",
        help="print the learning metrics of one or more runs side by side, step by step (a run and its control)",
        description="Read each RUN/metrics.jsonl, merge each step's training and evaluation records, and print a "
        "Markdown table: one row per step, one column per metric, each cell the runs' values in the order "
        f"given ({_MISSING}: not logged at that step, or undefined). Exit 2 when a run has no metrics.jsonl or "
        "no metric matches.",
    )
    parser.add_argument("runs", nargs="*", type=Path, help="run directories (azr train --run-dir)")
    parser.add_argument(
        "--metric",
        action="append",
        dest="metrics",
        metavar="PATTERN",
        help="a metric name or shell-style pattern, repeatable (default: " + ", ".join(DEFAULT_METRICS) + ")",
    )
    parser.add_argument(
        "--paired",
        nargs=2,
        type=Path,
        metavar=("A", "B"),
        help="instead: compare two probe evaluations task by task (RUN/eval/step-N.probe.json files of runs "
        "with the same eval.probe): accuracies, tasks only one solved, B - A and its paired standard error",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.paired:
        if args.runs or args.metrics:
            raise ValueError("--paired compares two probe answer files; give no runs or --metric with it")
        print(paired_probe_table(*args.paired))
        return 0
    if not args.runs:
        raise ValueError("name one or more run directories (or --paired A B)")
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


def _read_probe_answers(path: Path) -> list[dict[str, Any]]:
    """The answers of a ``RUN/eval/step-N.probe.json`` (:func:`azr.selfplay.probe.probe_answers`), checked
    enough that a paired table never pairs the wrong things; ValueError naming the file otherwise."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # ValueError: bad JSON, UTF-8, or a huge integer
        raise ValueError(f"{path}: cannot be read as probe answers ({exc})") from exc
    answers = record.get("answers") if isinstance(record, dict) else None
    if not isinstance(answers, list) or not answers or record.get("format") != _PROBE_ANSWERS_FORMAT:
        raise ValueError(f"{path}: not a probe answers file (RUN/eval/step-N.probe.json, {_PROBE_ANSWERS_FORMAT})")
    for number, a in enumerate(answers):
        if not (isinstance(a, dict) and {"task_type", "task", "verdict"} <= a.keys()):
            raise ValueError(f"{path}: answer {number} lacks task_type, task or verdict")
        if not isinstance(a["task_type"], str) or not isinstance(a["task"], str):
            raise ValueError(f"{path}: answer {number}: task_type and task must be strings")
        verdicts = [str(v) for v in Verdict]
        if a["verdict"] not in verdicts:
            raise ValueError(f"{path}: answer {number}: verdict {a['verdict']!r} is not one of {verdicts}")
    return answers


def paired_probe_table(a: Path, b: Path) -> str:
    """Markdown table of two probe evaluations solved on the same tasks: per task type, each one's accuracy,
    the tasks only one of them solved, the difference B - A and its paired standard error
    ``sqrt(p10 + p01 - (p10 - p01)^2) / sqrt(n)`` (p10, p01: the shares only A, only B solved). Tasks both
    solve or both miss do not move the difference, which is why pairing resolves a smaller change than
    two independent accuracies of the same n."""
    left, right = _read_probe_answers(a), _read_probe_answers(b)
    if [x["task"] for x in left] != [y["task"] for y in right]:
        raise ValueError(f"{a} and {b} did not solve the same probe tasks (a different eval.probe?)")
    lines = [
        f"Paired probe: A = {a}, B = {b}",
        "",
        "| task type | tasks | A | B | only A | only B | B - A | paired SE |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    order = [str(t) for t in TaskType]
    types = sorted({x["task_type"] for x in left}, key=lambda t: order.index(t) if t in order else len(order))
    for name in [*types, "overall"]:
        pairs = [
            (x["verdict"] == Verdict.ACCEPTED, y["verdict"] == Verdict.ACCEPTED)
            for x, y in zip(left, right, strict=True)
            if name in ("overall", x["task_type"])
        ]
        n = len(pairs)
        only_a = sum(x and not y for x, y in pairs)
        only_b = sum(y and not x for x, y in pairs)
        p10, p01 = only_a / n, only_b / n
        se = math.sqrt(max(p10 + p01 - (p10 - p01) ** 2, 0.0) / n)
        acc_a, acc_b = sum(x for x, _ in pairs) / n, sum(y for _, y in pairs) / n
        lines.append(
            f"| {name} | {n} | {acc_a:.2f} | {acc_b:.2f} | {only_a} | {only_b} | {acc_b - acc_a:+.2f} | {se:.2f} |"
        )
    return "\n".join(lines)
