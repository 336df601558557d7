"""``azr probe [CONFIG.toml] --per-type N --out FILE [--set section.key=value ...]``: build the
in-distribution probe (:mod:`azr.selfplay.probe`) with the base model a run will start from."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from azr.exceptions import ConfigError, MissingDependencyError
from azr.runs.progress import logs_above_bars

if TYPE_CHECKING:
    from azr.verify.tasks import Task

__all__ = ["register"]


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "probe",
        help="build the in-distribution probe: tasks the base model proposes and the sandbox validates "
        "(needs the 'train' extra)",
        description="Run the trainer's seeding phase (propose and validate, no update) on the model of CONFIG "
        "until each task type has --per-type valid tasks, and write them as a probe file for eval.probe. Use a "
        "run.seed of its own (--set run.seed=...), apart from the runs it will measure; those runs hold the "
        "probe's tasks out of their buffers.",
    )
    parser.add_argument("config", nargs="?", help="the training config the probe is for (its model and prompts)")
    parser.add_argument("--per-type", type=int, default=50, help="valid tasks per task type (default: 50)")
    parser.add_argument("--out", required=True, help="the probe file to write (JSONL)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="as azr train --set"
    )
    parser.add_argument("--run-dir", help="where the seeding rounds' run lives (default: a temporary directory)")
    parser.set_defaults(func=run)


def build_probe(config_path: str | Path | None, overrides: Sequence[str], per_type: int, run_dir: Path) -> list[Task]:
    """Propose and validate with the base model until each type has ``per_type`` valid tasks (or
    ``selfplay.max_seeding_rounds`` rounds pass): the trainer's seeding phase, no update, in ``run_dir``.

    Use another ``run.seed`` than the runs the probe will measure, so its proposals are drawn apart from
    theirs (and a run holds them out of its buffers anyway)."""
    from azr.selfplay.config import load_config
    from azr.selfplay.probe import select_probe
    from azr.selfplay.trainer import Trainer

    settings = [*overrides, f"selfplay.seed_buffer_size={per_type + 1}", "eval.every=0", "eval.probe="]
    trainer = Trainer(load_config(config_path, settings), run_dir)
    trainer.seed_buffers()
    return select_probe(trainer.buffers, per_type)


def run(args: argparse.Namespace) -> int:
    if args.per_type < 1:
        raise ConfigError(f"--per-type must be >= 1, got {args.per_type}")
    if not Path(args.out).resolve().parent.is_dir():  # before hours of seeding, not after
        raise ConfigError(f"--out: the directory of {args.out} does not exist")
    if args.run_dir and (Path(args.run_dir) / "buffers").exists():
        raise ConfigError(
            f"--run-dir: {args.run_dir} already holds buffers, which the seeding rounds would start from and the "
            "probe would copy; give a new directory"
        )
    try:
        from azr.selfplay.probe import write_probe
    except ImportError as exc:
        raise MissingDependencyError(f"azr probe needs the training extra: pip install 'azr[train]' ({exc})") from exc
    with tempfile.TemporaryDirectory(prefix="azr-probe-") as scratch, logs_above_bars():
        tasks = build_probe(args.config, args.overrides, args.per_type, Path(args.run_dir or scratch))
    write_probe(args.out, tasks)
    counts: dict[str, int] = {}
    for task in tasks:
        counts[str(task.task_type)] = counts.get(str(task.task_type), 0) + 1
    print(json.dumps({"out": args.out, "tasks": counts}), file=sys.stdout)
    return 0
