"""Validate proposed tasks: a (program, input) becomes a task only if it passes the static checks, runs,
reports plain data and reports the same value in every replay (:class:`TaskValidator`).

The proposer is an adversary too: a task whose output depends on the seed, the heap, the string-hash
secret or a function no solver can work out by reading the program would pay the proposer for a coin
flip, so each of those is replayed or salted here and refused (:class:`Rejected` says why).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from azr import _core
from azr.sandbox import ExecResult, Job, Sandbox, Status
from azr.verify import values
from azr.verify.replay_builds import ReplayBuilds, choose_replay_builds, measure_replay_builds
from azr.verify.tasks import Triple

__all__ = ["Rejected", "TaskValidator", "check_policy"]


def check_policy(**overrides: object) -> _core.CheckPolicy:
    """The static-check policy (defaults documented in ``_core.CheckPolicy``)."""
    return _core.CheckPolicy(**overrides)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Rejected:
    """Why a proposed task was not accepted. ``kind`` is machine-readable, ``reason`` human-readable."""

    kind: str
    reason: str


# Expression markers the guest harness reads (`sandbox-wasm/harness/azr_guest.py`); model text never
# starts an expression, since azr writes each as `f(<input>)`.
SALTED = "\0azr:salted\0"
"""Salt first every function whose value a solver cannot work out by reading the program, wherever the
program reaches it from, so that it records being called: checksums, digests (the C modules' too),
compression, seeding or setting a generator's state, and ``hash``, ``id`` and ``dir`` when the program's
own code calls them (the standard library uses those innocently); the value reported is ``(value, names
of the functions called)``. The static checks reject programs that name these (``opaque``); the salted
run, in the first run's build and under its seed, catches the ways past a denylist (a module reached as
an attribute of another, a string evaluated as an annotation)."""
_MAY_REACH_SALTED = re.compile(r"import|\bhash\b|\bid\b|\bdir\b")
SHIFTED = "\0azr:shifted\0"
"""Shift the heap first (objects of many sizes held while the program runs), so outputs that expose
memory addresses (``id(object()) % 97``, a default ``repr``) differ, as between two processes."""


def _salted(result: ExecResult, max_output_chars: int) -> tuple[object, list[str]] | None:
    """The salted run's value and the salted functions it called; None when it failed or reported
    anything but ``(plain data, [names])``."""
    if result.status is not Status.OK or len(result.value_repr or "") > max_output_chars + 1000:
        return None
    parsed = values.parse_value(result.value_repr)
    if not isinstance(parsed, values.Data) or not isinstance(parsed.value, tuple) or len(parsed.value) != 2:
        return None
    value, called = parsed.value
    if not isinstance(called, list) or not all(isinstance(name, str) for name in called):
        return None
    return value, called


class TaskValidator:
    """Accepts a proposed (program, input) only if it passes static checks, runs, reports plain data
    written exactly as ``repr`` writes it, within ``max_output_chars`` (over-long outputs are rejected,
    never truncated), and reports the same value (typed equality) in every replay: alone, under
    another seed, with the heap shifted (so memory addresses cannot decide it) and in another guest
    build, whose string-hash secret differs (so the iteration order of a set of strings cannot decide
    it either; see ``hash_secrets``).

    Every (program, input) runs in its own fresh instance in every run, so no proposal can change
    another proposal's verdict.

    Args:
        sandbox: runs the first run; the replays run in other builds of its guest, chosen so that their
            string-hash secrets differ from its own where small sets are concerned
            (:mod:`azr.verify.replay_builds`; :attr:`replay_builds` says which and how well).
        hash_secrets: string-hash secrets the output must agree under (the first run's plus
            ``hash_secrets - 1`` replays; each extra one is a guest build, ~20 s once, and ~60 MiB, and
            choosing them builds 1.6 more on average, once). The check is probabilistic: with the
            default 3, the builds are drawn until a two-string join keeps its order in all of them for
            at most 20% of the probe's sets (11% on average over simulated machines, worst 28%; a
            three-string join 0.8%; docs/grading.md). Such a proposal is a losing bet for the proposer.
        seeds: the random seed of the first run and of the first replay (replay ``r`` uses
            ``seeds[1] + r - 1``).
        replay_sandboxes: the replays' sandboxes, if you built them yourself (``hash_secrets - 1``
            of them, each with its own hash seed).
    """

    def __init__(
        self,
        sandbox: Sandbox,
        policy: _core.CheckPolicy | None = None,
        *,
        max_output_chars: int = 2000,
        hash_secrets: int = 3,
        seeds: tuple[int, int] = (0, 1),
        replay_sandboxes: Sequence[Sandbox] | None = None,
    ) -> None:
        if not isinstance(hash_secrets, int) or isinstance(hash_secrets, bool) or hash_secrets < 2:
            raise ValueError(f"hash_secrets must be an int >= 2 (one run plus replays), got {hash_secrets!r}")
        if replay_sandboxes is not None:
            replay_sandboxes = tuple(replay_sandboxes)
            if len(replay_sandboxes) != hash_secrets - 1:
                raise ValueError(f"replay_sandboxes: need {hash_secrets - 1} sandboxes, got {len(replay_sandboxes)}")
            builds = [sandbox.hash_seed, *(replay.hash_seed for replay in replay_sandboxes)]
            if len(set(builds)) != len(builds):
                raise ValueError(f"replay_sandboxes must each use another guest build, got hash seeds {builds}")
        self.sandbox = sandbox
        self.policy = policy or _core.CheckPolicy()
        self.max_output_chars = max_output_chars
        self.hash_secrets = hash_secrets
        self.seeds = seeds
        self._replays = replay_sandboxes
        self._chosen: ReplayBuilds | None = None

    @property
    def replay_sandboxes(self) -> tuple[Sandbox, ...]:
        """The replays' sandboxes (chosen on first use: building a guest takes a while once)."""
        if self._replays is None:
            self._replays = self.replay_builds.sandboxes
        return self._replays

    @property
    def replay_builds(self) -> ReplayBuilds:
        """The chosen replay builds and how many probe sets they order like the first run's build
        (measured for ``replay_sandboxes`` given by the caller too)."""
        if self._chosen is None:
            if self._replays is None:
                self._chosen = choose_replay_builds(self.sandbox, self.hash_secrets - 1)
            else:
                self._chosen = measure_replay_builds(self.sandbox, self._replays)
        return self._chosen

    def validate(self, items: Sequence[tuple[str, str]]) -> list[Triple | Rejected]:
        """Validate (program, input) proposals; one result per item, in order."""
        out: list[Triple | Rejected | None] = [None] * len(items)
        static = self.policy.check_programs([program for program, _ in items])
        for k, ((_, text), problem) in enumerate(zip(items, static, strict=True)):
            problem = problem or self.policy.check_input(text)
            if problem:
                out[k] = Rejected(*problem)
        entry = self.policy.entry
        pending = [k for k in range(len(items)) if out[k] is None]
        calls = {k: f"{entry}({items[k][1]}\n)" for k in pending}
        # The first run, and the salted run in its own instance (same build, same seed). A program that
        # imports nothing reaches no module, and one whose text never says `hash`, `id` or `dir` (even in
        # a string) cannot call them: such a program needs no salted run (most proposals; it halves the cost).
        salt = [k for k in pending if _MAY_REACH_SALTED.search(items[k][0])]
        runs = self.sandbox.run_batch(
            [Job(items[k][0], calls[k], seed=self.seeds[0]) for k in pending]
            + [Job(items[k][0], SALTED + calls[k], seed=self.seeds[0]) for k in salt]
        )
        salted_runs = dict(zip(salt, runs[len(pending) :], strict=True))
        first: dict[int, values.Data] = {}
        for k, result in zip(pending, runs[: len(pending)], strict=True):
            output = result.value_repr
            if result.status is not Status.OK or output is None:
                out[k] = Rejected(f"runtime_{result.status}", f"{result.error_type}: {result.error_message}")
            elif len(output) > self.max_output_chars:
                out[k] = Rejected("output_too_long", f"output repr has {len(output)} characters")
            elif isinstance(parsed := values.parse_value(output), values.NotData):
                out[k] = Rejected("output_not_plain_data", f"output {output[:80]!r}: {parsed.reason}")
            elif not parsed.canonical:
                out[k] = Rejected("output_not_plain_data", f"output {output[:80]!r} is not the repr of its own value")
            else:
                first[k] = parsed
                out[k] = Triple(items[k][0], items[k][1], output)
        # Each replay runs each input alone, under another seed (randomness, clocks), another string-hash
        # secret (the iteration order of a set of strings) and a shifted heap (addresses): a program whose
        # output depends on any of these, or on earlier inputs, disagrees there (the values must be equal;
        # their reprs may order a set differently).
        for r, replay_sandbox in enumerate(self.replay_sandboxes, start=1):
            again = [k for k in first if isinstance(out[k], Triple)]
            replays = replay_sandbox.run_batch(
                [Job(items[k][0], SHIFTED + calls[k], seed=self.seeds[1] + r - 1) for k in again]
            )
            for k, replay in zip(again, replays, strict=True):
                ok = replay.status is Status.OK and len(replay.value_repr or "") <= self.max_output_chars
                value = values.parse_value(replay.value_repr) if ok else None
                if not isinstance(value, values.Data) or not values.typed_equal(value.value, first[k].value):
                    why = replay.error_message if replay.status is not Status.OK else f"got {replay.value_repr!r:.80}"
                    out[k] = Rejected(
                        "nondeterministic", f"replay {r}, alone, another seed and string-hash secret: {why}"
                    )
        # Opaque functions, for what the replays left (a program that is simply nondeterministic keeps that
        # reason).
        for k, run in salted_runs.items():
            if not isinstance(out[k], Triple):
                continue
            salted = _salted(run, self.max_output_chars)
            if salted is None:
                out[k] = Rejected("nondeterministic", f"salted run: {run.status}: {run.error_message}")
            elif salted[1]:
                out[k] = Rejected("opaque", f"calls {', '.join(salted[1])}, whose values a solver cannot work out")
            elif not values.typed_equal(salted[0], first[k].value):
                out[k] = Rejected("nondeterministic", "the salted run reported another value")
        return [r if r is not None else Rejected("internal", "not validated") for r in out]
