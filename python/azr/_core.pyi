"""Low-level bindings to azr's Rust core. Use :mod:`azr` (``azr.Sandbox``) instead."""

from enum import StrEnum
from os import PathLike
from pathlib import Path
from typing import Any, Literal, TypeAlias, final

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

# The defaults of `Sandbox` (Rust's `SandboxConfig`): the one definition azr reads.
DEFAULT_TIMEOUT_S: float
DEFAULT_MEMORY_MB: int
DEFAULT_MAX_OUTPUT_BYTES: int
DEFAULT_MAX_WASM_STACK_BYTES: int
DEFAULT_INSTANCE_MODE: Literal["reset", "fresh"]
DEFAULT_POOLING: bool
DEFAULT_HASH_SEED: int

class Status(StrEnum):
    """How a job ended: a value, an exception or a limit, never a Python error."""

    OK = "ok"
    """The expression evaluated; ``value_repr`` holds its repr."""
    EXCEPTION = "exception"
    """The program or expression raised (``error_type``/``error_message`` say what)."""
    SYNTAX_ERROR = "syntax_error"
    """The program or expression does not parse (or is not valid UTF-8)."""
    TIMEOUT = "timeout"
    """The wall-clock timeout fired (epoch interruption)."""
    MEMORY = "memory"
    """The memory cap was hit (or the guest raised MemoryError)."""
    OUTPUT_LIMIT = "output_limit"
    """Printed output plus the value's repr exceeded ``max_output_bytes``."""
    OUT_OF_FUEL = "out_of_fuel"
    """The fuel budget ran out (only when the sandbox meters fuel)."""
    EXIT = "exit"
    """The program exited (``sys.exit``, ``exit()``, ``os._exit``); see ``exit_code``."""
    CRASH = "crash"
    """The guest trapped for another reason (e.g. its WebAssembly stack was exhausted)."""

@final
class ExecResult:
    """The outcome of one expression. Equal results compare equal and hash alike; a result is
    immutable and made only by the sandbox."""

    @property
    def status(self) -> Status:
        """How the job ended."""
    @property
    def ok(self) -> bool:
        """Whether ``status`` is ``Status.OK``."""
    @property
    def value_repr(self) -> str | None:
        """``repr()`` of the value when ``status`` is OK."""
    @property
    def stdout(self) -> str:
        """What the program printed (capped by ``max_output_bytes``)."""
    @property
    def error_type(self) -> str | None:
        """The exception's type name when the program raised or could not run."""
    @property
    def error_message(self) -> str | None:
        """The exception's message when the program raised or could not run."""
    @property
    def exit_code(self) -> int | None:
        """The exit code when ``status`` is EXIT (WASI reports only 0 or 1 for ``os._exit``)."""
    @property
    def elapsed_ms(self) -> float:
        """Wall time inside the guest (program, evaluation and repr; not instantiation)."""
    @property
    def fuel(self) -> int | None:
        """Fuel consumed, when the sandbox meters fuel."""
    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict (``status`` is a ``Status``, which is a ``str``): ready for ``json.dumps``."""
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

# (program, exprs, seed, timeout_s)
_RawJob: TypeAlias = tuple[str, list[str], int, float | None]

@final
class Sandbox:
    """Wasmtime sandbox running a pre-initialised CPython component; a pristine instance per job."""

    def __new__(
        cls,
        *,
        workers: int | None = None,
        timeout_s: float = ...,
        memory_mb: int = ...,
        max_output_bytes: int = ...,
        fuel: int | None = None,
        max_wasm_stack_bytes: int = ...,
        instance_mode: Literal["reset", "fresh"] = ...,
        pooling: bool = ...,
        hash_seed: int = ...,
        guest: str | PathLike[str] | None = None,
        cache_dir: str | PathLike[str] | None = None,
    ) -> Sandbox: ...
    def run(self, program: str, exprs: list[str], seed: int = 0, timeout_s: float | None = None) -> list[ExecResult]:
        """Run one program against expressions in one pristine instance."""
    def run_batch(self, jobs: list[_RawJob]) -> list[list[ExecResult]]:
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

def locate_guest(
    guest: str | PathLike[str] | None = None, hash_seed: int = ..., cache_dir: str | PathLike[str] | None = None
) -> Path:
    """Path of the guest the sandbox would use, building it if needed (in ``cache_dir``, default the
    global cache)."""

def build_guest(hash_seed: int = ..., cache_dir: str | PathLike[str] | None = None) -> Path:
    """Build the guest into ``cache_dir`` (default the global cache), replacing any cached one, and
    return its path."""

def verify_guest(path: str | PathLike[str]) -> str:
    """Check a guest against its recorded checksum; return its SHA-256."""

def learnability(solve_rate: float) -> float:
    """Proposer reward: ``1 - solve_rate`` when ``0 < solve_rate < 1``, else 0. ``ValueError`` outside [0, 1]."""

def learnability_from_counts(correct: int, samples: int) -> float:
    """:func:`learnability` of ``correct / samples``; ``ValueError`` unless ``0 <= correct <= samples > 0``."""

def composite_reward(verdict: str, reward: float = 0.0, format_error: float = -1.0, wrong: float = -0.5) -> float:
    """Format-aware reward: ``format_error``, ``wrong``, or ``reward`` when the verdict is "accepted"."""

def task_relative_advantages(
    rewards: npt.NDArray[np.float64],
    groups: npt.NDArray[np.uint32],
    weights: npt.NDArray[np.float64] | None = None,
    eps: float = 1e-6,
) -> npt.NDArray[np.float64]:
    """Task-Relative REINFORCE++: ``(r - mean_g) / (std_g + eps)`` within each group. ``ValueError`` for
    mismatched lengths, non-finite rewards, negative weights or a non-positive ``eps``."""

@final
class CheckPolicy:
    """What a program may contain. Defaults: entry ``f``, 10,000 characters, 2,000 AST nodes, a syntax
    tree at most 200 levels deep (counted on the tokens before parsing: ``too_deep``), and banned
    modules (os, sys, subprocess, socket, threading, io, importlib, ...: imported, or named as an
    attribute), calls (open, input, exit, quit, help: rejected when called), names (eval, exec,
    compile, __import__, getattr, vars, ...: rejected wherever referenced, called or not) and
    attributes (__globals__, __dict__, __self__, ...: as attributes, names or inside string
    constants). Opaque modules (zlib, binascii, hashlib, random, time, datetime, ...) and names
    (hash, id), whose values a solver cannot work out by reading the program, are rejected as
    ``opaque``."""

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
        opaque_modules: list[str] | None = None,
        opaque_names: list[str] | None = None,
    ) -> CheckPolicy: ...
    def check_program(self, source: str) -> tuple[str, str] | None:
        """``None`` if the program passes, else ``(kind, message)``."""
    def check_programs(self, sources: list[str]) -> list[tuple[str, str] | None]:
        """``check_program`` for many programs, in parallel."""
    def check_input(self, text: str) -> tuple[str, str] | None:
        """Check argument text: ``f(<text>)`` must be exactly one call of the entry function."""
    def check_value(self, text: str) -> tuple[str, str] | None:
        """Check a value expression: exactly one expression, same bans."""
    def check_pure_arguments(self, text: str, program: str | None = None) -> tuple[str, str] | None:
        """Check an argument list of pure expressions (CRUXEval compatibility only): literals, operators,
        displays, subscripts, calls of pure builtins (len, range, sorted, ...; not those ``program``
        binds itself), method calls with plain names, and lambdas whose bodies are pure and name only
        their parameters; nothing else named."""
    @property
    def entry(self) -> str: ...
    @property
    def banned_modules(self) -> list[str]: ...
    @property
    def opaque_modules(self) -> list[str]: ...
    @property
    def opaque_names(self) -> list[str]: ...
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
