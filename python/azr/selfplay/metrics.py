"""The metrics record of one self-play step: what its phases produced, counted per task type, and what the
step cost (sandbox work, generation, update).

Self-play specific, so it lives here; the record goes to the ``run.report_to`` sinks through
:class:`azr.runs.reporting.Reporter`, which knows nothing of phases. Names and values:

- ``<type>/propose/reward_mean``, ``<type>/solve/reward_mean`` (and ``<type>/solve_rate/reward_mean`` when
  solve-rate replies are trained on): the mean reward of each trained group;
- ``<type>/propose/valid_rate``, ``format_error_rate``, ``admitted``, ``references_dropped`` (deduction and
  abduction), ``solve_rate_estimate``; ``<type>/solve/accuracy``, ``format_error_rate``; ``buffer/<type>``;
- ``sandbox/*``, ``generation/*``, ``update/*``, ``sync/seconds`` and ``step_time_s``.

A rate with nothing to count is NaN (``null`` in ``metrics.jsonl``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from azr.sandbox import SandboxStats
from azr.selfplay.phases import Attempt, Generation, Proposed, Scored, group_id, solve_rate_group_id
from azr.verify.grading import Verdict
from azr.verify.parsing import FormatError
from azr.verify.tasks import Role, Task, TaskType

__all__ = ["StepMetrics"]


def _rate(hits: int, total: int) -> float:
    return hits / total if total else float("nan")


def _mean(rewards: Sequence[float]) -> float:
    return float(np.mean(rewards)) if rewards else float("nan")


@dataclass
class StepMetrics:
    """Counters of one step, in the order they are put, turned into the metrics record at the end."""

    values: dict[str, float] = field(default_factory=dict)

    def put(self, key: str, value: float) -> None:
        self.values[key] = float(value)

    def put_type(
        self,
        task_type: TaskType,
        scored: Sequence[Scored],
        proposed: Proposed,
        rates: Sequence[Sequence[Attempt]],
        solved: Sequence[tuple[Task, Attempt]],
        *,
        admitted: int,
        references_dropped: int,
        buffer_size: int,
        trained_on_solve_rate: bool,
    ) -> None:
        """One type's metrics from its phases' outcomes: ``scored`` (its trained completions), ``proposed``,
        ``rates`` (solve-rate replies per valid proposal), ``solved`` (buffer solves); ``admitted`` new tasks,
        ``references_dropped`` this step and the buffer's ``buffer_size`` after admission."""
        t = str(task_type)
        outcomes = proposed.outcomes
        self.put(f"{t}/propose/reward_mean", _mean([s.reward for s in scored if s.group == group_id(t, Role.PROPOSE)]))
        self.put(f"{t}/solve/reward_mean", _mean([s.reward for s in scored if s.group == group_id(t, Role.SOLVE)]))
        if trained_on_solve_rate:
            self.put(
                f"{t}/solve_rate/reward_mean", _mean([s.reward for s in scored if s.group == solve_rate_group_id(t)])
            )
        self.put(f"{t}/propose/valid_rate", _rate(len(proposed.valid), len(outcomes)))
        self.put(
            f"{t}/propose/format_error_rate", _rate(sum(isinstance(o, FormatError) for o in outcomes), len(outcomes))
        )
        self.put(f"{t}/propose/admitted", admitted)
        if task_type is not TaskType.INDUCTION:
            self.put(f"{t}/propose/references_dropped", references_dropped)
        accepted = sum(a.verdict is Verdict.ACCEPTED for group in rates for a in group)
        self.put(f"{t}/propose/solve_rate_estimate", _rate(accepted, sum(len(g) for g in rates)))
        verdicts = [a.verdict for _, a in solved]
        self.put(f"{t}/solve/accuracy", _rate(sum(v is Verdict.ACCEPTED for v in verdicts), len(verdicts)))
        self.put(f"{t}/solve/format_error_rate", _rate(sum(v is Verdict.FORMAT_ERROR for v in verdicts), len(verdicts)))
        self.put(f"buffer/{t}", buffer_size)

    def put_costs(
        self,
        work: SandboxStats,
        generation: Generation,
        update: Mapping[str, float],
        *,
        update_seconds: float,
        sync_seconds: float,
        started: float,
    ) -> None:
        """What the step cost: ``work`` (the sandbox's, this step), ``generation`` (the step's sampler calls),
        ``update`` (the policy update's own metrics) and their times; ``step_time_s`` since ``started``
        (a ``time.perf_counter()``), put last."""
        self.put("sandbox/expressions", work.expressions)
        self.put("sandbox/expressions_per_s", work.expressions / work.seconds if work.seconds else float("nan"))
        self.put("sandbox/timeouts", work.timeouts)
        self.put("sandbox/seconds", work.seconds)
        self.put("generation/tokens", generation.tokens)
        self.put(
            "generation/tokens_per_s", generation.tokens / generation.seconds if generation.seconds else float("nan")
        )
        self.put("generation/seconds", generation.seconds)
        for key, value in update.items():
            self.put(f"update/{key}", value)
        self.put("update/seconds", update_seconds)
        self.put("sync/seconds", sync_seconds)  # weights into the vLLM engine; 0 for the transformers sampler
        self.put("step_time_s", time.perf_counter() - started)
