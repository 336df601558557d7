"""Well-formed rate of a model's solver replies at step 0, per task type and solver prompt style.

    python benches/solver_bench.py [--config configs/cpu-demo.toml] [--tasks 20] [--replies 5] \\
        [--styles none,exchange] [--set section.key=value ...]
    PYTHONPATH=python .venv-vllm/bin/python benches/solver_bench.py --set sampler.backend=vllm \\
        --set sampler.enforce_eager=true

Builds the trainer as ``azr train`` would, then collects ``--tasks`` valid tasks per type the model
itself proposes at step 0 (the trainer's propose-and-validate path; valid deduction and abduction tasks
are admitted to the buffers, so induction proposals see the model's programs, as in a run). Each task is
then solved ``--replies`` times at temperature 1.0 with the run's solve budget
(``sampler.max_new_tokens_solve``, nothing prefilled into the reply), once per solver prompt style
(``selfplay.solver_example``), all replies of a style in one sampler call, and graded by execution as in
training, once with ``<answer>`` tags optional (the default) and once with them required
(``selfplay.require_answer_tags``). Prints per style, parse and type: the share of well-formed replies
(not a format error), accuracy, the share of tasks whose replies' rewards differ (what Task-Relative
REINFORCE++ can learn from), the share cut at the budget, and the commonest format errors (the parser's
or the verifier's reason, as that parse reads the reply). ``--save`` keeps every reply. No update is made.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import time
from pathlib import Path
from typing import cast

import numpy as np
from proposal_bench import step0_trainer

from azr.sampling.base import GenerationConfig
from azr.selfplay.config import DEFAULT_MODEL
from azr.selfplay.phases import grades, solver_reward
from azr.selfplay.trainer import Trainer
from azr.verify.grading import Grade, Verdict
from azr.verify.prompts import SolverExample
from azr.verify.tasks import Task, TaskType
from azr.verify.tasktypes import spec

TYPES = (TaskType.DEDUCTION, TaskType.ABDUCTION, TaskType.INDUCTION)
PARSES = (False, True)  # selfplay.require_answer_tags: tags optional (the default), then required


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/cpu-demo.toml")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--tasks", type=int, default=20, help="valid model-proposed tasks per type")
    parser.add_argument("--replies", type=int, default=5, help="solver replies per task")
    parser.add_argument("--styles", default="none,exchange", help="solver prompt styles, comma-separated")
    parser.add_argument("--max-rounds", type=int, default=8, help="proposal rounds before giving up on a type")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument(
        "--save", help="write every reply, its task, verdict and reason (as training parses) to this JSON"
    )
    args = parser.parse_args()
    trainer, seconds = step0_trainer(args, "azr-solver-bench-")
    config = trainer.config
    print(f"model {args.model} ({config.sampler.backend}, {trainer.precision.reason})")
    print(f"loaded in {seconds:.1f} s; solve budget {config.sampler.max_new_tokens_solve}")

    tasks = collect_tasks(trainer, args.tasks, args.max_rounds, args.seed)
    print("tasks: " + ", ".join(f"{t} {len(tasks[t])}" for t in TYPES))
    budget = config.sampler.max_new_tokens_solve
    rows = []
    saved: list[dict[str, object]] = []
    for k, style in enumerate(s.strip() for s in args.styles.split(",")):
        flat = [task for t in TYPES for task in tasks[t]]
        example = cast(SolverExample, style)
        prompts = [spec(task.task_type).solver_prompt(task, config.selfplay.induction_shown, example) for task in flat]
        generation = GenerationConfig(
            n=args.replies, temperature=1.0, top_p=config.sampler.top_p, max_new_tokens=budget, seed=1000 + k
        )
        started = time.perf_counter()
        groups = trainer.sampler.generate(prompts, generation)
        seconds = time.perf_counter() - started
        texts = [s.text for g in groups for s in g]
        replied = [task for task in flat for _ in range(args.replies)]
        tokens = sum(len(s.token_ids) for g in groups for s in g)
        print(f"\n== style {style}: {len(texts)} replies, {tokens} tokens in {seconds:.0f} s")
        # The same replies graded under both parses, so the table shows what the tags requirement costs.
        for strict in PARSES:
            graded = grades(trainer.verifier, replied, texts, strict=strict)
            if strict == config.selfplay.require_answer_tags:
                saved += [
                    {"style": style, "type": str(task.task_type), "task": dataclasses.asdict(task.triple)}
                    | {"reply": text, "verdict": g.verdict.name, "reason": g.reason}
                    for task, text, g in zip(replied, texts, graded, strict=True)
                ]
            start = 0
            for t in TYPES:
                n = len(tasks[t]) * args.replies
                mine = graded[start : start + n]
                samples = [s for g in groups[start // args.replies : (start + n) // args.replies] for s in g]
                start += n
                rows.append((style, strict, t, summarize(trainer, samples, mine, args.replies)))
                if strict == config.selfplay.require_answer_tags:
                    print_examples(t, samples, [g.verdict for g in mine])
    print(f"\ntraining parses with selfplay.require_answer_tags = {str(config.selfplay.require_answer_tags).lower()}")
    print("\n| style | `<answer>` tags | type | well-formed | accuracy | tasks with varying rewards | cut at budget |")
    print("|---|---|---|---|---|---|---|")
    for style, strict, t, row in rows:
        tags = "required" if strict else "optional"
        print(
            f"| {style} | {tags} | {t} | {row['well_formed']:.0%} | {row['accuracy']:.0%} | {row['varying']:.0%} | "
            f"{row['cut']:.0%} |"
        )
    for style, strict, t, row in rows:
        print(f"{style} tags {'required' if strict else 'optional'} {t} format errors: {row['errors']}")
    if args.save:
        Path(args.save).write_text(json.dumps(saved, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"{len(saved)} replies with their verdicts written to {args.save}")


def collect_tasks(trainer: Trainer, wanted: int, rounds: int, seed: int) -> dict[TaskType, list[Task]]:
    """Valid tasks the model proposes, ``wanted`` per type (fewer if ``rounds`` rounds do not yield them)."""
    tasks: dict[TaskType, list[Task]] = {t: [] for t in TYPES}
    rng = np.random.default_rng(seed)
    for _ in range(rounds):
        short = {t: max(4, 2 * (wanted - len(tasks[t]))) for t in TYPES if len(tasks[t]) < wanted}
        if not short:
            break
        for task_type, (_, outcomes) in trainer.propose(short, rng).items():
            valid = [o for o in outcomes if isinstance(o, Task)]
            tasks[task_type].extend(valid[: wanted - len(tasks[task_type])])
            trainer.buffers[task_type].add(valid)  # induction proposals then see the model's programs
    return tasks


def summarize(trainer: Trainer, samples: list, graded: list[Grade], replies: int) -> dict:
    verdicts = [g.verdict for g in graded]
    rewards = [solver_reward(v, trainer.config.selfplay) for v in verdicts]
    groups = [rewards[k : k + replies] for k in range(0, len(rewards), replies)]
    errors: collections.Counter[str] = collections.Counter()
    for g in graded:
        if g.verdict is Verdict.FORMAT_ERROR:
            errors[g.reason.split(":")[0][:60]] += 1
    total = max(len(verdicts), 1)
    return {
        "well_formed": sum(v is not Verdict.FORMAT_ERROR for v in verdicts) / total,
        "accuracy": sum(v is Verdict.ACCEPTED for v in verdicts) / total,
        "varying": sum(len(set(g)) > 1 for g in groups) / max(len(groups), 1),
        "cut": sum(not s.finished for s in samples) / total,
        "errors": dict(errors.most_common(4)),
    }


def print_examples(task_type: TaskType, samples: list, verdicts: list[Verdict]) -> None:
    shown: set[Verdict] = set()
    for sample, verdict in zip(samples, verdicts, strict=True):
        if verdict not in shown:
            shown.add(verdict)
            print(f"--- {task_type} {verdict.name}:\n{sample.text[:600]}\n")


if __name__ == "__main__":
    main()
