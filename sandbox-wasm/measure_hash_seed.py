"""What another guest build (hash seed) costs: build time, setup time, host RSS, artifact sizes; and
that its string-hash secret is drawn at build time (the same number rebuilt gets another).

Usage: python sandbox-wasm/measure_hash_seed.py [--workers 2] [--seed 7]
Builds the guests for ``--seed`` and ``--seed + 1`` in a temporary cache (so the first-use cost is
real), then measures a sandbox and its variant, both loaded from that cache, in this process. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


def _rss() -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    out: dict[str, float | int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["AZR_CACHE_DIR"] = tmp
        from azr import Job, Sandbox, _core

        started = time.perf_counter()
        guest = Path(_core.build_guest(hash_seed=args.seed))
        out["build_s"] = round(time.perf_counter() - started, 2)
        out["guest_bytes"] = guest.stat().st_size
        first = _core.Sandbox(workers=1, hash_seed=args.seed)
        out["first_setup_s (compile)"] = round(first.setup_ms / 1e3, 2)
        out["compiled_artifact_bytes"] = sum(p.stat().st_size for p in Path(tmp).glob("compiled-*.cwasm"))
        del first
        again = _core.Sandbox(workers=1, hash_seed=args.seed)
        out["cached_setup_ms"] = round(again.setup_ms, 1)
        del again
        _core.Sandbox(workers=1, hash_seed=args.seed + 1)  # the variant below then loads from the cache too

        warm = [Job("def f(x):\n    return sorted(set(x))", "f('hello world')")] * (4 * args.workers)
        base_rss = _rss()
        sandbox = Sandbox(workers=args.workers, hash_seed=args.seed)
        sandbox.run_batch(warm)
        one_rss = _rss()
        started = time.perf_counter()
        variant = sandbox.with_hash_seed(args.seed + 1)
        out["with_hash_seed_s"] = round(time.perf_counter() - started, 3)
        started = time.perf_counter()
        variant.run_batch(warm)
        two_rss = _rss()
        out["rss_one_sandbox_MiB"] = round((one_rss - base_rss) / 2**20, 1)
        out["rss_extra_variant_MiB"] = round((two_rss - one_rss) / 2**20, 1)
        out["variant_first_batch_s"] = round(time.perf_counter() - started, 3)
        out["workers"] = args.workers
        # The secret is drawn at build time, not chosen: the same build number rebuilt elsewhere differs.
        hashes = [sandbox.run(Job("", "hash('abc')")).value_repr]
        with tempfile.TemporaryDirectory() as other:
            os.environ["AZR_CACHE_DIR"] = other
            hashes.append(Sandbox(workers=1, hash_seed=args.seed).run(Job("", "hash('abc')")).value_repr)
        out["same_build_number_rebuilt_has_another_secret"] = int(hashes[0] != hashes[1])
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
