"""Atomic whole-file writes (azr.files): a failed write keeps the old contents and leaves no temporary file."""

from __future__ import annotations

from pathlib import Path

import pytest

from azr.files import write_text_atomic


def test_a_write_replaces_the_file_and_creates_its_directory(tmp_path: Path) -> None:
    target = tmp_path / "new" / "results.json"
    assert write_text_atomic(target, "first\n") == target
    write_text_atomic(target, "second\n")
    assert target.read_text(encoding="utf-8") == "second\n"
    assert [p.name for p in target.parent.iterdir()] == ["results.json"]


def test_a_write_that_fails_midway_keeps_the_old_contents(tmp_path: Path) -> None:
    target = tmp_path / "results.json"
    target.write_text('{"kept": true}\n', encoding="utf-8")
    # A lone surrogate cannot be encoded as UTF-8: the write fails after the first part is out.
    with pytest.raises(UnicodeEncodeError):
        write_text_atomic(target, "x" * 100_000 + "\ud800")
    assert target.read_text(encoding="utf-8") == '{"kept": true}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_a_symlink_is_followed_and_an_existing_files_mode_kept(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text("old\n", encoding="utf-8")
    real.chmod(0o600)
    link = tmp_path / "link.json"
    link.symlink_to(real)
    write_text_atomic(link, "new\n")
    assert link.is_symlink() and real.read_text(encoding="utf-8") == "new\n"
    assert real.stat().st_mode & 0o777 == 0o600
    fresh = write_text_atomic(tmp_path / "fresh.json", "x")
    assert fresh.stat().st_mode & 0o777 == 0o644
