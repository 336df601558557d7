"""``azr bench``: sandbox throughput on a JSONL of jobs (default: the bundled examples)."""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any

from azr import _core
from azr.exceptions import ConfigError
from azr.jsonl import iter_jsonl
from azr.sandbox import Job, Sandbox, Status

__all__ = ["load_jobs", "register", "run"]

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


def register(sub: Any) -> None:
    bench = sub.add_parser(
        "bench",
        help="sandbox throughput on a JSONL of jobs",
        description="Run --snippets jobs (cycling a JSONL of code/input lines, CRUXEval format) through the "
        "sandbox and print jobs/s, latency and statuses. Exit 2 when the jobs file is missing or malformed.",
    )
    bench.add_argument("--jobs", help="JSONL with code/input (CRUXEval format); default: bundled examples")
    bench.add_argument("--snippets", type=int, default=2000, help="jobs to run (cycling the file)")
    bench.add_argument("--workers", type=int, default=None, help="threads (default: all cores)")
    bench.add_argument(
        "--timeout",
        type=float,
        default=_core.DEFAULT_TIMEOUT_S,
        help="wall-clock seconds per job (default %(default)s)",
    )
    bench.add_argument(
        "--instance-mode",
        choices=["reset", "fresh"],
        default=_core.DEFAULT_INSTANCE_MODE,
        help="reset: reuse a restored instance per worker; fresh: instantiate one per job (default %(default)s)",
    )
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    bench.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
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
        "in_guest_p50_ms": round(statistics.median(latencies), 3),
        "in_guest_p99_ms": round(latencies[int(0.99 * (len(latencies) - 1))], 3),
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
        print(
            f"in guest      p50 {summary['in_guest_p50_ms']} ms, p99 {summary['in_guest_p99_ms']} ms per expression"
            " (time inside the interpreter; azr_bench also reports end-to-end job latency)"
        )
        print(f"statuses      {dict(statuses)}")
        print(f"repr == gold  {matched}/{sum(1 for e in expected if e is not None)}")
    return 0 if statuses.get(str(Status.OK), 0) == len(jobs) or args.jobs else 1
