"""How often an order-dependent proposal passes validation, by how the replay builds are chosen.

The guest's CPython hashes strings with 32-bit FNV and a small set's iteration order depends only on
the low bits of each build's string-hash secret, so this simulates machines (each a set of builds with
random secrets) with a model of CPython's FNV and set placement, and measures, on two- and three-string
sets the choice never saw, the share whose order all the builds agree on (a proposal that joins such a
set passes validation exactly then). Strategies: the first build plus two drawn in order (before), and
plus the best two of as many drawn as it takes to agree on at most ``--target`` of the probe
(:mod:`azr.verify.replay_builds`, now).

``--check-guest`` first checks the model against this machine's real guest builds: it recovers each
build's secret from ``hash()`` of a few strings in the guest and compares the model's orders with the
guest's on 400 sets per build.

Usage: python benches/hash_order_sim.py [--machines 300] [--target 0.2] [--check-guest]
"""

from __future__ import annotations

import argparse
import ast
import itertools
import random
import statistics
from collections.abc import Sequence

MULTIPLIER = 1000003  # CPython's _PyHASH_MULTIPLIER
MASK = 0xFFFFFFFF
Secret = tuple[int, int]  # (prefix, suffix) of CPython's FNV secret


def fnv(data: bytes, secret: Secret, bits: int = 32) -> int:
    """CPython's `fnv` string hash (Python/pyhash.c) for a 32-bit `Py_uhash_t`, on the low `bits`."""
    mask = (1 << bits) - 1
    if not data:
        return 0
    remainder = len(data) % 4 or 4
    x = (secret[0] ^ (data[0] << 7)) & mask
    p = 0
    for _ in range((len(data) - remainder) // 4):
        x = ((MULTIPLIER * x) ^ int.from_bytes(data[p : p + 4], "little")) & mask
        p += 4
    for _ in range(remainder):
        x = ((MULTIPLIER * x) ^ data[p]) & mask
        p += 1
    x = (x ^ len(data) ^ secret[1]) & mask
    return 0xFFFFFFFE if x == MASK else x


def set_order(words: Sequence[str], secret: Secret) -> tuple[str, ...]:
    """Iteration order of a set of up to four strings (CPython's 8-slot table, perturbed probing)."""
    table: list[str | None] = [None] * 8
    for word in words:
        h = fnv(word.encode(), secret)
        i, perturb = h & 7, h
        while table[i] is not None:
            perturb >>= 5
            i = (i * 5 + 1 + perturb) & 7
        table[i] = word
    return tuple(w for w in table if w is not None)


def families(size: int, count: int, seed: int) -> list[tuple[str, ...]]:
    rng = random.Random(seed)
    out: list[tuple[str, ...]] = []
    while len(out) < count:
        words = tuple(
            "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(rng.randint(1, 6)))
            for _ in range(size)
        )
        if len(set(words)) == size:
            out.append(words)
    return out


def agreement(builds: Sequence[Secret], sets: Sequence[tuple[str, ...]]) -> float:
    return sum(len({set_order(s, b) for b in builds}) == 1 for s in sets) / len(sets)


def simulate(machines: int, target: float, max_builds: int) -> None:
    probe2, probe3 = families(2, 200, 2026), families(3, 200, 2027)
    test2, test3 = families(2, 400, 1), families(3, 400, 2)
    rng = random.Random(0)
    draw = lambda: (rng.getrandbits(32), rng.getrandbits(32))  # noqa: E731
    rows: dict[str, tuple[list[float], list[float], list[int]]] = {"in order": ([], [], []), "chosen": ([], [], [])}
    for _ in range(machines):
        first, pool = draw(), [draw(), draw()]
        rows["in order"][0].append(agreement([first, *pool], test2))
        rows["in order"][1].append(agreement([first, *pool], test3))
        rows["in order"][2].append(2)
        while True:
            best = min(
                itertools.combinations(pool, 2),
                key=lambda c: (agreement([first, *c], probe2), agreement([first, *c], probe3)),
            )
            if agreement([first, *best], probe2) <= target or len(pool) >= max_builds:
                break
            pool.append(draw())
        rows["chosen"][0].append(agreement([first, *best], test2))
        rows["chosen"][1].append(agreement([first, *best], test3))
        rows["chosen"][2].append(len(pool))
    print(
        f"{machines} simulated machines, first build + 2 replays; share of unseen sets whose order all three agree on"
    )
    head = (
        "| replays | builds drawn (mean / p90 / max) | two-string sets (mean / p90 / max) | three-string (mean / max) |"
    )
    print(head)
    print("|---|---|---|---|")
    for name, (two, three, drawn) in rows.items():
        two, three, drawn = sorted(two), sorted(three), sorted(drawn)
        p90 = int(0.9 * machines)
        print(
            f"| {name} | {statistics.mean(drawn):.1f} / {drawn[p90]} / {drawn[-1]} | {statistics.mean(two):.3f} / "
            f"{two[p90]:.3f} / {two[-1]:.3f} | {statistics.mean(three):.3f} / {three[-1]:.3f} |"
        )


def recover(hashes: dict[str, int]) -> list[Secret]:
    """The FNV secrets consistent with `hashes` (one string -> hash each), found bit by bit from the lowest."""
    candidates = [(0, 0)]
    for bits in range(1, 33):
        step, mask = 1 << (bits - 1), (1 << bits) - 1
        candidates = [
            (p | a * step, s | b * step)
            for p, s in candidates
            for a in (0, 1)
            for b in (0, 1)
            if all(fnv(w.encode(), (p | a * step, s | b * step), bits) == h & mask for w, h in hashes.items())
        ]
    return candidates


def check_guest(builds: int) -> None:
    from azr import Job, Sandbox

    words = ["a", "b", "ab", "abc", "hello", "3", "4", "xyz1", "quick", "fox"]
    sets = families(2, 200, 7) + families(3, 200, 8)
    base = Sandbox(workers=1)
    for seed in range(builds):
        sandbox = base.with_hash_seed(seed)
        hashes = {w: int(sandbox.run(Job("", f"hash({w!r}) & 0xffffffff")).value_repr or "0") for w in words}
        secret = recover(hashes)[0]
        literal = "[" + ", ".join("{" + ", ".join(repr(w) for w in s) + "}" for s in sets) + "]"
        guest = sandbox.run(Job("def f(sets):\n    return [tuple(s) for s in sets]", f"f({literal})")).value_repr
        orders = ast.literal_eval(guest or "[]")
        same = sum(tuple(o) == set_order(s, secret) for o, s in zip(orders, sets, strict=True))
        print(
            f"guest build {seed}: secret (prefix, suffix) = ({secret[0]:#010x}, {secret[1]:#010x}); "
            f"the model orders {same} of {len(sets)} sets as the guest does"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=300)
    parser.add_argument("--target", type=float, default=0.2)
    parser.add_argument("--max-builds", type=int, default=8)
    parser.add_argument(
        "--check-guest", action="store_true", help="check the model against this machine's guest builds 0-3"
    )
    args = parser.parse_args()
    if args.check_guest:
        check_guest(4)
    simulate(args.machines, args.target, args.max_builds)


if __name__ == "__main__":
    main()
