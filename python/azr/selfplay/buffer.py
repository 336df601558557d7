"""Per-type task buffers: the proposer's references and the solver's training tasks.

Each buffer starts from seed tasks (the identity program on ``"Hello world"``), admits only tasks the
validator accepted and the ``Deduper`` has not seen, and appends every admitted task to a JSONL log
(flushed and fsynced) the moment it is admitted, so a run killed mid-step loses no accepted task.
Loading replays the log, so the cap and eviction order come out exactly as they were.

The cap keeps the buffer moving: when full, the *oldest proposed* task is evicted (seeds stay),
unlike the reference implementation, which stops admitting new tasks once full.
"""

from __future__ import annotations

import ast
import json
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from azr import _core
from azr.exceptions import ConfigError
from azr.jsonl import iter_jsonl
from azr.verify.tasks import Task, TaskType

__all__ = ["IDENTITY_PROGRAM", "BufferSet", "TaskBuffer", "seed_tasks", "task_from_record", "task_record"]

IDENTITY_PROGRAM = "def f(a):\n    return a"
_SEED_INPUTS = ('"Hello world"', "[1, 2, 3]", "42", "(1, 'a')", "{'k': [0]}", "''", "3.5", "None")


def seed_tasks(task_type: TaskType, n_inputs: int = 6) -> list[Task]:
    """The identity triple. Induction gets ``n_inputs`` identity pairs so it can hold some out."""
    inputs = _SEED_INPUTS[: max(1, n_inputs)] if task_type is TaskType.INDUCTION else _SEED_INPUTS[:1]
    outputs = tuple(repr(ast.literal_eval(text)) for text in inputs)
    message = "It gives back what it is given." if task_type is TaskType.INDUCTION else ""
    return [Task(task_type, IDENTITY_PROGRAM, tuple(inputs), outputs, message)]


def task_record(task: Task) -> dict[str, object]:
    """A task as one buffer-log line (the task type is the file's)."""
    return {
        "step": task.step,
        "program": task.program,
        "inputs": list(task.inputs),
        "outputs": list(task.outputs),
        "message": task.message,
    }


def task_from_record(task_type: TaskType, row: object) -> Task:
    """The task a :func:`task_record` line holds; ``ValueError``/``TypeError`` naming what is wrong otherwise
    (a field of the wrong type, inputs and outputs of different lengths)."""
    if not isinstance(row, dict):
        raise TypeError(f"a task record is a JSON object, got {type(row).__name__}")
    program, inputs, outputs = row.get("program"), row.get("inputs"), row.get("outputs")
    message, step = row.get("message", ""), row.get("step", -1)
    if not isinstance(program, str) or not isinstance(message, str):
        raise TypeError("program and message must be strings")
    if not isinstance(inputs, list) or not isinstance(outputs, list) or not inputs:
        raise TypeError("inputs and outputs must be non-empty lists")
    if not all(isinstance(x, str) for x in [*inputs, *outputs]):
        raise TypeError("every input and output must be a string")
    if len(inputs) != len(outputs):
        raise ValueError(f"{len(inputs)} inputs but {len(outputs)} outputs")
    if type(step) is not int:
        raise TypeError("step must be an integer")
    return Task(task_type, program, tuple(inputs), tuple(outputs), message, step)


def _dedup_key(task: Task) -> tuple[str, str]:
    """(program, input text) for the deduper, which canonicalises the input by Python's tokens.

    An induction task's inputs are joined as ``(a), (b), ...``: a text that still tokenises (a control
    character as separator does not, and the deduper then calls every such task a duplicate, so no
    induction task was ever admitted) and that keeps input boundaries (``'a'`` then ``'b'`` is not
    ``'a' 'b'``, which Python reads as one string).
    """
    if len(task.inputs) == 1:
        return task.program, task.inputs[0]
    return task.program, "(" + "), (".join(task.inputs) + ")"


class TaskBuffer:
    """The tasks of one type, capped, deduplicated, optionally persisted to ``path`` (JSONL)."""

    def __init__(
        self, task_type: TaskType, *, cap: int, path: Path | None = None, n_inputs: int = 6, persist: bool = True
    ) -> None:
        if cap < 1:
            raise ValueError(f"buffer cap must be >= 1, got {cap}")
        self.task_type = TaskType(task_type)
        self.cap = cap
        self.path = path
        self.persist = persist
        """False: replay ``path`` but never write it (data-parallel ranks other than 0)."""
        self.seeds = seed_tasks(self.task_type, n_inputs)
        self.proposed: list[Task] = []
        self.admitted_total = 0
        """Tasks ever admitted (evicted ones included): the insertion clock for recency sampling."""
        self._dedup = _core.Deduper()
        self._dedup.admit_pairs([_dedup_key(t) for t in self.seeds])
        if path is not None and path.exists():
            self._replay(path)

    def __len__(self) -> int:
        return len(self.seeds) + len(self.proposed)

    @property
    def tasks(self) -> list[Task]:
        return [*self.seeds, *self.proposed]

    def _replay(self, path: Path) -> None:
        tasks: list[Task] = []
        for number, line, row in iter_jsonl(path):
            try:
                if isinstance(row, ValueError):
                    raise row
                task = task_from_record(self.task_type, row)
            except (ValueError, TypeError) as exc:
                if line.endswith("\n"):
                    raise ConfigError(f"{path}:{number}: corrupt buffer line ({exc})") from exc
                break  # a line cut short by a kill mid-write: everything before it is intact
            tasks.append(task)
        self._admit(tasks, persist=False)

    def hold_out(self, tasks: Iterable[Task]) -> int:
        """Never admit these tasks (the in-distribution probe's, :mod:`azr.selfplay.probe`): they are marked
        seen, so a proposal equal to one of them (by the deduper's canonical form) is a duplicate. Proposed
        tasks already held (a resumed run given a probe) that equal one are dropped; returns how many."""
        keys = [_dedup_key(t) for t in tasks]
        if not keys:
            return 0
        held = _core.Deduper()
        held.admit_pairs(keys)
        # The held tasks are distinct (the buffer deduplicated them), so one batch call answers for each.
        fresh = held.admit_pairs([_dedup_key(t) for t in self.proposed]) if self.proposed else []
        kept = [t for t, new in zip(self.proposed, fresh, strict=True) if new]
        dropped = len(self.proposed) - len(kept)
        self.proposed = kept
        self._dedup.admit_pairs(keys)
        return dropped

    def add(self, tasks: Iterable[Task]) -> list[bool]:
        """Admit the tasks not seen before; returns, per task, whether it was admitted."""
        return self._admit(list(tasks), persist=True)

    def _admit(self, tasks: list[Task], *, persist: bool) -> list[bool]:
        for task in tasks:
            if task.task_type is not self.task_type:
                raise ValueError(f"a {task.task_type} task cannot go into the {self.task_type} buffer")
        fresh = self._dedup.admit_pairs([_dedup_key(t) for t in tasks]) if tasks else []
        admitted = [t for t, ok in zip(tasks, fresh, strict=True) if ok]
        if persist and self.persist and admitted and self.path is not None:
            self._append(admitted)
        self.proposed.extend(admitted)
        self.admitted_total += len(admitted)
        overflow = len(self) - self.cap
        if overflow > 0:
            del self.proposed[: min(overflow, len(self.proposed))]
        return fresh

    def _append(self, tasks: Sequence[Task]) -> None:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lines = "".join(json.dumps(task_record(t), ensure_ascii=False) + "\n" for t in tasks)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(lines)
            fh.flush()
            os.fsync(fh.fileno())

    def sample(
        self,
        k: int,
        rng: np.random.Generator,
        *,
        mode: Literal["uniform", "recency"] = "uniform",
        half_life: float = 64.0,
    ) -> list[Task]:
        """``k`` tasks, distinct while the buffer has at least ``k``. ``recency`` weights a task
        ``2 ** (-age / half_life)``, age counted in insertions (seeds are oldest)."""
        tasks = self.tasks
        if mode == "uniform":
            weights = np.ones(len(tasks))
        else:
            newest = self.admitted_total
            first = newest - len(self.proposed)
            ages = [float(newest)] * len(self.seeds) + [float(newest - (first + j)) for j in range(len(self.proposed))]
            weights = np.array([math.pow(2.0, -age / half_life) for age in ages])
        p = weights / weights.sum()
        picks = rng.choice(len(tasks), size=k, replace=len(tasks) < k, p=p)
        return [tasks[int(j)] for j in picks]


class BufferSet:
    """The three buffers of a run, persisted under ``directory`` (``<type>.jsonl`` each)."""

    def __init__(self, directory: Path | None, *, cap: int, n_inputs: int = 6, persist: bool = True) -> None:
        self.directory = directory
        self.buffers = {
            t: TaskBuffer(
                t, cap=cap, path=directory / f"{t}.jsonl" if directory else None, n_inputs=n_inputs, persist=persist
            )
            for t in TaskType
        }

    def __getitem__(self, task_type: TaskType) -> TaskBuffer:
        return self.buffers[TaskType(task_type)]

    def sizes(self) -> dict[str, int]:
        return {str(t): len(b) for t, b in self.buffers.items()}

    def programs(self, k: int, rng: np.random.Generator) -> list[str]:
        """Programs for the induction proposer, drawn from the deduction and abduction buffers."""
        pool = [t.program for t in self.buffers[TaskType.DEDUCTION].tasks + self.buffers[TaskType.ABDUCTION].tasks]
        picks = rng.choice(len(pool), size=k, replace=len(pool) < k)
        return [pool[int(j)] for j in picks]
