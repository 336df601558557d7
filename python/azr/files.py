"""Whole-file writes that a kill cannot leave half done.

Results that are rewritten while a long job runs (``azr eval --out`` after every benchmark, the
generations beside it, an embedded model's checksum sidecar) must hold either the old contents or
the new ones: a process stopped mid-write would otherwise truncate exactly the results the rewrite
was there to keep. The text goes to a temporary file in the same directory, which then replaces the
target in one ``os.replace`` (atomic on POSIX and Windows within one filesystem).
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

__all__ = ["write_text_atomic"]


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically, creating its directory; returns the path.

    A symlink is followed (its target is replaced, not the link), and an existing file keeps its
    permissions; a new one gets 0o644, as a plain write under the usual umask would."""
    path = Path(path)
    target = path.resolve() if path.is_symlink() else path
    target.parent.mkdir(parents=True, exist_ok=True)
    mode = stat.S_IMODE(target.stat().st_mode) if target.is_file() else 0o644
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path
