"""Task-core benchmark: deduplication throughput and one AZR step's worth of grading.

    python benches/tasks_bench.py [--jobs ../shared/data/cruxeval/cruxeval.jsonl] [--json]

- dedup: 100,000 distinct programs through ``Deduper.admit_programs`` (target < 2 s).
- step: what one self-play step executes with batch 64 per (task type, role) and 8 solver samples:
  for deduction and abduction, 64 proposals validated (two runs each) and 64 x 8 answers verified;
  for induction, 64 programs x 10 inputs validated and 64 x 8 programs run on 5 hidden pairs each.
  Programs and gold answers come from CRUXEval; half of the answers are perturbed (target < 5 s).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from azr import Job, Sandbox, _core
from azr.verify.grading import Verifier
from azr.verify.tasks import Triple
from azr.verify.validation import TaskValidator

BATCH, SAMPLES, INDUCTION_INPUTS, HIDDEN = 64, 8, 10, 5


def bench_dedup(rows: list[dict[str, str]], n: int) -> dict[str, float]:
    programs = [f"{rows[k % len(rows)]['code']}\n\ndef g_{k}(v):\n    return v + {k}\n" for k in range(n)]
    deduper = _core.Deduper()
    started = time.perf_counter()
    admitted = deduper.admit_programs(programs)
    wall = time.perf_counter() - started
    return {"programs": n, "new": sum(admitted), "seconds": wall, "programs_per_s": n / wall}


def bench_step(rows: list[dict[str, str]], sandbox: Sandbox) -> dict[str, float]:
    validator, verifier = TaskValidator(sandbox), Verifier(sandbox)
    replays = validator.replay_sandboxes  # the other hash secrets' sandboxes: set up once, outside the timing
    for replay in replays:
        replay.run_batch([Job("", "0")] * replay.workers)
    before = sandbox.stats.expressions + sum(replay.stats.expressions for replay in replays)
    executions = 0
    started = time.perf_counter()
    for offset in (0, BATCH):  # deduction, then abduction
        chosen = rows[offset : offset + BATCH]
        triples = [t for t in validator.validate([(r["code"], r["input"]) for r in chosen]) if isinstance(t, Triple)]
        executions += validator.hash_secrets * len(chosen)
        answers = [t.output if s % 2 else "None" for t in triples for s in range(SAMPLES)]
        repeated = [t for t in triples for _ in range(SAMPLES)]
        if offset == 0:
            verifier.deduction(repeated, answers)
        else:
            verifier.abduction(repeated, [t.input if s % 2 else "0" for t in triples for s in range(SAMPLES)])
        executions += len(repeated)
    chosen = rows[2 * BATCH : 3 * BATCH]
    proposals = [(r["code"], r["input"]) for r in chosen for _ in range(INDUCTION_INPUTS)]
    induced = [t for t in validator.validate(proposals) if isinstance(t, Triple)]
    executions += validator.hash_secrets * len(proposals)
    cases, programs = [], []
    for k, r in enumerate(chosen):
        pairs = [(t.input, t.output) for t in induced[k * INDUCTION_INPUTS : k * INDUCTION_INPUTS + HIDDEN]]
        for s in range(SAMPLES):
            cases.append(pairs)
            programs.append(r["code"] if s % 2 else "def f(*a):\n    return None")
    verifier.induction(cases, programs)
    executions += sum(len(c) for c in cases)
    wall = time.perf_counter() - started
    expressions = sandbox.stats.expressions + sum(replay.stats.expressions for replay in replays) - before
    return {
        "executions": executions,
        "seconds": wall,
        "executions_per_s": executions / wall,
        "sandbox_expressions": expressions,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parents[2] / "shared/data/cruxeval/cruxeval.jsonl"
    parser.add_argument("--jobs", default=str(default))
    parser.add_argument("--dedup-programs", type=int, default=100_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = [json.loads(line) for line in Path(args.jobs).read_text(encoding="utf-8").splitlines() if line.strip()]
    sandbox = Sandbox()
    report = {
        "workers": sandbox.workers,
        "dedup": bench_dedup(rows, args.dedup_programs),
        "step": bench_step(rows, sandbox),
    }
    if args.json:
        print(json.dumps(report))
    else:
        d, s = report["dedup"], report["step"]
        print(f"dedup  {d['programs']:.0f} programs in {d['seconds']:.2f} s (target < 2 s)")
        workers = sandbox.workers
        print(
            f"step   {s['executions']:.0f} executions in {s['seconds']:.2f} s on {workers} workers (target < 5 s;"
            f" {s['sandbox_expressions']:.0f} sandbox expressions, each in its own instance; answers and reported"
            " values are compared with gold on the host)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
