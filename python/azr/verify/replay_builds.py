"""Choosing the guest builds that a proposed task is replayed in, so their string-hash secrets differ
where it matters.

Each guest build draws its own string-hash secret when it is built, and nothing can choose it
(componentize-py pre-initialises CPython without ``PYTHONHASHSEED``; changing the secret inside a
built snapshot would break every hash it cached). The guest's CPython hashes strings with 32-bit FNV,
whose low bits depend only on the low bits of the secret, and a small set's iteration order depends
only on those low bits. So two random builds can order every small set of strings alike (a reviewer
found two such builds on one machine: ``hash(s) & 7`` equal for 300 of 300 strings), and since a
machine keeps its builds, the same order-dependent proposals then pass on it every time.

The validator therefore does not take builds ``1, 2, ...`` as they come: it measures how each build
orders a fixed probe of 200 two-string and 200 three-string sets and replays in the builds whose
orders, together with the first run's, agree on as few probe sets as possible. It adds builds (each
~20 s once, then cached) until the chosen replays and the first run agree on at most
:data:`AGREEMENT_TARGET` of the two-string probe sets, or :data:`MAX_BUILDS` are built.
``benches/hash_order_sim.py`` simulates 300 machines with a model of CPython's FNV and set placement
(checked against real builds by its ``--check-guest``): a two-string join then passes all three builds
11% of the time on average (90th percentile 20%, worst 28%), where builds taken in order gave 26%
on average (90th percentile 48%, worst 95%), and three-string joins 0.8% (worst 4%) instead of 4%
(worst 77%). It costs 3.6 builds on average instead of 2 (90th percentile 6, at most 8), once per
machine. ``tests/test_replay_builds.py`` measures the rates on fresh builds.
"""

from __future__ import annotations

import functools
import itertools
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass

from azr.sandbox import Job, Sandbox, Status

__all__ = [
    "AGREEMENT_TARGET",
    "MAX_BUILDS",
    "ReplayBuilds",
    "choose_replay_builds",
    "measure_replay_builds",
    "probe_sets",
]

logger = logging.getLogger(__name__)

AGREEMENT_TARGET = 0.20
"""Largest share of the two-string probe sets that the first run and two replays (the default) may order
alike. Random builds give 0.50 for one replay and 0.25 for two on average; the target for ``count``
replays is ``0.40 / count`` (one replay: 0.40; three: 0.13)."""

MAX_BUILDS = 8
"""Most candidate builds drawn for the replays (beyond this the best found is used, with a warning)."""

_PROBE_PROGRAM = "def f(sets):\n    return [','.join(s) for s in sets]"


def probe_sets(size: int, count: int = 200, seed: int = 2026) -> list[tuple[str, ...]]:
    """``count`` sets of ``size`` distinct short strings (1-6 letters and digits), fixed by ``seed``."""
    rng = random.Random(seed)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    out: list[tuple[str, ...]] = []
    while len(out) < count:
        words = tuple("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6))) for _ in range(size))
        if len(set(words)) == size:
            out.append(words)
    return out


def set_orders(sandbox: Sandbox, sets: Sequence[tuple[str, ...]]) -> list[str]:
    """How ``sandbox``'s build orders each set (the set's strings joined in iteration order)."""
    literal = "[" + ", ".join("{" + ", ".join(repr(w) for w in words) + "}" for words in sets) + "]"
    result = sandbox.run(Job(_PROBE_PROGRAM, f"f({literal})"))
    if result.status is not Status.OK or result.value_repr is None:
        raise RuntimeError(f"the hash-order probe failed in guest build {sandbox.hash_seed}: {result.error_message}")
    # The probe's strings are letters and digits only, so the repr of the list splits on its quotes.
    return result.value_repr[2:-2].split("', '")


@functools.cache
def _probe() -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    return probe_sets(2), probe_sets(3, seed=2027)


def _orders(sandbox: Sandbox) -> tuple[list[str], list[str]]:
    """How ``sandbox``'s build orders the two-string and the three-string probe sets."""
    pairs, triples = _probe()
    return set_orders(sandbox, pairs), set_orders(sandbox, triples)


def agreement(orders: Sequence[Sequence[str]]) -> float:
    """Share of sets that every build in ``orders`` (one list of orders per build) orders alike."""
    return sum(len(set(per_set)) == 1 for per_set in zip(*orders, strict=True)) / len(orders[0])


@dataclass(frozen=True)
class ReplayBuilds:
    """The chosen replay builds and how well they separate string-hash orders on the probe."""

    sandboxes: tuple[Sandbox, ...]
    pairs_agreement: float
    """Share of two-string probe sets ordered alike by the first run's build and every replay."""
    triples_agreement: float
    """The same for three-string probe sets."""
    candidates: int
    """Builds measured to choose them."""


def choose_replay_builds(
    sandbox: Sandbox, count: int, *, target: float | None = None, max_builds: int = MAX_BUILDS
) -> ReplayBuilds:
    """``count`` builds (numbered after ``sandbox.hash_seed``) to replay in besides ``sandbox``'s own.

    Candidates are drawn in order (``hash_seed + 1``, ``+ 2``, ...; the same on a machine while its
    cache lives); the combination that agrees least with the first build on the probe wins, and more
    candidates are drawn while it agrees on more than ``target`` of the two-string sets (default:
    :data:`AGREEMENT_TARGET` for two replays, scaled by ``2 / count``). Candidates not chosen are
    released.
    """
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    if target is None:
        target = 2 * AGREEMENT_TARGET / count
    first = _orders(sandbox)
    pool: list[tuple[Sandbox, list[str], list[str]]] = []

    def draw() -> None:
        candidate = sandbox.with_hash_seed(sandbox.hash_seed + len(pool) + 1)
        pool.append((candidate, *_orders(candidate)))

    def score(chosen: tuple[int, ...]) -> tuple[float, float]:
        return (
            agreement([first[0], *(pool[k][1] for k in chosen)]),
            agreement([first[1], *(pool[k][2] for k in chosen)]),
        )

    while len(pool) < count:
        draw()
    while True:
        best = min(itertools.combinations(range(len(pool)), count), key=score)
        pairs_agree, triples_agree = score(best)
        if pairs_agree <= target or len(pool) >= max(max_builds, count):
            break
        draw()
    if pairs_agree > target:
        logger.warning(
            "after %d guest builds the best replays still order %.0f%% of two-string probe sets like the first "
            "run (target %.0f%%): order-dependent proposals pass more often than documented",
            len(pool),
            100 * pairs_agree,
            100 * target,
        )
    chosen = tuple(pool[k][0] for k in best)
    for candidate, _, _ in pool:
        if candidate not in chosen:
            sandbox.release_hash_seed(candidate.hash_seed)
    logger.info(
        "replaying proposals in guest builds %s (of %d drawn): %.0f%% of two-string and %.0f%% of three-string "
        "probe sets keep their order in every build",
        ", ".join(str(c.hash_seed) for c in chosen),
        len(pool),
        100 * pairs_agree,
        100 * triples_agree,
    )
    return ReplayBuilds(chosen, pairs_agree, triples_agree, len(pool))


def measure_replay_builds(sandbox: Sandbox, replays: Sequence[Sandbox]) -> ReplayBuilds:
    """How well given replay builds separate string-hash orders from ``sandbox``'s, on the probe."""
    orders = [_orders(build) for build in (sandbox, *replays)]
    return ReplayBuilds(
        tuple(replays),
        agreement([pairs for pairs, _ in orders]),
        agreement([triples for _, triples in orders]),
        len(replays),
    )
