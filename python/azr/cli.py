"""The azr command line: the parser and main(). Each subcommand lives in azr.commands.

Results go to stdout (--json for machines), logs to stderr. Exit codes: 0 success, 1 run failure,
2 usage or configuration error (including a missing file or a malformed input line). Errors print one
line; --log-level DEBUG adds the traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from azr.commands import bench as bench_command
from azr.commands import evaluate as evaluate_command
from azr.commands import sandbox as sandbox_command
from azr.commands import train as train_command
from azr.commands import verify as verify_command
from azr.exceptions import AzrError, ConfigError

__all__ = ["build_parser", "main"]

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="azr",
        description="Absolute Zero self-play: a model proposes and solves its own Python tasks, rewarded only "
        "by executing code in a WebAssembly sandbox.",
    )
    parser.add_argument(
        "--log-level",
        default=os.environ.get("AZR_LOG", "WARNING"),
        help="logging level: DEBUG, INFO, WARNING, ERROR (default: $AZR_LOG or WARNING)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for command in (verify_command, bench_command, sandbox_command, train_command, evaluate_command):
        command.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
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
