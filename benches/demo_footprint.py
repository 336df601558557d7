"""Peak RAM, disk and time of ``azr train`` on a config (default: the CPU demo), as a user runs it.

    python benches/demo_footprint.py [--config configs/cpu-demo.toml] [--steps 1] [--run-dir DIR] [--set k=v ...]

Runs the real CLI (``python -m azr.cli train CONFIG --run-dir DIR``) in a child process and reports:

- **peak RSS** of the training process: ``ru_maxrss`` of the waited-for child (Linux reports the
  child's own high-water mark, VmHWM, in KiB), so it includes model loading, generation, the update
  and checkpoint writing;
- **run directory** size (``du -sb``) and the largest checkpoint in it;
- **time**: wall-clock of the whole command and each step's ``step_time_s`` from ``metrics.jsonl``.

``MemAvailable`` from ``/proc/meminfo`` at the start is printed for context. The run directory is
temporary (deleted afterwards) unless ``--run-dir`` is given. ``--json`` prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_GIB = 1024**3


def _mem_available() -> int | None:
    """Bytes the kernel thinks can be allocated without swapping, or None off Linux."""
    try:
        for line in Path("/proc/meminfo").read_text(encoding="ascii").splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _du(path: Path) -> int:
    """Apparent size in bytes of everything under ``path`` (what ``du -sb`` prints)."""
    out = subprocess.run(["du", "-sb", str(path)], check=True, capture_output=True, text=True).stdout
    return int(out.split()[0])


def measure(config: str, steps: int, run_dir: Path, overrides: list[str]) -> dict[str, object]:
    """Run ``azr train`` once and return its footprint (see the module docstring)."""
    cmd = [sys.executable, "-m", "azr.cli", "train", config, "--run-dir", str(run_dir)]
    for item in [f"run.steps={steps}", "run.progress=false", *overrides]:
        cmd += ["--set", item]
    available = _mem_available()
    started = time.perf_counter()
    proc = subprocess.run(cmd, check=False)
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # KiB on Linux
    rows = []
    metrics = run_dir / "metrics.jsonl"
    if metrics.exists():
        rows = [json.loads(line) for line in metrics.read_text(encoding="utf-8").splitlines() if line.strip()]
    checkpoints = sorted((run_dir / "checkpoints").glob("step-*")) if (run_dir / "checkpoints").exists() else []
    return {
        "command": " ".join(cmd),
        "exit_code": proc.returncode,
        "mem_available_at_start_gib": available / _GIB if available is not None else None,
        "peak_rss_gib": peak / _GIB,
        "run_dir_gib": _du(run_dir) / _GIB if run_dir.exists() else 0.0,
        "largest_checkpoint_gib": max((_du(c) for c in checkpoints), default=0) / _GIB,
        "checkpoints": len(checkpoints),
        "wall_s": wall,
        "step_time_s": [r["step_time_s"] for r in rows if "step_time_s" in r],  # not [eval] records
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/cpu-demo.toml")
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--run-dir", help="keep the run here (must not hold a run yet); default: a temporary dir")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    scratch = None if args.run_dir else Path(tempfile.mkdtemp(prefix="azr-footprint-"))
    run_dir = Path(args.run_dir) if args.run_dir else Path(scratch or ".") / "run"
    try:
        result = measure(args.config, args.steps, run_dir, args.overrides)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        steps = ", ".join(f"{s:.0f} s" for s in result["step_time_s"] if isinstance(s, int | float)) or "none"  # type: ignore[union-attr]
        print(f"command: {result['command']}")
        print(
            f"exit {result['exit_code']}: peak RSS {result['peak_rss_gib']:.2f} GiB "
            f"(MemAvailable at start {result['mem_available_at_start_gib'] or float('nan'):.1f} GiB), "
            f"run dir {result['run_dir_gib']:.3f} GiB ({result['checkpoints']} checkpoints, largest "
            f"{result['largest_checkpoint_gib']:.3f} GiB), wall {result['wall_s']:.0f} s, steps: {steps}"
        )
    return 0 if result["exit_code"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
