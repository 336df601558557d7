"""Effect of selfplay.train_on_solve_rate_samples in the whole-loop learning setting of tests/test_learning.py.

    python benches/solve_rate_training_bench.py [false true]

Teaches the tiny model as the tests do, then runs the same 30 seeded steps with the flag off and on, and
prints the held-out proposer probe before/after, the solver's accuracy and format-error rate over the last
10 steps, and the wall time of each run.
"""

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import test_learning
from teaching import teach

from azr.models.tiny import build_tiny_model
from azr.selfplay.config import load_config
from azr.selfplay.trainer import Trainer
from azr.verify.tasks import TaskType

TYPES = ("deduction", "abduction", "induction")


def last_ten(history: list[dict[str, float]], key: str) -> dict[str, float]:
    return {t: round(sum(h[f"{t}/{key}"] for h in history[-10:]) / 10, 3) for t in TYPES}


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="azr-solve-rate-bench-"))
    taught = teach(build_tiny_model(root / "tiny", seed=0), root / "taught")
    for flag in sys.argv[1:] or ["false", "true"]:
        overrides = test_learning.learning_overrides(taught, f"selfplay.train_on_solve_rate_samples={flag}")
        started = time.perf_counter()
        trainer = Trainer(load_config(None, overrides), root / f"run-{flag}")
        probe = (TaskType.DEDUCTION, TaskType.ABDUCTION)
        before = {str(t): test_learning.valid_proposal_rate(trainer, t) for t in probe}
        history = trainer.fit()
        after = {str(t): test_learning.valid_proposal_rate(trainer, t) for t in probe}
        print(
            f"flag={flag}: probe valid {before} -> {after}; last 10 steps: solver accuracy "
            f"{last_ten(history, 'solve/accuracy')}, solver format errors "
            f"{last_ten(history, 'solve/format_error_rate')}; "
            f"{time.perf_counter() - started:.0f} s",
            flush=True,
        )


if __name__ == "__main__":
    main()
