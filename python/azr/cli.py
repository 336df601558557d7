"""The ``azr`` command line. Results go to stdout (``--json`` for machines), logs to stderr.

Exit codes: 0 success, 1 run failure, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from azr import _core, values
from azr.commands import evaluate as evaluate_command
from azr.commands import train as train_command
from azr.exceptions import AzrError, ConfigError
from azr.jsonl import iter_jsonl
from azr.sandbox import ExecResult, Job, Sandbox, Status

log = logging.getLogger(__name__)

EXAMPLES = "programs.jsonl"


def _examples_path() -> Path:
    return Path(str(resources.files("azr.examples").joinpath(EXAMPLES)))


def load_jobs(path: Path) -> list[tuple[Job, str | None]]:
    """Read a JSONL of jobs: ``{"code"|"program", "input"|"expr", "output"?}`` per line."""
    jobs: list[tuple[Job, str | None]] = []
    for number, _, row in iter_jsonl(path):
        try:
            if isinstance(row, ValueError):
                raise row
            program = row.get("program", row.get("code"))
            expr = row.get("expr") or f"f({row['input']})"
            jobs.append((Job(program, expr), row.get("output")))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"{path}:{number}: not a job line ({exc})") from exc
    if not jobs:
        raise ConfigError(f"{path}: no jobs")
    return jobs


def _result_dict(result: ExecResult) -> dict[str, Any]:
    return {
        "status": str(result.status),
        "value_repr": result.value_repr,
        "stdout": result.stdout,
        "error_type": result.error_type,
        "error_message": result.error_message,
        "exit_code": result.exit_code,
        "elapsed_ms": round(result.elapsed_ms, 3),
        "fuel": result.fuel,
    }


def cmd_verify(args: argparse.Namespace) -> int:
    """A .jsonl file: validate/verify tasks in bulk. A .py file: run it and print the result."""
    if args.file.endswith(".jsonl"):
        return verify_tasks(args)
    if args.input is None and args.expr is None:
        print("azr verify: a .py file needs --input or --expr", file=sys.stderr)
        return 2
    try:
        program = Path(args.file).read_text(encoding="utf-8")
    except OSError as exc:
        print(f"azr verify: {exc}", file=sys.stderr)
        return 2
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
    from azr.grading import Rejected, TaskValidator, Verifier
    from azr.tasks import Task, TaskType, Triple

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
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """Throughput of the sandbox on a JSONL of jobs (default: the bundled examples)."""
    path = Path(args.jobs) if args.jobs else _examples_path()
    base = load_jobs(path)
    jobs = [base[i % len(base)][0] for i in range(args.snippets)]
    expected = [base[i % len(base)][1] for i in range(args.snippets)]
    started = time.perf_counter()
    sandbox = Sandbox(workers=args.workers, timeout_s=args.timeout, instance_mode=args.instance_mode)
    setup_s = time.perf_counter() - started
    sandbox.run_batch(jobs[: sandbox.workers * 2])  # warm the instance pool
    started = time.perf_counter()
    results = sandbox.run_batch(jobs)
    wall = time.perf_counter() - started
    statuses = Counter(str(r.status) for r in results)
    matched = sum(1 for r, out in zip(results, expected, strict=True) if out is not None and r.value_repr == out)
    latencies = sorted(r.elapsed_ms for r in results)
    summary = {
        "jobs_file": str(path),
        "jobs": len(jobs),
        "workers": sandbox.workers,
        "setup_s": round(setup_s, 3),
        "wall_s": round(wall, 3),
        "jobs_per_s": round(len(jobs) / wall, 1),
        "jobs_per_s_per_worker": round(len(jobs) / wall / sandbox.workers, 1),
        "p50_ms": round(statistics.median(latencies), 3),
        "p99_ms": round(latencies[int(0.99 * (len(latencies) - 1))], 3),
        "statuses": dict(statuses),
        "repr_matches_expected_output": matched,
        "instance_mode": sandbox.instance_mode,
        "instances_created": sandbox.instance_counts().created,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"jobs file     {path}")
        print(f"jobs          {len(jobs)} on {sandbox.workers} workers (setup {setup_s:.2f} s)")
        print(f"instances     {sandbox.instance_mode} mode, {summary['instances_created']} created")
        print(f"throughput    {summary['jobs_per_s']} jobs/s ({summary['jobs_per_s_per_worker']} per worker)")
        print(f"latency       p50 {summary['p50_ms']} ms, p99 {summary['p99_ms']} ms (per expression, in the guest)")
        print(f"statuses      {dict(statuses)}")
        print(f"repr == gold  {matched}/{sum(1 for e in expected if e is not None)}")
    return 0 if statuses.get(str(Status.OK), 0) == len(jobs) or args.jobs else 1


def cmd_sandbox(args: argparse.Namespace) -> int:
    """Build the guest, or check the one in use."""
    if args.action == "build":
        path = _core.build_guest()
        print(f"built {path} (sha256 {_core.verify_guest(path)})")
        return 0
    path = _core.locate_guest()
    digest = _core.verify_guest(path)
    sandbox = Sandbox(workers=1)
    result = sandbox.run(Job("def f(x):\n    return x[::-1]", "f([1, 2, 3])"))
    ok = result.ok and result.value_repr == "[3, 2, 1]"
    print(f"guest   {path}\nsha256  {digest}\nruns    {'ok' if ok else result}")
    return 0 if ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="azr", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--log-level", default=os.environ.get("AZR_LOG", "WARNING"), help="logging level (or $AZR_LOG)")
    sub = parser.add_subparsers(dest="command", required=True)

    verify = sub.add_parser(
        "verify", help="run a program file, or validate/verify a JSONL of tasks (program, input, output?, answer?)"
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
    verify.add_argument("--seed", type=int, default=0)
    verify.add_argument("--timeout", type=float, default=2.0, help="seconds (default 2)")
    verify.add_argument("--memory-mb", type=int, default=256)
    verify.add_argument("--json", action="store_true", help="print one JSON object")
    verify.set_defaults(func=cmd_verify)

    bench = sub.add_parser("bench", help="sandbox throughput on a JSONL of jobs")
    bench.add_argument("--jobs", help="JSONL with code/input (CRUXEval format); default: bundled examples")
    bench.add_argument("--snippets", type=int, default=2000, help="jobs to run (cycling the file)")
    bench.add_argument("--workers", type=int, default=None, help="threads (default: all cores)")
    bench.add_argument("--timeout", type=float, default=2.0)
    bench.add_argument(
        "--instance-mode",
        choices=["reset", "fresh"],
        default="reset",
        help="reuse a restored instance per worker (default) or instantiate one per job",
    )
    bench.add_argument("--json", action="store_true")
    bench.set_defaults(func=cmd_bench)

    sandbox = sub.add_parser("sandbox", help="build or check the WebAssembly guest")
    sandbox.add_argument("action", choices=["build", "check"])
    sandbox.set_defaults(func=cmd_sandbox)

    train_command.register(sub)
    evaluate_command.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    try:
        code: int = args.func(args)
        return code
    except ConfigError as exc:
        print(f"azr: {exc}", file=sys.stderr)
        return 2
    except (AzrError, OSError) as exc:
        print(f"azr: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
