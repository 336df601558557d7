"""One JSONL reader for every file azr reads line by line (jobs, tasks, buffers, benchmarks)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

__all__ = ["iter_jsonl", "read_intact"]


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, str, Any]]:
    """``(line number, raw line, decoded value or the ValueError)`` for each non-blank line (a line
    nested too deeply for the JSON decoder is a ValueError too).

    Errors are yielded, not raised, so each caller decides: name the line in a ``ConfigError``, skip
    it, or (buffers) accept that a last line without its newline was cut short by a kill. ``.gz``
    files are decompressed.
    """
    path = Path(path)
    fh: TextIO = gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open(encoding="utf-8")
    with fh:
        for number, line in enumerate(fh, 1):
            if line.strip():
                try:
                    yield number, line, json.loads(line)
                except ValueError as exc:
                    yield number, line, exc
                except RecursionError:  # nested past the interpreter's recursion limit: unreadable too
                    yield number, line, ValueError(f"line {number} nests too deeply to read as JSON")


def read_intact(path: str | Path) -> list[Any]:
    """The decoded values of ``path``'s lines, skipping any that do not decode (an append-only log's last
    line cut short by a kill): how a run's ``metrics.jsonl`` is read by the trainer and by ``azr metrics``."""
    return [value for _, _, value in iter_jsonl(path) if not isinstance(value, ValueError)]
