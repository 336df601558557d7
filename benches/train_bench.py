"""Self-play step time and generation tokens/s for a model on this machine (default: the CPU default model).

    python benches/train_bench.py [--model smollm2-135m] [--steps 2] [--set section.key=value ...]

Prints one line per step and a summary; the run directory is temporary unless --run-dir is given.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from azr.config import DEFAULT_MODEL, load_config
from azr.trainer import Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--run-dir")
    args = parser.parse_args()
    overrides = [
        f"model.name={json.dumps(args.model)}",
        f"run.steps={args.steps}",
        "run.progress=false",
        *args.overrides,
    ]
    config = load_config(None, overrides)
    run_dir = Path(args.run_dir or tempfile.mkdtemp(prefix="azr-bench-"))
    started = time.perf_counter()
    trainer = Trainer(config, run_dir / "run")
    print(f"model {args.model}: loaded in {time.perf_counter() - started:.1f} s on {trainer.device}")
    rows = []
    for _ in range(args.steps):
        row = trainer.train_step()
        rows.append(row)
        print(
            f"step {trainer.step}: {row['step_time_s']:.1f} s, {row['generation/tokens']:.0f} tokens at "
            f"{row['generation/tokens_per_s']:.1f} tok/s, sandbox {row['sandbox/expressions']:.0f} expressions in "
            f"{row['sandbox/seconds']:.2f} s, update {row['update/tokens']:.0f} tokens"
        )
    print(
        f"summary: step {statistics.mean(r['step_time_s'] for r in rows):.1f} s mean, generation "
        f"{statistics.mean(r['generation/tokens_per_s'] for r in rows):.1f} tok/s mean "
        f"(proposals/type {config.selfplay.proposals_per_type}, "
        f"solve-rate samples {config.selfplay.solve_rate_samples}, solves/type {config.selfplay.solves_per_type})"
    )


if __name__ == "__main__":
    main()
