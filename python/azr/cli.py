"""The azr command line: the parser and main(). Each subcommand lives in azr.commands.

Results go to stdout (--json for machines), logs to stderr. Exit codes: 0 success, 1 run failure,
2 usage or configuration error (including a missing file or a malformed input line). Errors print one
line; --log-level DEBUG adds the traceback.

Logging: azr's own messages (loggers ``azr.*``, and ``_core.*``, where the Rust core's ``log`` records
arrive through pyo3-log) are shown from INFO by default, so the one-time set-ups that take minutes
(joining and converting an embedded model, building and compiling the sandbox guest) and the
progress lines of runs without a terminal say what is happening. Other libraries (transformers,
torch, ...) are shown from WARNING unless ``--log-level DEBUG`` asks for everything.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from azr.commands import bench as bench_command
from azr.commands import evaluate as evaluate_command
from azr.commands import export as export_command
from azr.commands import metrics as metrics_command
from azr.commands import probe as probe_command
from azr.commands import sandbox as sandbox_command
from azr.commands import train as train_command
from azr.commands import verify as verify_command
from azr.exceptions import AzrError, ConfigError

__all__ = ["build_parser", "configure_logging", "main"]

log = logging.getLogger(__name__)

_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_OWN_LOGGERS = ("azr", "_core")
"""azr's Python modules, and the Rust core (pyo3-log names its loggers after the Rust modules: ``_core.sandbox``)."""


def configure_logging(level: str) -> None:
    """One stderr handler; azr's loggers at ``level``, every other library at WARNING (or ``level`` when
    it is DEBUG, or stricter than WARNING)."""
    own = logging.getLevelNamesMapping()[level.upper()]
    others = own if own == logging.DEBUG else max(own, logging.WARNING)
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(others)
    for name in _OWN_LOGGERS:
        logging.getLogger(name).setLevel(own)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="azr",
        description="Absolute Zero self-play: a model proposes and solves its own Python tasks, rewarded only "
        "by executing code in a WebAssembly sandbox.",
    )
    parser.add_argument(
        "--log-level",
        default=os.environ.get("AZR_LOG", "INFO"),
        type=str.upper,
        choices=_LEVELS,
        help="level of azr's own messages (set-up steps, progress lines without a terminal): DEBUG, INFO, "
        "WARNING or ERROR; other libraries log from WARNING, or everything under DEBUG (default: $AZR_LOG or INFO)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    commands = (
        verify_command,
        bench_command,
        sandbox_command,
        train_command,
        evaluate_command,
        metrics_command,
        export_command,
        probe_command,
    )
    for command in commands:
        command.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.log_level not in _LEVELS:  # a bad $AZR_LOG (argparse checks only what is typed)
        parser.error(f"--log-level (or $AZR_LOG): {args.log_level!r} is not one of {', '.join(_LEVELS)}")
    configure_logging(args.log_level)
    try:
        code: int = args.func(args)
        return code
    except (ConfigError, ValueError, TypeError, FileNotFoundError, IsADirectoryError) as exc:
        # The user's input: configuration, arguments, files. One line; the traceback under DEBUG.
        log.debug("usage error", exc_info=True)
        print(f"azr: {_describe(exc)}", file=sys.stderr)
        return 2
    except (AzrError, OSError) as exc:
        log.debug("run failure", exc_info=True)
        print(f"azr: {_describe(exc)}", file=sys.stderr)
        return 1


def _describe(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError | IsADirectoryError) and exc.filename:
        what = "not found" if isinstance(exc, FileNotFoundError) else "is a directory, not a file"
        return f"{exc.filename}: {what}"
    return str(exc)


if __name__ == "__main__":
    sys.exit(main())
