"""Side-by-side executor benchmark on the same jobs, in one run.

    python benches/compare.py --jobs ../shared/data/cruxeval/cruxeval.jsonl [--workers 2] [--json]

Executors:
  azr           the Wasmtime sandbox, pristine interpreter per job (a live instance restored after
                each job: instance_mode="reset", the default), `workers` threads
  azr-fresh     the same sandbox instantiating a new instance per job (instance_mode="fresh")
  exec          native in-process exec, serial, no isolation at all (the physical limit)
  subprocess    a fresh `python3 -c` per job, `workers` at a time (the common RL-executor pattern)
  fork-pool     one forked worker reused for every job with a per-call SIGALRM timeout, serial
                (the reference implementation's pattern, written here from its description)
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from azr import Job, Sandbox

TIMEOUT_S = 2.0


def load(path: Path, limit: int | None) -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    jobs = [(row["code"], f"f({row['input']})") for row in rows]
    return jobs[:limit] if limit else jobs


def run_azr(jobs: list[tuple[str, str]], workers: int, mode: str = "reset") -> list[str | None]:
    sandbox = Sandbox(workers=workers, timeout_s=TIMEOUT_S, instance_mode=mode)  # type: ignore[arg-type]
    sandbox.run_batch([Job(p, e) for p, e in jobs[: workers * 4]])  # warm
    return [r.value_repr for r in sandbox.run_batch([Job(p, e) for p, e in jobs])]


def run_azr_fresh(jobs: list[tuple[str, str]], workers: int) -> list[str | None]:
    return run_azr(jobs, workers, "fresh")


def _exec_one(program: str, expr: str) -> str | None:
    namespace: dict[str, object] = {"__name__": "__main__"}
    try:
        exec(program, namespace)
        return repr(eval(expr, namespace))
    except Exception:
        return None


def run_exec(jobs: list[tuple[str, str]], workers: int) -> list[str | None]:
    return [_exec_one(p, e) for p, e in jobs]


def _subprocess_one(job: tuple[str, str]) -> str | None:
    program, expr = job
    code = f"{program}\nprint(repr({expr}))"
    try:
        done = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def run_subprocess(jobs: list[tuple[str, str]], workers: int) -> list[str | None]:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(_subprocess_one, jobs))


class _Alarm(Exception):
    pass


def _on_alarm(signum: int, frame: object) -> None:
    raise _Alarm()


def _pool_one(job: tuple[str, str]) -> str | None:
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, TIMEOUT_S)
    try:
        return _exec_one(*job)
    except _Alarm:
        return None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def run_fork_pool(jobs: list[tuple[str, str]], workers: int) -> list[str | None]:
    with mp.get_context("fork").Pool(1) as pool:
        return [pool.apply(_pool_one, (job,)) for job in jobs]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_jobs = Path(__file__).resolve().parents[2] / "shared/data/cruxeval/cruxeval.jsonl"
    parser.add_argument("--jobs", default=str(default_jobs))
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--subprocess-jobs", type=int, default=200, help="subprocess is slow: run this many")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    jobs = load(Path(args.jobs), None)
    rows = []
    reference = run_exec(jobs, 1)
    for name, runner, count, cores in (
        ("azr", run_azr, len(jobs), args.workers),
        ("azr-fresh", run_azr_fresh, len(jobs), args.workers),
        ("exec", run_exec, len(jobs), 1),
        ("subprocess", run_subprocess, args.subprocess_jobs, args.workers),
        ("fork-pool", run_fork_pool, len(jobs), 1),
    ):
        subset = jobs[:count]
        started = time.perf_counter()
        values = runner(subset, args.workers)
        wall = time.perf_counter() - started
        agree = sum(1 for a, b in zip(values, reference, strict=False) if a == b)
        rows.append(
            {
                "executor": name,
                "jobs": len(subset),
                "cores": cores,
                "jobs_per_s": len(subset) / wall,
                "jobs_per_s_per_core": len(subset) / wall / cores,
                "agrees_with_exec": agree,
            }
        )
    by_name = {row["executor"]: row for row in rows}
    ratios = {
        "azr_vs_subprocess_same_parallelism": by_name["azr"]["jobs_per_s"] / by_name["subprocess"]["jobs_per_s"],
        "azr_per_core_vs_fork_pool": by_name["azr"]["jobs_per_s_per_core"] / by_name["fork-pool"]["jobs_per_s"],
        "azr_per_core_vs_exec": by_name["azr"]["jobs_per_s_per_core"] / by_name["exec"]["jobs_per_s"],
    }
    if args.json:
        print(json.dumps({"results": rows, "ratios": ratios}))
        return 0
    print(f"{'executor':<12}{'jobs':>7}{'cores':>7}{'jobs/s':>11}{'jobs/s/core':>13}{'== exec':>9}")
    for row in rows:
        print(
            f"{row['executor']:<12}{row['jobs']:>7}{row['cores']:>7}{row['jobs_per_s']:>11.0f}"
            f"{row['jobs_per_s_per_core']:>13.0f}{row['agrees_with_exec']:>9}"
        )
    for name, value in ratios.items():
        print(f"{name}: {value:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
