"""``azr verify FILE.py (--input ARGS | --expr EXPR) [--expect VALUE]`` runs one program;
``azr verify TASKS.jsonl`` validates tasks and grades answers in bulk, through the same task core as
training (``azr.verify.grading``)."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from azr import _core
from azr.exceptions import ConfigError
from azr.jsonl import iter_jsonl
from azr.sandbox import ExecResult, Job, Sandbox
from azr.verify import values

__all__ = ["register", "run"]


def register(sub: Any) -> None:
    verify = sub.add_parser(
        "verify",
        help="run a program file, or validate/verify a JSONL of tasks (program, input, output?, answer?)",
        description="With a .py file: run it in the sandbox on --input (f(<input>)) or --expr and print the "
        "result; --expect checks the value (exit 1 when it differs). With a .jsonl of tasks (program, input, "
        "optional output, optional type + answer): validate each task as self-play does, check given outputs "
        "and grade given answers; results go to --out as JSONL, a summary to the terminal. Exit 2 when a "
        "file is missing or a line is malformed.",
    )
    verify.add_argument("file", help="a .py file defining f, or a .jsonl of tasks")
    verify.add_argument("--out", help="with .jsonl: where to write results (default stdout)")
    verify.add_argument("--workers", type=int, default=None, help="with .jsonl: sandbox threads (default all cores)")
    group = verify.add_mutually_exclusive_group()
    group.add_argument("--input", help="argument text: evaluates f(<input>)")
    group.add_argument("--expr", help="any expression to evaluate after the program")
    verify.add_argument(
        "--expect", help="expected value, a plain data literal; exit 1 unless the result equals it (see --equality)"
    )
    verify.add_argument(
        "--equality",
        choices=("typed", "value"),
        default="typed",
        help="typed: types must match recursively (1, True and 1.0 differ); value: Python == (default: typed)",
    )
    verify.add_argument("--seed", type=int, default=0, help="seeds the guest's randomness and clock (default 0)")
    verify.add_argument(
        "--timeout",
        type=float,
        default=_core.DEFAULT_TIMEOUT_S,
        help="wall-clock seconds per expression (default %(default)s)",
    )
    verify.add_argument(
        "--memory-mb", type=int, default=_core.DEFAULT_MEMORY_MB, help="guest memory cap in MiB (default %(default)s)"
    )
    verify.add_argument("--json", action="store_true", help="print one JSON object")
    verify.set_defaults(func=run)


def _result_dict(result: ExecResult) -> dict[str, Any]:
    return result.to_dict() | {"elapsed_ms": round(result.elapsed_ms, 3)}


def run(args: argparse.Namespace) -> int:
    """A .jsonl file: validate/verify tasks in bulk. A .py file: run it and print the result."""
    if args.file.endswith(".jsonl"):
        return verify_tasks(args)
    if args.input is None and args.expr is None:
        print("azr verify: a .py file needs --input or --expr", file=sys.stderr)
        return 2
    program = Path(args.file).read_text(encoding="utf-8")  # a missing file exits 2 (azr.cli.main)
    expected: values.Data | None = None
    if args.expect is not None:
        parsed = values.parse_value(args.expect)
        if isinstance(parsed, values.NotData):
            print(f"azr verify: --expect must be a plain data literal ({parsed.reason})", file=sys.stderr)
            return 2
        expected = parsed
    expr = args.expr if args.expr is not None else f"f({args.input})"
    sandbox = Sandbox(workers=1, timeout_s=args.timeout, memory_mb=args.memory_mb)
    result = sandbox.run(Job(program, expr, seed=args.seed))
    matched: bool | None = None
    if expected is not None:
        # The reported repr is read as data on the host and compared by value: no text is spliced into code.
        reported = values.parse_value(result.value_repr) if result.ok else None
        matched = isinstance(reported, values.Data) and values.equal(expected.value, reported.value, args.equality)
    if args.json:
        payload = _result_dict(result)
        if matched is not None:
            payload["matches_expected"] = matched
        print(json.dumps(payload))
    else:
        print(f"status: {result.status}")
        for name in ("value_repr", "error_type", "error_message", "exit_code"):
            value = getattr(result, name)
            if value is not None:
                print(f"{name}: {value}")
        if result.stdout:
            print("stdout:\n" + result.stdout.rstrip("\n"))
        print(f"elapsed_ms: {result.elapsed_ms:.3f}")
        if matched is not None:
            print(f"matches expected: {matched}")
    if matched is False or (matched is None and not result.ok):
        return 1
    return 0


def _read_task_lines(path: Path) -> list[tuple[int, dict[str, Any] | str]]:
    """(line number, parsed object or an error message) for each non-blank line."""
    rows: list[tuple[int, dict[str, Any] | str]] = []
    for number, _, row in iter_jsonl(path):
        if isinstance(row, ValueError):
            rows.append((number, f"not JSON: {row}"))
        elif not isinstance(row, dict):
            rows.append((number, "not a JSON object"))
        elif not isinstance(row.get("program", row.get("code")), str) or not isinstance(row.get("input"), str):
            rows.append((number, "needs string fields program (or code) and input"))
        elif "answer" in row and row.get("type") not in ("deduction", "abduction"):
            rows.append((number, "an answer needs type 'deduction' or 'abduction'"))
        else:
            rows.append((number, row))
    return rows


def verify_tasks(args: argparse.Namespace) -> int:
    """Validate every task line; check given outputs and grade given answers; write JSONL results."""
    from azr.verify.grading import Verifier
    from azr.verify.tasks import Task, TaskType, Triple
    from azr.verify.validation import Rejected, TaskValidator

    rows = _read_task_lines(Path(args.file))
    sandbox = Sandbox(workers=args.workers, timeout_s=args.timeout, memory_mb=args.memory_mb)
    validator, verifier = TaskValidator(sandbox), Verifier(sandbox)
    records: list[dict[str, Any]] = []
    started = time.perf_counter()
    chunk = 256
    for offset in range(0, len(rows), chunk):
        part = rows[offset : offset + chunk]
        good = [(n, r) for n, r in part if isinstance(r, dict)]
        validated = validator.validate([(str(r.get("program", r.get("code"))), str(r["input"])) for _, r in good])
        by_line: dict[int, dict[str, Any]] = {n: {"line": n, "error": r} for n, r in part if isinstance(r, str)}
        gold_checks: list[tuple[int, Triple, str]] = []
        answers: list[tuple[int, Triple, str, str]] = []
        for (n, row), result in zip(good, validated, strict=True):
            record: dict[str, Any] = {"line": n, "id": row.get("id")}
            if isinstance(result, Rejected):
                record.update(status="rejected", reason_kind=result.kind, reason=result.reason)
            else:
                record.update(status="valid", output=result.output)
                if isinstance(row.get("output"), str):
                    gold_checks.append((n, result, row["output"]))
                if isinstance(row.get("answer"), str):
                    answers.append((n, result, row["type"], row["answer"]))
            by_line[n] = record
        if gold_checks:
            same = verifier.deduction([t for _, t, _ in gold_checks], [o for _, _, o in gold_checks])
            for (n, _, _), ok in zip(gold_checks, same, strict=True):
                by_line[n]["output_matches"] = ok
        tasks = [Task(TaskType(k), t.program, (t.input,), (t.output,)) for _, t, k, _ in answers]
        for (n, _, _, _), grade in zip(answers, verifier.grade(tasks, [a for _, _, _, a in answers]), strict=True):
            by_line[n].update(correct=grade.correct, verdict=str(grade.verdict))
        records.extend(by_line[n] for n, _ in part)
        if sys.stderr.isatty():
            print(f"\rverified {min(offset + chunk, len(rows))}/{len(rows)}", end="", file=sys.stderr, flush=True)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    wall = time.perf_counter() - started
    out = sys.stdout if args.out in (None, "-") else open(args.out, "w", encoding="utf-8")
    with out if out is not sys.stdout else contextlib.nullcontext(out):
        for record in records:
            out.write(json.dumps(record) + "\n")
    counts = Counter(r.get("status", "bad_line") for r in records)
    kinds = Counter(r["reason_kind"] for r in records if "reason_kind" in r)
    summary = sys.stderr if args.out in (None, "-") else sys.stdout
    print(f"{'status':<40}{'count':>8}", file=summary)
    for status, count in sorted(counts.items()):
        print(f"{status:<40}{count:>8}", file=summary)
    for kind, count in sorted(kinds.items()):
        print(f"  {kind:<38}{count:>8}", file=summary)
    for key in ("output_matches", "correct"):
        graded = [r[key] for r in records if key in r]
        if graded:
            print(f"{key:<40}{sum(graded):>8} / {len(graded)}", file=summary)
    print(f"{len(rows)} tasks in {wall:.2f} s ({len(rows) / max(wall, 1e-9):.0f} tasks/s)", file=summary)
    bad = [(n, r) for n, r in rows if isinstance(r, str)]
    if bad:
        (line, why), more = bad[0], len(bad) - 1
        raise ConfigError(f"{args.file}:{line}: {why}" + (f" (and {more} more malformed lines)" if more else ""))
    return 0
