"""What a proposer earns for opaque tasks: the share of a family of opaque programs that validation accepts,
and the proposer's expected reward for one, against a solver that can only guess.

An opaque task (a checksum, a digest, ``hash``, ``id``, a seeded generator, the clock) is deterministic, so
it used to pass validation; its output is a coin flip for a solver that reads the program, and under
``1 - solve rate`` a coin flip is the best-paid task there is. Each program below maps a string to 0 or 1
(or a short hex digest), run on ``--inputs`` strings each; the solver is modelled as guessing uniformly
among the outputs it has seen for the family (a fair coin for the 0/1 ones), with ``--samples``
solve-rate samples per task, and an accepted task pays its expected learnability while a rejected one
pays ``selfplay.rejected_proposal_reward``. Run it on this tree and on an older one to compare:

    python benches/opaque_bench.py
    PYTHONPATH=/path/to/old/python python benches/opaque_bench.py
"""

from __future__ import annotations

import argparse
import math

from azr import Sandbox
from azr.selfplay.config import SelfPlayConfig
from azr.verify.tasks import Triple
from azr.verify.validation import TaskValidator

FAMILY = {
    "zlib.crc32": "import zlib\ndef f(s):\n    return zlib.crc32(s.encode()) % 2",
    "binascii via base64": "import base64\ndef f(s):\n    return base64.binascii.crc32(s.encode()) % 2",
    "hashlib.sha256": "import hashlib\ndef f(s):\n    return int(hashlib.sha256(s.encode()).hexdigest(), 16) % 2",
    "hash of a tuple": "def f(s):\n    return hash((s, 17)) % 2",
    "hash of a float": "def f(s):\n    return hash(len(s) / 7) % 2",
    "id": "def f(s):\n    return (id(s) >> 4) % 2",
    "random.seed": "import random\ndef f(s):\n    random.seed(s)\n    return random.randint(0, 1)",
    "Random via statistics": "import statistics\ndef f(s):\n    return statistics.random.Random(s).randint(0, 1)",
    "zlib via codecs": "import codecs\ndef f(s):\n    return codecs.encode(s.encode(), 'zlib')[-1] % 2",
    "the year": "import time\ndef f(s):\n    return (time.localtime().tm_year + len(s)) % 2",
}


def expected_learnability(samples: int, p: float = 0.5) -> float:
    """E[1 - rate] over rates strictly between 0 and 1, the rate a Binomial(samples, p) share."""
    total = 0.0
    for k in range(1, samples):
        total += math.comb(samples, k) * p**k * (1 - p) ** (samples - k) * (1 - k / samples)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=8, help="strings each program is validated on")
    parser.add_argument("--samples", type=int, default=SelfPlayConfig().solve_rate_samples)
    args = parser.parse_args()
    rejected_reward = SelfPlayConfig().rejected_proposal_reward
    validator = TaskValidator(Sandbox(workers=2))
    words = [repr(w) for w in ("abc", "hello", "x", "quick brown", "42", "zz", "solver", "coin")[: args.inputs]]
    paid = expected_learnability(args.samples)
    print(f"| program | accepted of {len(words)} | reasons | expected proposer reward |")
    print("|---|---|---|---|")
    rewards = []
    for name, program in FAMILY.items():
        results = validator.validate([(program, w) for w in words])
        accepted = sum(isinstance(r, Triple) for r in results)
        reasons = sorted({r.kind for r in results if not isinstance(r, Triple)})
        reward = (accepted * paid + (len(words) - accepted) * rejected_reward) / len(words)
        rewards.append(reward)
        print(f"| {name} | {accepted} | {', '.join(reasons) or '-'} | {reward:+.3f} |")
    print(
        f"\nfamily mean expected proposer reward: {sum(rewards) / len(rewards):+.3f} "
        f"(an accepted coin flip pays {paid:.3f} with {args.samples} solve-rate samples; a rejection {rejected_reward})"
    )


if __name__ == "__main__":
    main()
