"""Low-level bindings to azr's Rust core. Use :mod:`azr` (``azr.Sandbox``) instead."""

from os import PathLike
from pathlib import Path
from typing import TypeAlias, final

__version__: str
COMPONENTIZE_PY_VERSION: str

class AzrError(Exception):
    """Base class of every error raised by azr's core."""

class SandboxError(AzrError):
    """The sandbox engine could not be set up or used."""

class GuestModuleError(AzrError):
    """The guest component is missing, corrupt or cannot be built."""

class ConfigError(AzrError):
    """A configuration value is invalid."""

# (status, value_repr, stdout, error_type, error_message, exit_code, elapsed_ms, fuel)
_RawResult: TypeAlias = tuple[str, str | None, str, str | None, str | None, int | None, float, int | None]
# (program, exprs, seed, timeout_s)
_RawJob: TypeAlias = tuple[str, list[str], int, float | None]

@final
class Sandbox:
    """Wasmtime sandbox running a pre-initialised CPython component; one fresh instance per job."""

    def __new__(
        cls,
        *,
        workers: int | None = None,
        timeout_s: float = 2.0,
        memory_mb: int = 256,
        max_output_bytes: int = 65536,
        fuel: int | None = None,
        max_wasm_stack_bytes: int = 4194304,
        pooling: bool = True,
        guest: str | PathLike[str] | None = None,
        cache_dir: str | PathLike[str] | None = None,
    ) -> Sandbox: ...
    def run(self, program: str, exprs: list[str], seed: int = 0, timeout_s: float | None = None) -> list[_RawResult]:
        """Run one program against expressions in one fresh instance."""
    def run_batch(self, jobs: list[_RawJob]) -> list[list[_RawResult]]:
        """Run many jobs in parallel; one list of results per job, in order."""
    @property
    def workers(self) -> int: ...
    @property
    def timeout_s(self) -> float: ...
    @property
    def memory_mb(self) -> int: ...
    @property
    def max_output_bytes(self) -> int: ...
    @property
    def fuel(self) -> int | None: ...
    @property
    def guest_path(self) -> Path: ...
    @property
    def guest_sha256(self) -> str: ...
    @property
    def setup_ms(self) -> float: ...

def locate_guest(guest: str | PathLike[str] | None = None) -> Path:
    """Path of the guest the sandbox would use, building it if needed."""

def build_guest() -> Path:
    """Build the guest into the cache (replacing any cached one) and return its path."""

def verify_guest(path: str | PathLike[str]) -> str:
    """Check a guest against its recorded checksum; return its SHA-256."""
