"""The public sandbox API: run untrusted Python in a pristine WebAssembly interpreter per job.

``Sandbox`` wraps :class:`azr._core.Sandbox` (Rust, wasmtime) with typed ``Job`` values, argument
checks and running totals. Results are :class:`ExecResult` values made in Rust, their ``status`` a
:class:`Status`; a failing program is a result, never an exception. The defaults come from
``azr._core.DEFAULT_*`` (defined once, in Rust).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from azr import _core
from azr._core import ExecResult, Status
from azr.exceptions import ConfigError

__all__ = ["ExecResult", "InstanceCounts", "Job", "Sandbox", "SandboxStats", "Status"]

_U64_MAX = 2**64 - 1


@dataclass(frozen=True, slots=True)
class Job:
    """Run ``program`` in a fresh namespace, then evaluate ``expr`` there.

    ``seed`` seeds the guest's randomness and offsets its virtual clock: run a job under two seeds to
    detect programs that depend on time or randomness. ``timeout_s`` overrides the sandbox's timeout.
    """

    program: str
    expr: str
    seed: int = 0
    timeout_s: float | None = None

    def __post_init__(self) -> None:
        _check_str("program", self.program)
        _check_str("expr", self.expr)
        _check_seed(self.seed)
        _check_timeout(self.timeout_s)


def _check_str(name: str, value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be str, not {type(value).__name__}")


# A Sandbox's own settings are the user's configuration (ConfigError); a job's seed and timeout are a
# caller's arguments (TypeError for the wrong type, ValueError for a value out of range).


def _check_seed(seed: object) -> None:
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, not {type(seed).__name__}")
    if not 0 <= seed <= _U64_MAX:
        raise ValueError(f"seed must be an int in [0, 2**64), got {seed!r}")


def _check_hash_seed(seed: object) -> None:
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= 2**32 - 1:
        raise ConfigError(f"hash_seed must be an int in [0, 2**32) (a guest build number), got {seed!r}")


def _timeout_problem(timeout_s: object) -> str | None:
    """Why ``timeout_s`` is not a timeout, or None when it is one (None is: the sandbox's own)."""
    if timeout_s is None:
        return None
    if not isinstance(timeout_s, int | float) or isinstance(timeout_s, bool) or not 0 < timeout_s <= 86_400:
        return f"timeout_s must be a number of seconds in (0, 86400], got {timeout_s!r}"
    return None


def _check_timeout(timeout_s: object) -> None:
    """A job's (or one call's) timeout: TypeError when it is no number, ValueError when out of range."""
    problem = _timeout_problem(timeout_s)
    if problem is not None:
        number = isinstance(timeout_s, int | float) and not isinstance(timeout_s, bool)
        raise ValueError(problem) if number else TypeError(problem)


@dataclass(slots=True)
class SandboxStats:
    """What a sandbox has run: instances (programs), expressions evaluated, timeouts, wall seconds."""

    programs: int = 0
    expressions: int = 0
    timeouts: int = 0
    seconds: float = 0.0

    def snapshot(self) -> SandboxStats:
        return SandboxStats(self.programs, self.expressions, self.timeouts, self.seconds)

    def since(self, earlier: SandboxStats) -> SandboxStats:
        """The work done after ``earlier`` (a snapshot)."""
        return SandboxStats(
            self.programs - earlier.programs,
            self.expressions - earlier.expressions,
            self.timeouts - earlier.timeouts,
            self.seconds - earlier.seconds,
        )


@dataclass(frozen=True)
class InstanceCounts:
    """Instance use so far: each created instance cost an instantiation; reused ones a restore."""

    created: int
    reused: int
    discarded: int


class Sandbox:
    """A pool of isolated CPython-in-WebAssembly interpreters.

    Every job starts from the same pristine state, a pre-initialised interpreter just after
    instantiation, so nothing one program does is visible to another. By default each worker keeps one
    live instance and, after each job, copies the memory pages the job wrote back from a snapshot taken
    right after instantiation (``instance_mode="reset"``, Linux 6.7+; about 5x faster than a new
    instance per job); an instance that trapped or grew its memory is replaced instead.
    ``instance_mode="fresh"`` instantiates a new instance for every job. Guest code has no filesystem,
    network, environment, threads or subprocesses; its clock and randomness are virtual and seeded.

    Args:
        workers: threads used by ``run_batch`` (default: all cores).
        timeout_s: wall-clock limit per expression.
        memory_mb: linear-memory cap per instance.
        max_output_bytes: cap on captured stdout plus the value's repr.
        fuel: optional instruction budget per expression (deterministic; slows execution ~2x).
        guest: path to a guest component; default ``$AZR_GUEST``, then the cache, else built once.
        cache_dir: where built guests and compiled artifacts live (default ``~/.cache/azr``).
        instance_mode: ``"reset"`` (default; falls back to ``"fresh"`` where the kernel lacks
            ``PAGEMAP_SCAN``) or ``"fresh"``.
        pooling: in ``"fresh"`` mode, use wasmtime's pooling allocator (faster; reserves address space).
        hash_seed: which build of the guest to use; each number is its own guest (built once, ~20 s,
            and cached) with its own string-hash secret. The secret is drawn at random when that
            guest is built and is then fixed in its memory snapshot (componentize-py pre-initialises
            CPython without ``PYTHONHASHSEED``, so the secret cannot be chosen): with one build, a
            program whose output depends on the iteration order of a set of strings looks
            deterministic. The same number gives the same secret while its cached guest lives; on
            another machine or after emptying the cache it gives another. ``guest`` (and
            ``$AZR_GUEST``) name a prebuilt guest: they apply to ``hash_seed=0`` only (``guest`` with
            another number is a ``ConfigError``). See :meth:`with_hash_seed`.
    """

    def __init__(
        self,
        workers: int | None = None,
        timeout_s: float = _core.DEFAULT_TIMEOUT_S,
        memory_mb: int = _core.DEFAULT_MEMORY_MB,
        max_output_bytes: int = _core.DEFAULT_MAX_OUTPUT_BYTES,
        *,
        fuel: int | None = None,
        guest: str | os.PathLike[str] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        instance_mode: Literal["reset", "fresh"] = _core.DEFAULT_INSTANCE_MODE,
        pooling: bool = _core.DEFAULT_POOLING,
        hash_seed: int = _core.DEFAULT_HASH_SEED,
    ) -> None:
        if workers is not None and (not isinstance(workers, int) or workers < 1):
            raise ConfigError(f"workers must be a positive int or None, got {workers!r}")
        if (problem := _timeout_problem(timeout_s)) is not None:
            raise ConfigError(problem)
        for name, value in (("memory_mb", memory_mb), ("max_output_bytes", max_output_bytes)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a positive int, got {value!r}")
        if fuel is not None and (not isinstance(fuel, int) or fuel < 1):
            raise ConfigError(f"fuel must be a positive int or None, got {fuel!r}")
        _check_hash_seed(hash_seed)
        self.stats = SandboxStats()
        """Running totals of this sandbox's work (reset or snapshot them freely)."""
        # What the core does not report back (it reports the mode in use, not the one asked for).
        self._instance_mode: Literal["reset", "fresh"] = instance_mode
        self._pooling = pooling
        self._cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._guest = Path(guest) if guest is not None else None
        self._variants: dict[int, Sandbox] = {}
        self._variants_lock = threading.Lock()
        self._core = _core.Sandbox(
            workers=workers,
            timeout_s=float(timeout_s),
            memory_mb=memory_mb,
            max_output_bytes=max_output_bytes,
            fuel=fuel,
            instance_mode=instance_mode,
            pooling=pooling,
            hash_seed=hash_seed,
            guest=self._guest,
            cache_dir=self._cache_dir,
        )

    @property
    def workers(self) -> int:
        return self._core.workers

    @property
    def timeout_s(self) -> float:
        return self._core.timeout_s

    @property
    def guest_path(self) -> Path:
        return Path(self._core.guest_path)

    @property
    def hash_seed(self) -> int:
        """The number of this sandbox's guest build (each build has its own string-hash secret)."""
        return self._core.hash_seed

    def with_hash_seed(self, seed: int) -> Sandbox:
        """A sandbox with this one's settings but guest build ``seed``: another string-hash secret.

        Created on first use (building that seed's guest once if it is not cached) and kept on this
        sandbox, so later calls return the same object; ``seed`` equal to :attr:`hash_seed` returns
        ``self``. Run a job under several builds to catch programs whose result depends on the
        iteration order of sets of strings (each extra build halves, roughly, the chance that a
        two-string set keeps its order in all of them). The variant's own instances and compiled guest
        cost as much memory as this sandbox's. An explicit ``guest`` path is reused for seed 0 only;
        other seeds use the cached (or built) guest for that seed.
        """
        _check_hash_seed(seed)
        if seed == self.hash_seed:
            return self
        with self._variants_lock:
            variant = self._variants.get(seed)
            if variant is None:
                variant = Sandbox(
                    self.workers,
                    self._core.timeout_s,
                    self._core.memory_mb,
                    self._core.max_output_bytes,
                    fuel=self._core.fuel,
                    guest=self._guest if seed == 0 else None,
                    cache_dir=self._cache_dir,
                    instance_mode=self._instance_mode,
                    pooling=self._pooling,
                    hash_seed=seed,
                )
                self._variants[seed] = variant
            return variant

    def release_hash_seed(self, seed: int) -> None:
        """Forget the variant :meth:`with_hash_seed` made for ``seed`` (its instances and compiled guest
        are freed once nothing else holds it; the built guest stays cached on disk)."""
        with self._variants_lock:
            self._variants.pop(seed, None)

    @property
    def instance_mode(self) -> Literal["reset", "fresh"]:
        """The mode in use: ``"reset"`` falls back to ``"fresh"`` without kernel support."""
        return self._core.instance_mode

    def instance_counts(self) -> InstanceCounts:
        """How many instances were created, reused and discarded so far."""
        return InstanceCounts(*self._core.instance_counts())

    def idle_instances_pristine(self) -> bool:
        """Whether every idle instance's memory equals its post-instantiation snapshot, byte for byte.

        A full comparison (milliseconds per instance): a check for tests and debugging.
        """
        return self._core.idle_instances_pristine()

    def run(self, job: Job) -> ExecResult:
        """Run one job in a pristine instance."""
        return self.run_batch([job])[0]

    def run_batch(self, jobs: Sequence[Job]) -> list[ExecResult]:
        """Run jobs in parallel over ``workers`` threads (GIL released); results in input order."""
        items = [(job.program, [job.expr]) for job in jobs]
        results = self._run_items(items, [(job.seed, job.timeout_s) for job in jobs])
        return [rs[0] for rs in results]

    def _run_items(
        self, items: Sequence[tuple[str, list[str]]], settings: Sequence[tuple[int, float | None]]
    ) -> list[list[ExecResult]]:
        """Run (program, exprs) items; text that cannot be UTF-8 gets SYNTAX_ERROR results (from Rust)."""
        started = time.perf_counter()
        out = self._core.run_batch([(*item, *setting) for item, setting in zip(items, settings, strict=True)])
        self.stats.seconds += time.perf_counter() - started
        for results in out:
            self.stats.programs += 1
            self.stats.expressions += len(results)
            self.stats.timeouts += sum(r.status is Status.TIMEOUT for r in results)
        return out

    def run_many(
        self, program: str, exprs: Sequence[str], seed: int = 0, timeout_s: float | None = None
    ) -> list[ExecResult]:
        """Run one program against many expressions in one pristine instance.

        Each expression gets a fresh namespace (the program is re-executed) and restored builtins and
        ``sys.modules``; the timeout applies per expression. A trap (timeout, memory) ends only that
        expression: the rest continue in a new instance. The cheap path for a program's own inputs.
        """
        _check_str("program", program)
        exprs = list(exprs)
        for expr in exprs:
            _check_str("expr", expr)
        _check_seed(seed)
        _check_timeout(timeout_s)
        return self._run_items([(program, exprs)], [(seed, timeout_s)])[0]

    def run_many_batch(
        self, items: Sequence[tuple[str, Sequence[str]]], seed: int = 0, timeout_s: float | None = None
    ) -> list[list[ExecResult]]:
        """``run_many`` for many programs at once, in parallel; one list of results per program."""
        _check_seed(seed)
        _check_timeout(timeout_s)
        lists = [(program, list(exprs)) for program, exprs in items]
        for program, exprs in lists:
            _check_str("program", program)
            for expr in exprs:
                _check_str("expr", expr)
        return self._run_items(lists, [(seed, timeout_s)] * len(lists))

    def __repr__(self) -> str:
        return f"Sandbox(workers={self.workers}, timeout_s={self.timeout_s}, guest={str(self.guest_path)!r})"
