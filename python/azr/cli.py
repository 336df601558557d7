"""The ``azr`` command line. Results go to stdout (``--json`` for machines), logs to stderr.

Exit codes: 0 success, 1 run failure, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
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

from azr import _core
from azr.exceptions import AzrError, ConfigError
from azr.sandbox import ExecResult, Job, Sandbox, Status

log = logging.getLogger(__name__)

EXAMPLES = "programs.jsonl"


def _examples_path() -> Path:
    return Path(str(resources.files("azr.examples").joinpath(EXAMPLES)))


def load_jobs(path: Path) -> list[tuple[Job, str | None]]:
    """Read a JSONL of jobs: ``{"code"|"program", "input"|"expr", "output"?}`` per line."""
    jobs: list[tuple[Job, str | None]] = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
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
    """Run one program file and print its result; with --expect, exit 1 unless the value matches."""
    try:
        program = Path(args.file).read_text(encoding="utf-8")
    except OSError as exc:
        print(f"azr verify: {exc}", file=sys.stderr)
        return 2
    expr = args.expr if args.expr is not None else f"f({args.input})"
    sandbox = Sandbox(workers=1, timeout_s=args.timeout, memory_mb=args.memory_mb)
    result = sandbox.run(Job(program, expr, seed=args.seed))
    matched: bool | None = None
    if args.expect is not None:
        if result.ok and result.value_repr is not None:
            check = sandbox.run(Job("", f"({result.value_repr}) == ({args.expect})"))
            matched = check.ok and check.value_repr == "True"
        else:
            matched = False
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


def cmd_bench(args: argparse.Namespace) -> int:
    """Throughput of the sandbox on a JSONL of jobs (default: the bundled examples)."""
    path = Path(args.jobs) if args.jobs else _examples_path()
    base = load_jobs(path)
    jobs = [base[i % len(base)][0] for i in range(args.snippets)]
    expected = [base[i % len(base)][1] for i in range(args.snippets)]
    started = time.perf_counter()
    sandbox = Sandbox(workers=args.workers, timeout_s=args.timeout)
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
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"jobs file     {path}")
        print(f"jobs          {len(jobs)} on {sandbox.workers} workers (setup {setup_s:.2f} s)")
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

    verify = sub.add_parser("verify", help="run one program file in the sandbox and print its result")
    verify.add_argument("file", help="a Python file defining f")
    group = verify.add_mutually_exclusive_group(required=True)
    group.add_argument("--input", help="argument text: evaluates f(<input>)")
    group.add_argument("--expr", help="any expression to evaluate after the program")
    verify.add_argument("--expect", help="expected value (Python literal); exit 1 unless equal by value")
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
    bench.add_argument("--json", action="store_true")
    bench.set_defaults(func=cmd_bench)

    sandbox = sub.add_parser("sandbox", help="build or check the WebAssembly guest")
    sandbox.add_argument("action", choices=["build", "check"])
    sandbox.set_defaults(func=cmd_sandbox)
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
