"""Valid-proposal rate of a model at step 0, per task type: what self-play has to learn from on its first step.

    python benches/proposal_bench.py [--config configs/cpu-demo.toml] [--samples 48] [--buffers RUN/buffers]
        [--set section.key=value ...]
    PYTHONPATH=python .venv-vllm/bin/python benches/proposal_bench.py --set sampler.backend=vllm \\
        --set sampler.enforce_eager=true --model ~/.cache/azr/models/qwen2.5-coder-0.5b

Builds the trainer exactly as ``azr train`` would (buffers seeded with the identity triple), then asks for
``--samples`` proposals per task type at temperature 1.0 through the trainer's own propose-and-validate path
(the parser, the sandbox checks, the determinism replays: nothing relaxed), and prints per type how many
were valid tasks, how many were format errors (and which), and how many the sandbox rejected (and why).
No update is made. ``--buffers`` starts from a run's buffers instead (copied, never written): a later
step's proposer sees the model's own programs, e.g. the multi-argument ones induction is asked to probe.
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from azr.selfplay.buffer import seed_tasks
from azr.selfplay.config import DEFAULT_MODEL, load_config
from azr.selfplay.trainer import Trainer
from azr.verify.parsing import FormatError
from azr.verify.prompts import EXAMPLE_PROGRAM as EXAMPLE
from azr.verify.tasks import Task, TaskType
from azr.verify.validation import Rejected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/cpu-demo.toml")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--samples", type=int, default=48, help="proposals per task type")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--buffers", type=Path, help="a run's buffers directory to start from (copied)")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--types", default="deduction,abduction,induction", help="comma-separated task types")
    parser.add_argument("--show", type=int, default=1, help="replies to print per type and outcome")
    args = parser.parse_args()
    trainer, seconds = step0_trainer(args, "azr-proposals-")
    config = trainer.config
    print(f"model {args.model} ({config.sampler.backend}): loaded in {seconds:.1f} s")
    rows = []
    for k, task_type in enumerate((TaskType.DEDUCTION, TaskType.ABDUCTION, TaskType.INDUCTION)):
        if str(task_type) not in args.types.split(","):
            continue
        started = time.perf_counter()
        rng = np.random.default_rng([args.seed, k])
        samples, outcomes = trainer.propose({task_type: args.samples}, rng)[task_type]
        seconds = time.perf_counter() - started
        valid = sum(isinstance(o, Task) for o in outcomes)
        # A valid proposal that repeats the prompt's worked example or a seed program teaches little: count them.
        # (Induction programs come from the buffers, so there the seed's program is expected, not a copy.)
        known = set() if task_type is TaskType.INDUCTION else {_normal(t.program) for t in seed_tasks(task_type)}
        known |= {_normal(EXAMPLE)}
        copies = sum(isinstance(o, Task) and _normal(o.program) in known for o in outcomes)
        if task_type is TaskType.INDUCTION:  # the program is given: what is new is the inputs chosen for it
            distinct = len({(_normal(o.program), o.inputs) for o in outcomes if isinstance(o, Task)})
        else:
            distinct = len({_normal(o.program) for o in outcomes if isinstance(o, Task)} - known)
        what = "input sets" if task_type is TaskType.INDUCTION else "programs"
        formats = collections.Counter(o.reason.split(":")[0][:60] for o in outcomes if isinstance(o, FormatError))
        rejected = collections.Counter(o.kind for o in outcomes if isinstance(o, Rejected))
        tokens = sum(len(s.token_ids) for s in samples)
        rows.append((task_type, valid, len(outcomes), copies, distinct))
        print(
            f"{task_type}: valid {valid}/{len(outcomes)} ({valid / len(outcomes):.0%}; {copies} copy the worked "
            f"example or the seed, {distinct} distinct new {what}); format errors "
            f"{sum(formats.values())} {dict(formats.most_common())}; rejected {sum(rejected.values())} "
            f"{dict(rejected.most_common())}; {tokens} tokens in {seconds:.0f} s"
        )
        shown: collections.Counter[str] = collections.Counter()
        for sample, outcome in zip(samples, outcomes, strict=True):
            kind = type(outcome).__name__
            if shown[kind] < args.show:
                shown[kind] += 1
                print(f"--- {task_type} {kind}: {outcome if not isinstance(outcome, Task) else ''}\n{sample.text}\n")
    print(
        "summary: "
        + ", ".join(f"{t} {v}/{n} valid ({v / n:.0%}, {c} copies, {d} distinct new)" for t, v, n, c, d in rows)
    )


def step0_trainer(args: argparse.Namespace, prefix: str) -> tuple[Trainer, float]:
    """A trainer built as ``azr train`` builds it from ``args`` (``--config``, ``--model``, ``--seed``,
    ``--set``), sampling at temperature 1.0, in a temporary run directory; and its set-up seconds."""
    overrides = [
        f"model.name={json.dumps(args.model)}",
        "sampler.temperature=1.0",
        f"run.seed={args.seed}",
        "run.progress=false",
        *args.overrides,
    ]
    config = load_config(args.config, overrides)
    run_dir = Path(tempfile.mkdtemp(prefix=prefix)) / "run"
    buffers = getattr(args, "buffers", None)
    if buffers is not None:
        files = sorted(Path(buffers).glob("*.jsonl"))
        if not files:
            raise SystemExit(f"--buffers {buffers}: no <type>.jsonl buffer files there")
        (run_dir / "buffers").mkdir(parents=True)
        for file in files:
            shutil.copy(file, run_dir / "buffers" / file.name)
    started = time.perf_counter()
    trainer = Trainer(config, run_dir)
    return trainer, time.perf_counter() - started


def _normal(program: str) -> str:
    return "\n".join(line.rstrip() for line in program.strip().splitlines())


if __name__ == "__main__":
    main()
