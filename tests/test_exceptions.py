"""Host problems raise typed exceptions; the tree is importable from azr and azr.exceptions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import azr
import azr.exceptions
from azr import AzrError, ConfigError, GuestModuleError, Sandbox, SandboxError, _core

PACKAGE = Path(azr.__file__).resolve().parent


def test_exception_tree() -> None:
    for cls in (ConfigError, GuestModuleError, SandboxError):
        assert issubclass(cls, AzrError)
    assert issubclass(AzrError, Exception)
    assert azr.exceptions.ConfigError is _core.ConfigError
    for name in ("ModelNotFoundError", "ModelIntegrityError", "MissingDependencyError", "InsufficientMemoryError"):
        assert issubclass(getattr(azr.exceptions, name), ConfigError)
    # ConfigError is for the user's configuration; it is no ValueError, so library argument checks
    # (ValueError/TypeError) and configuration checks cannot be mistaken for each other in tests.
    assert not issubclass(ConfigError, ValueError | TypeError)


def _exception_classes_defined_in_azr() -> list[tuple[str, str]]:
    """(module, class name) of every public class in azr's sources that derives from an exception."""
    exported = set(azr.exceptions.__all__)
    found: list[tuple[str, str]] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(("azr", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ClassDef) or node.name.startswith("_"):
                continue
            bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
            if bases & (exported | {"Exception", "BaseException", "ValueError", "TypeError", "RuntimeError"}):
                found.append((module, node.name))
    return found


def test_every_exception_class_is_exported_from_azr_exceptions() -> None:
    found = _exception_classes_defined_in_azr()
    assert ("azr.exceptions", "InsufficientMemoryError") in found  # the scan sees class definitions
    for module, name in found:
        assert name in azr.exceptions.__all__, f"{module}.{name} is not exported from azr.exceptions"
        assert module == "azr.exceptions", f"{module}.{name}: define exception classes in azr.exceptions"
    for name in azr.exceptions.__all__:
        assert issubclass(getattr(azr.exceptions, name), AzrError), name


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


def test_bad_library_arguments_are_value_or_type_errors(sandbox: Sandbox) -> None:
    """A caller's bad argument is ValueError/TypeError, also where the check is in Rust."""
    from azr.verify.rewards import learnability, task_relative_advantages

    with pytest.raises(ValueError, match="solve rate"):
        _core.learnability(2.0)
    with pytest.raises(ValueError, match="verdict"):
        _core.composite_reward("maybe")
    with pytest.raises(ValueError, match="rewards but"):
        task_relative_advantages([1.0, 2.0], [0])
    with pytest.raises(ValueError):
        learnability(-0.5)
    with pytest.raises(ValueError, match="timeout_s"):  # a job's timeout, straight into the Rust core
        sandbox._core.run_batch([("x = 1", ["x"], 0, -1.0)])
