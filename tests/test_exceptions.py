"""Host problems raise typed exceptions; the tree is importable from azr and azr.exceptions."""

from __future__ import annotations

from pathlib import Path

import pytest

import azr
from azr import AzrError, ConfigError, GuestModuleError, Sandbox, SandboxError, _core


def test_exception_tree() -> None:
    for cls in (ConfigError, GuestModuleError, SandboxError):
        assert issubclass(cls, AzrError)
    assert issubclass(AzrError, Exception)
    assert azr.exceptions.ConfigError is _core.ConfigError


def test_missing_guest_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Sandbox(guest=tmp_path / "nope.wasm")


def test_corrupt_guest_is_guest_module_error(tmp_path: Path) -> None:
    bogus = tmp_path / "guest.wasm"
    bogus.write_bytes(b"\x00asm\x01\x00\x00\x00garbage")
    with pytest.raises(GuestModuleError):
        Sandbox(guest=bogus, cache_dir=tmp_path)


def test_tampered_guest_fails_its_checksum(tmp_path: Path, sandbox: Sandbox) -> None:
    copy = tmp_path / "guest.wasm"
    copy.write_bytes(sandbox.guest_path.read_bytes())
    (tmp_path / "guest.wasm.sha256").write_text("0" * 64 + "  guest.wasm\n")
    with pytest.raises(GuestModuleError, match="sha256"):
        Sandbox(guest=copy, cache_dir=tmp_path)


def test_no_builder_and_no_cache_is_guest_module_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZR_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("AZR_GUEST", raising=False)
    monkeypatch.setenv("AZR_COMPONENTIZE_PY", str(tmp_path / "no-such-tool"))
    with pytest.raises(GuestModuleError, match="could not run"):
        Sandbox()


def test_config_error_messages_name_the_field() -> None:
    with pytest.raises(ConfigError, match="memory_mb"):
        Sandbox(memory_mb=1)
    with pytest.raises(ConfigError, match="timeout_s"):
        _core.Sandbox(timeout_s=-1.0)
