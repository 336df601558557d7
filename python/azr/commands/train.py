"""``azr train [CONFIG.toml] [--set section.key=value ...] [--run-dir DIR] [--resume]``.

The configuration module needs pydantic (the ``train`` extra), so it is imported only when ``azr train``
runs or its help is shown: ``azr verify`` and the other commands work on the core install.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from azr.exceptions import ConfigError, MissingDependencyError
from azr.runs.progress import logs_above_bars

__all__ = ["register"]

_SECTIONS = "config sections: listed here when azr train --help is shown"
"""The epilog's placeholder; :class:`_HelpFormatter` writes the section table in its place."""


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the section table as laid out, and builds it (importing the config module) only for --help."""

    def add_text(self, text: str | None) -> None:
        super().add_text(_sections_epilog() if text == _SECTIONS else text)


def register(sub: Any) -> None:
    description = textwrap.fill(
        "Absolute Zero self-play: propose, validate, solve, reward, update. With no config, trains the embedded "
        "default model (Qwen2.5-Coder-0.5B-Instruct from the azr[qwen] extra) on CPU or GPU. Every key is checked "
        "before anything loads: a bad value exits 2 naming the key.",
        width=100,
    )
    parser = sub.add_parser(
        "train",
        help="self-play training (needs the 'train' extra)",
        description=description,
        epilog=_SECTIONS,
        formatter_class=_HelpFormatter,
    )
    parser.add_argument(
        "config",
        nargs="?",
        help="a TOML file with the sections below (see --show-config for every key)",
    )
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="e.g. --set run.steps=3"
    )
    parser.add_argument("--run-dir", help="where the run lives (default runs/<time>)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its last checkpoint")
    parser.add_argument(
        "--show-config",
        action="store_true",
        help="print every key with its help, type, allowed values and default, set to the values CONFIG and "
        "--set resolve to, as a TOML file; then exit without training",
    )
    parser.add_argument(
        "--config-schema",
        action="store_true",
        help="print the JSON schema of a config file (every section and key with its type, bounds, default and "
        "help) and exit",
    )
    parser.set_defaults(func=run)


def _sections_epilog() -> str:
    try:
        from azr.selfplay.config import sections
    except ImportError:
        return "config sections: install the training extra to list them (pip install 'azr[train]')"
    rows = [f"  [{name}]{' ' * (10 - len(name))}{(cls.__doc__ or '').strip()}" for name, cls in sections()]
    return "\n".join(
        [
            "config sections (TOML tables; any key can be overridden with --set section.key=value):",
            *rows,
            "",
            "azr train --show-config [CONFIG.toml] [--set KEY=VALUE ...] prints every key with its help, type,",
            "allowed values and default (a valid config file to start from); --config-schema prints the JSON schema.",
        ]
    )


def run(args: argparse.Namespace) -> int:
    try:
        from azr.selfplay.config import config_schema, describe, load_config
    except ImportError as exc:
        raise MissingDependencyError(f"azr train needs the training extra: pip install 'azr[train]' ({exc})") from exc
    if args.config_schema:
        print(json.dumps(config_schema(), indent=2))
        return 0
    if args.resume:
        if not args.run_dir:
            raise ConfigError("--resume needs --run-dir")
        saved = Path(args.run_dir) / "config.toml"
        if not saved.exists():
            raise ConfigError(f"--resume: {saved} not found")
        config = load_config(args.config or saved, args.overrides)
    else:
        config = load_config(args.config, args.overrides)  # every key checked before any model loads
    if args.show_config:
        sys.stdout.write(describe(config))
        return 0
    run_dir = Path(args.run_dir or f"runs/{time.strftime('%Y%m%d-%H%M%S')}")
    try:
        from azr.selfplay.trainer import Trainer
    except ImportError as exc:
        raise MissingDependencyError(f"azr train needs the training extra: pip install 'azr[train]' ({exc})") from exc
    with logs_above_bars():
        trainer = Trainer(config, run_dir, resume=args.resume)
        history = trainer.fit()
    if trainer.world.is_main:
        last = history[-1] if history else {}
        summary = {k: v for k, v in last.items() if isinstance(v, float) and math.isfinite(v)}
        print(json.dumps({"run_dir": str(run_dir), "step": trainer.step, "last": summary}, indent=1), file=sys.stdout)
    return 0
