"""The in-distribution probe: a fixed set of tasks the base model proposed and the sandbox validated,
solved greedily at every evaluation, so "the solver got better at its own kind of task" is a number per
step, apart from the benchmarks.

The benchmarks (CRUXEval, HumanEval) measure transfer under another prompt; the probe measures the
skill self-play trains, under the run's own solver prompts. It is built once, before training, by
``azr probe`` (:mod:`azr.commands.probe`): the trainer's seeding phase run on the base model under a seed of
its own, keeping the model-proposed tasks that passed validation. A run given the file
(``eval.probe``) never admits those tasks to its buffers (they are held out), and solves them greedily
at each evaluation: ``probe/<type>/accuracy``, ``probe/<type>/format_error_rate`` and
``probe/overall/accuracy``. Greedy decoding and a fixed task list make the number a function of the
weights alone, so the run and its controls can be compared step by step.

Each evaluation also writes every task's verdict and reply (:func:`probe_answers`, to
``RUN/eval/step-N.probe.json``): two evaluations solve the same tasks, so their difference is a paired
comparison (``azr metrics --paired A B``), several times tighter than comparing two accuracies, and
the replies show what changed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azr.exceptions import ConfigError
from azr.jsonl import iter_jsonl
from azr.models.distributed import World
from azr.sampling.base import GenerationConfig, Progress, Sampler
from azr.selfplay.buffer import BufferSet, task_from_record, task_record
from azr.selfplay.config import SelfPlayConfig
from azr.selfplay.phases import TYPES, grade
from azr.selfplay.prompts import solver_prompt
from azr.verify.grading import Verdict, Verifier
from azr.verify.tasks import Task, TaskType

__all__ = [
    "PROBE_ANSWERS_FORMAT",
    "ProbeAnswer",
    "load_probe",
    "probe_answers",
    "probe_metrics",
    "select_probe",
    "solve_probe",
    "task_key",
    "write_probe",
]

PROBE_ANSWERS_FORMAT = "azr-probe-answers/1"
"""The ``format`` of :func:`probe_answers`' record (``RUN/eval/step-N.probe.json``)."""


@dataclass(frozen=True, slots=True)
class ProbeAnswer:
    """One probe task solved: its index in the probe file, the grader's verdict and the model's reply."""

    index: int
    verdict: Verdict
    reply: str


def select_probe(buffers: BufferSet, per_type: int) -> list[Task]:
    """Up to ``per_type`` model-proposed tasks of each type from ``buffers`` (seeds, ``step < 0``, left out),
    in the order they were admitted."""
    return [task for t in TYPES for task in [task for task in buffers[t].tasks if task.step >= 0][:per_type]]


def write_probe(path: str | Path, tasks: Sequence[Task]) -> None:
    """One task per line: its type and its buffer record (:func:`~azr.selfplay.buffer.task_record`)."""
    lines = [json.dumps({"task_type": str(t.task_type), **task_record(t)}) + "\n" for t in tasks]
    Path(path).write_text("".join(lines), encoding="utf-8")


def load_probe(path: str | Path) -> list[Task]:
    """The tasks of a probe file; a ``ConfigError`` naming the line for anything that is not a task."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"eval.probe: {path} is not a file (write one with `azr probe`)")
    tasks: list[Task] = []
    try:
        for number, _, row in iter_jsonl(path):
            try:
                if isinstance(row, ValueError):
                    raise row
                if not isinstance(row, dict):
                    raise TypeError("not a JSON object")
                tasks.append(task_from_record(TaskType(str(row.get("task_type"))), row))
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"{path}:{number}: not a probe task ({exc})") from exc
    except (UnicodeError, OSError, EOFError) as exc:  # not UTF-8 text, a .gz that is not gzip, unreadable
        raise ConfigError(f"eval.probe: {path} cannot be read as a probe file ({exc})") from exc
    if not tasks:
        raise ConfigError(f"eval.probe: {path} holds no tasks")
    return tasks


def solve_probe(
    tasks: Sequence[Task],
    *,
    sampler: Sampler,
    verifier: Verifier,
    selfplay: SelfPlayConfig,
    max_new_tokens: int,
    world: World,
    progress: Progress | None = None,
) -> list[ProbeAnswer]:
    """Solve this rank's share of the probe (task ``j`` on rank ``j % world``: a sharded model generates
    only with every rank taking part) once, greedily, with the run's solver prompts and budget, graded as
    in training: one :class:`ProbeAnswer` per task, for the caller to gather with its other results."""
    mine = list(range(world.rank, len(tasks), world.size))
    if not mine:
        return []
    config = GenerationConfig(n=1, temperature=0.0, max_new_tokens=max_new_tokens, seed=0)
    replies = sampler.generate([solver_prompt(tasks[j], selfplay) for j in mine], config, progress)
    texts = [r[0].text for r in replies]
    verdicts = grade(verifier, [tasks[j] for j in mine], texts, strict=selfplay.require_answer_tags)
    return [ProbeAnswer(j, v, text) for j, v, text in zip(mine, verdicts, texts, strict=True)]


def task_key(task: Task) -> str:
    """A short hash of what a solver is asked (type, program, inputs, outputs, message): equal keys, same task."""
    text = json.dumps([str(task.task_type), task.program, task.inputs, task.outputs, task.message])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _merge(tasks: Sequence[Task], shares: Iterable[Sequence[ProbeAnswer]]) -> dict[int, ProbeAnswer]:
    by_task = {a.index: a for share in shares for a in share}
    if sorted(by_task) != list(range(len(tasks))):
        raise ValueError(f"verdicts for {len(by_task)} of {len(tasks)} probe tasks")
    return by_task


def probe_metrics(tasks: Sequence[Task], shares: Iterable[Sequence[ProbeAnswer]]) -> dict[str, float]:
    """``probe/<type>/accuracy``, ``probe/<type>/format_error_rate`` and ``probe/overall/accuracy`` from every
    rank's :func:`solve_probe` share."""
    by_task = {j: a.verdict for j, a in _merge(tasks, shares).items()}
    metrics: dict[str, float] = {}
    for t in TYPES:
        verdicts = [by_task[j] for j, task in enumerate(tasks) if task.task_type is t]
        if verdicts:
            metrics[f"probe/{t}/accuracy"] = sum(v is Verdict.ACCEPTED for v in verdicts) / len(verdicts)
            metrics[f"probe/{t}/format_error_rate"] = sum(v is Verdict.FORMAT_ERROR for v in verdicts) / len(verdicts)
    metrics["probe/overall/accuracy"] = sum(v is Verdict.ACCEPTED for v in by_task.values()) / len(tasks)
    return metrics


def probe_answers(
    tasks: Sequence[Task], shares: Iterable[Sequence[ProbeAnswer]], *, source: str | None = None
) -> dict[str, Any]:
    """Every task's verdict and reply from every rank's :func:`solve_probe` share, in probe order, as the
    JSON record an evaluation writes beside its metrics. Each answer carries a hash of its task (program,
    inputs, outputs), so a paired comparison can check that both evaluations solved the same tasks."""
    by_task = _merge(tasks, shares)
    return {
        "format": PROBE_ANSWERS_FORMAT,
        "probe": source,
        "answers": [
            {
                "index": j,
                "task_type": str(task.task_type),
                "task": task_key(task),
                "verdict": str(by_task[j].verdict),
                "reply": by_task[j].reply,
            }
            for j, task in enumerate(tasks)
        ],
    }
