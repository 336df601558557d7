"""Whole-file writes that a kill cannot leave half done.

Results that are rewritten while a long job runs (``azr eval --out`` after every benchmark, the
generations beside it, an embedded model's checksum sidecar) must hold either the old contents or
the new ones: a process stopped mid-write would otherwise truncate exactly the results the rewrite
was there to keep. The text goes to a temporary file in the same directory, which then replaces the
target in one ``os.replace`` (atomic on POSIX and Windows within one filesystem).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_text_atomic"]


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically, creating its directory; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path
