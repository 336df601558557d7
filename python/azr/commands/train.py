"""``azr train [CONFIG.toml] [--set section.key=value ...] [--run-dir DIR] [--resume]``."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from azr.config import load_config
from azr.exceptions import ConfigError
from azr.progress import logs_above_bars

__all__ = ["register"]


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "train",
        help="self-play training (needs the 'train' extra)",
        description="Absolute Zero self-play: propose, validate, solve, reward, update. With no config, trains "
        "the embedded default model (Qwen2.5-Coder-0.5B-Instruct from the azr[qwen] extra) on CPU or GPU.",
    )
    parser.add_argument(
        "config", nargs="?", help="a TOML file (sections: model, sampler, selfplay, optim, sandbox, run, eval)"
    )
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="e.g. --set run.steps=3"
    )
    parser.add_argument("--run-dir", help="where the run lives (default runs/<time>)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its last checkpoint")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.resume:
        if not args.run_dir:
            raise ConfigError("--resume needs --run-dir")
        saved = Path(args.run_dir) / "config.toml"
        if not saved.exists():
            raise ConfigError(f"--resume: {saved} not found")
        config = load_config(args.config or saved, args.overrides)
    else:
        config = load_config(args.config, args.overrides)  # every key checked before any model loads
    run_dir = Path(args.run_dir or f"runs/{time.strftime('%Y%m%d-%H%M%S')}")
    try:
        from azr.trainer import Trainer
    except ImportError as exc:
        raise ConfigError(f"azr train needs the training extra: pip install 'azr[train]' ({exc})") from exc
    with logs_above_bars():
        trainer = Trainer(config, run_dir, resume=args.resume)
        history = trainer.fit()
    if trainer.world.is_main:
        last = history[-1] if history else {}
        summary = {k: v for k, v in last.items() if isinstance(v, float) and math.isfinite(v)}
        print(json.dumps({"run_dir": str(run_dir), "step": trainer.step, "last": summary}, indent=1), file=sys.stdout)
    return 0
