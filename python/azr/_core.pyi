"""Low-level bindings to azr's Rust core. Use :mod:`azr` (``azr.Sandbox``) instead."""

from os import PathLike
from pathlib import Path
from typing import Literal, TypeAlias, final

import numpy as np
import numpy.typing as npt

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
    """Wasmtime sandbox running a pre-initialised CPython component; a pristine instance per job."""

    def __new__(
        cls,
        *,
        workers: int | None = None,
        timeout_s: float = 2.0,
        memory_mb: int = 256,
        max_output_bytes: int = 65536,
        fuel: int | None = None,
        max_wasm_stack_bytes: int = 4194304,
        instance_mode: Literal["reset", "fresh"] = "reset",
        pooling: bool = True,
        hash_seed: int = 0,
        guest: str | PathLike[str] | None = None,
        cache_dir: str | PathLike[str] | None = None,
    ) -> Sandbox: ...
    def run(self, program: str, exprs: list[str], seed: int = 0, timeout_s: float | None = None) -> list[_RawResult]:
        """Run one program against expressions in one pristine instance."""
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
    def hash_seed(self) -> int:
        """The number of the guest build (each build has its own string-hash secret)."""
    @property
    def guest_path(self) -> Path: ...
    @property
    def guest_sha256(self) -> str: ...
    @property
    def setup_ms(self) -> float: ...
    @property
    def instance_mode(self) -> Literal["reset", "fresh"]:
        """The instance mode in use ("reset" falls back to "fresh" without kernel support)."""
    def instance_counts(self) -> tuple[int, int, int]:
        """(created, reused, discarded) instance counts so far."""
    def idle_instances_pristine(self) -> bool:
        """Whether every idle instance's memory equals its post-instantiation snapshot."""

def locate_guest(guest: str | PathLike[str] | None = None, hash_seed: int = 0) -> Path:
    """Path of the guest the sandbox would use, building it if needed."""

def build_guest(hash_seed: int = 0) -> Path:
    """Build the guest into the cache (replacing any cached one) and return its path."""

def verify_guest(path: str | PathLike[str]) -> str:
    """Check a guest against its recorded checksum; return its SHA-256."""

def learnability(solve_rate: float) -> float:
    """Proposer reward: ``1 - solve_rate`` when ``0 < solve_rate < 1``, else 0."""

def learnability_from_counts(correct: int, samples: int) -> float:
    """:func:`learnability` of ``correct / samples``."""

def composite_reward(verdict: str, reward: float = 0.0, format_error: float = -1.0, wrong: float = -0.5) -> float:
    """Format-aware reward: ``format_error``, ``wrong``, or ``reward`` when the verdict is "accepted"."""

def task_relative_advantages(
    rewards: npt.NDArray[np.float64],
    groups: npt.NDArray[np.uint32],
    weights: npt.NDArray[np.float64] | None = None,
    eps: float = 1e-6,
) -> npt.NDArray[np.float64]:
    """Task-Relative REINFORCE++: ``(r - mean_g) / (std_g + eps)`` within each group."""

@final
class CheckPolicy:
    """What a program may contain. Defaults: entry ``f``, 10,000 characters, 2,000 AST nodes, and
    banned modules (os, sys, subprocess, socket, threading, random, time, datetime, io, ...), calls
    (open, input, exit, quit, help: rejected when called), names (eval, exec, compile, __import__,
    getattr, vars, ...: rejected wherever referenced, called or not) and attributes (__globals__,
    __dict__, ...: as attributes, names or inside string constants)."""

    def __new__(
        cls,
        *,
        entry: str = "f",
        banned_modules: list[str] | None = None,
        banned_calls: list[str] | None = None,
        banned_names: list[str] | None = None,
        banned_attributes: list[str] | None = None,
        max_chars: int = 10000,
        max_nodes: int = 2000,
    ) -> CheckPolicy: ...
    def check_program(self, source: str) -> tuple[str, str] | None:
        """``None`` if the program passes, else ``(kind, message)``."""
    def check_programs(self, sources: list[str]) -> list[tuple[str, str] | None]:
        """``check_program`` for many programs, in parallel."""
    def check_input(self, text: str) -> tuple[str, str] | None:
        """Check argument text: ``f(<text>)`` must be exactly one call of the entry function."""
    def check_value(self, text: str) -> tuple[str, str] | None:
        """Check a value expression: exactly one expression, same bans."""
    @property
    def entry(self) -> str: ...
    @property
    def banned_modules(self) -> list[str]: ...
    @property
    def banned_calls(self) -> list[str]: ...
    @property
    def banned_names(self) -> list[str]: ...
    @property
    def banned_attributes(self) -> list[str]: ...
    @property
    def max_chars(self) -> int: ...
    @property
    def max_nodes(self) -> int: ...

@final
class Deduper:
    """Remembers canonical fingerprints of programs and of exact (program, input) pairs."""

    def __new__(cls) -> Deduper: ...
    def admit_programs(self, sources: list[str]) -> list[bool]:
        """Whether each program is new (not seen, not earlier in the batch); records it."""
    def contains_programs(self, sources: list[str]) -> list[bool]:
        """Whether each program was admitted before, without recording."""
    def admit_pairs(self, pairs: list[tuple[str, str]]) -> list[bool]:
        """Whether each exact (program, input) pair is new; records it."""
    @property
    def num_programs(self) -> int: ...
    @property
    def num_pairs(self) -> int: ...

def program_fingerprint(source: str) -> bytes | None:
    """Canonical 128-bit fingerprint (renamed identifiers, no comments/docstrings/formatting)."""

def canonical_program(source: str) -> str | None:
    """The canonical text the fingerprint is computed from."""

def check_literal(text: str) -> tuple[str, str] | None:
    """``None`` if ``text`` is a plain data literal (what ``repr`` writes for built-in values), else
    ``(kind, message)``. Evaluating such text runs no code. Text with a lone surrogate is
    ``("not_unicode", ...)``, never an error."""

def check_arguments(text: str) -> tuple[str, str] | None:
    """``None`` if ``f(<text>)`` is one call whose arguments are each a plain data literal (keywords
    ``name=<literal>`` allowed, no unpacking), else ``(kind, message)``."""
