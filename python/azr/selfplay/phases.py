"""The phases of a self-play step, in the order the trainer runs them (``Trainer._play`` in
:mod:`azr.selfplay.trainer`):

1. :func:`propose` tasks of every type, conditioned on its buffer;
2. :func:`validate` them in the sandbox, all types in one batch;
3. :func:`solve_rate`: estimate each valid proposal's solve rate at temperature 1.0;
4. :func:`admit` the valid, unseen tasks to their buffers;
5. :func:`solve` buffer tasks of each type and verify the answers by execution;

then :func:`score` gives each completion its reward and its advantage-normalisation group.

Each phase runs once per step for every task type it is given; each generating phase is one sampler call
over all of them (one engine batch). Inputs and outputs are per type. A phase takes what it works with
(buffers, validator or verifier, context window, config sections) as arguments, and the step's shared
parts as three small objects: :class:`Seeds` (the step's random streams), :class:`Generation` (the
sampler, seeded per phase and counted) and :class:`StepDisplay` (the progress display, named for the step).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from azr.models.distributed import World, gather
from azr.runs.progress import PhaseDisplay
from azr.sampling.base import GenerationConfig, Progress, Prompt, Sample, Sampler
from azr.selfplay.buffer import BufferSet
from azr.selfplay.config import SamplerConfig, SelfPlayConfig
from azr.selfplay.context import ContextWindow, too_long
from azr.selfplay.prompts import proposer_prompt, solver_prompt
from azr.verify import values
from azr.verify.grading import Grade, Verdict, Verifier
from azr.verify.parsing import FormatError, Parsed, parse_generation
from azr.verify.rewards import composite_reward, learnability_from_counts
from azr.verify.tasks import Role, Task, TaskType
from azr.verify.tasktypes import spec
from azr.verify.validation import Rejected, TaskValidator

__all__ = [
    "GROUP_NAMES",
    "TYPES",
    "Attempt",
    "Generation",
    "Proposed",
    "Scored",
    "Seeds",
    "StepDisplay",
    "admit",
    "grade",
    "group_id",
    "propose",
    "score",
    "solve",
    "solve_rate",
    "solve_rate_group_id",
    "solver_reward",
    "validate",
    "validate_proposals",
]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

TYPES = (TaskType.DEDUCTION, TaskType.ABDUCTION, TaskType.INDUCTION)
"""The task types in the order a step runs them, builds its flat batches and numbers its groups."""

GROUP_NAMES = [f"{t}/{r}" for t in TYPES for r in (Role.PROPOSE, Role.SOLVE)] + [f"{t}/solve_rate" for t in TYPES]
"""Each group's name by its number, as written to ``RUN/samples/``."""


def group_id(task_type: TaskType | str, role: Role | str) -> int:
    """One advantage-normalisation group per (task type, role): 0..5."""
    return TYPES.index(TaskType(task_type)) * 2 + (0 if Role(role) is Role.PROPOSE else 1)


def solve_rate_group_id(task_type: TaskType | str) -> int:
    """The group of a type's solve-rate samples when they are trained on (6..8): their own, because they
    are attempts at fresh tasks at temperature 1.0, not at buffer tasks at the rollout temperature."""
    return len(TYPES) * 2 + TYPES.index(TaskType(task_type))


# --- what the phases pass on -------------------------------------------------------------------------


@dataclass
class Proposed:
    """One task type's proposals in a step: each completion, the buffer program its prompt showed
    (induction; None otherwise) and, once validated, what became of it."""

    samples: list[Sample]
    programs: list[str | None]
    outcomes: list[Task | Rejected | FormatError] = field(default_factory=list)

    @property
    def valid(self) -> list[Task]:
        return [o for o in self.outcomes if isinstance(o, Task)]


@dataclass(frozen=True)
class Attempt:
    """A solver reply and its verdict."""

    sample: Sample
    verdict: Verdict


@dataclass
class Scored:
    """A completion that will be trained on, with its reward and group."""

    sample: Sample
    reward: float
    group: int
    temperature: float


# --- what every phase of a step shares ---------------------------------------------------------------


@dataclass(frozen=True)
class Seeds:
    """The random streams of one step on one rank, from (run seed, step, rank): a resumed step draws the
    same samples and the same buffer tasks."""

    run_seed: int
    step: int
    rank: int
    seeding_round: int = 0
    """Seeding rounds (before step 1, all at step 0) number from 1, so each draws new proposals; 0 in steps."""

    def generation(self, phase: int) -> int:
        """A generation seed unique to (run seed, step, seeding round, phase, rank)."""
        base = self.run_seed * 1_000_003 + self.step * 1_009 + phase * 31 + self.rank
        return (base + self.seeding_round * 7_919_111) % (2**31)

    def rng(self, phase: int) -> np.random.Generator:
        extra = [self.seeding_round] if self.seeding_round else []
        return np.random.default_rng([self.run_seed, self.step, phase, self.rank, *extra])


class Generation:
    """The sampler as the phases call it: each call seeded by its phase (:meth:`Seeds.generation`), and the
    step's generation time and tokens counted for its metrics."""

    def __init__(self, sampler: Sampler, seeds: Seeds, top_p: float) -> None:
        self.sampler = sampler
        self.seeds = seeds
        self.top_p = top_p
        self.seconds = 0.0
        self.tokens = 0

    def __call__(
        self,
        prompts: Sequence[Prompt],
        *,
        n: int,
        temperature: float,
        max_new: int,
        phase: int,
        progress: Progress | None = None,
    ) -> list[list[Sample]]:
        if not prompts:
            return []
        config = GenerationConfig(
            n=n, temperature=temperature, top_p=self.top_p, max_new_tokens=max_new, seed=self.seeds.generation(phase)
        )
        started = time.perf_counter()
        out = self.sampler.generate(list(prompts), config, progress)
        self.seconds += time.perf_counter() - started
        self.tokens += sum(len(s.token_ids) for group in out for s in group)
        return out


@dataclass(frozen=True)
class StepDisplay:
    """The trainer's progress display and the name of the step it is showing (``step 3/100``, ``seeding
    round 1/5``)."""

    display: PhaseDisplay
    label: str

    @contextlib.contextmanager
    def phase(self, name: str, counts: Mapping[TaskType, int], unit: str = "sample") -> Iterator[Progress | None]:
        """A display of ``sum(counts)`` ``unit``\\ s named ``step 3/10 solve-rate [deduction 8 · abduction 4 ·
        induction 0]``: one display per phase, the count of each type in its name."""
        per_type = " · ".join(f"{t} {counts[t]}" for t in counts)
        with self.display.phase(f"{self.label} {name} [{per_type}]", sum(counts.values()), unit) as progress:
            yield progress


def _split(flat: Sequence[_T], sizes: Mapping[TaskType, int]) -> dict[TaskType, list[_T]]:
    """Cut a list built type after type (in ``sizes``' order) back into per-type lists."""
    out: dict[TaskType, list[_T]] = {}
    start = 0
    for task_type, size in sizes.items():
        out[task_type] = list(flat[start : start + size])
        start += size
    assert start == len(flat), f"{len(flat)} items for {start} slots"
    return out


# --- grading and rewards -----------------------------------------------------------------------------


def grade(verifier: Verifier, tasks: Sequence[Task], texts: Sequence[str], *, strict: bool) -> list[Verdict]:
    """Verdicts for solver completions ``texts[k]`` on ``tasks[k]`` (of any types), all verified by
    execution in one sandbox batch. ``strict``: ``selfplay.require_answer_tags``."""
    return [result.verdict for result in grades(verifier, tasks, texts, strict=strict)]


def grades(verifier: Verifier, tasks: Sequence[Task], texts: Sequence[str], *, strict: bool) -> list[Grade]:
    """:func:`grade` with the reasons: a reply the parser rejects is a format error with the parser's
    reason, any other is the verifier's grade."""
    parsed = [
        parse_generation(text, task.task_type, Role.SOLVE, require_answer_tags=strict)
        for task, text in zip(tasks, texts, strict=True)
    ]
    answers = [
        spec(t.task_type).answer(p) if isinstance(p, Parsed) else None for t, p in zip(tasks, parsed, strict=True)
    ]
    graded = verifier.grade(tasks, answers)
    return [
        Grade.format_error(p.reason) if isinstance(p, FormatError) else g for p, g in zip(parsed, graded, strict=True)
    ]


def solver_reward(verdict: Verdict, selfplay: SelfPlayConfig) -> float:
    """A solver reply's reward, for buffer solves and (when trained on) solve-rate samples alike."""
    if selfplay.reward_mode == "format_only" and verdict is not Verdict.FORMAT_ERROR:
        verdict = Verdict.ACCEPTED  # the control ignores correctness
    return composite_reward(verdict, 1.0, format_error=selfplay.format_error_reward, wrong=selfplay.wrong_reward)


# --- 1. propose --------------------------------------------------------------------------------------


def _proposer_prompts(
    task_type: TaskType,
    count: int,
    rng: np.random.Generator,
    *,
    buffers: BufferSet,
    context: ContextWindow,
    selfplay: SelfPlayConfig,
    budget: int,
    references_dropped: dict[TaskType, int],
) -> tuple[list[Prompt], list[str | None]]:
    """``count`` proposer prompts of ``task_type`` from the buffers as they are now, and for induction
    the buffer program each prompt shows (None for deduction and abduction). References that would push a
    prompt and its ``budget`` past the context are left out, and counted in ``references_dropped``."""
    if task_type is TaskType.INDUCTION:
        drawn = [(p, proposer_prompt(task_type, selfplay, [], p)) for p in buffers.programs(count, rng)]
        # Admission keeps out programs too long for this prompt; a buffer from a run with larger
        # budgets (on --resume) may still hold some: they are skipped, not sent past the context.
        kept = [(p, prompt) for p, prompt in drawn if context.fits(prompt, budget)]
        if len(kept) < len(drawn):
            log.warning("%d induction programs skipped: their prompts do not fit the context", len(drawn) - len(kept))
        return [prompt for _, prompt in kept], [p for p, _ in kept]
    prompts: list[Prompt] = []
    for _ in range(count):
        references = [
            t.triple
            for t in buffers[task_type].sample(
                selfplay.references, rng, mode=selfplay.reference_sampling, half_life=selfplay.recency_half_life
            )
        ]
        prompt = proposer_prompt(task_type, selfplay, references)
        while references and not context.fits(prompt, budget):
            references.pop()  # the sample is in random order: the last one is as good to lose as any
            references_dropped[task_type] += 1
            prompt = proposer_prompt(task_type, selfplay, references)
        prompts.append(prompt)
    return prompts, [None] * count


def propose(
    counts: Mapping[TaskType, int],
    rngs: Mapping[TaskType, np.random.Generator],
    *,
    buffers: BufferSet,
    context: ContextWindow,
    selfplay: SelfPlayConfig,
    sampler: SamplerConfig,
    generate: Generation,
    show: StepDisplay,
    references_dropped: dict[TaskType, int],
) -> dict[TaskType, Proposed]:
    """1. propose: ``counts[t]`` proposals of each type ``t``, conditioned on its buffer (references for
    deduction and abduction, a buffer program for induction), in one sampler call."""
    prompts: dict[TaskType, list[Prompt]] = {}
    programs: dict[TaskType, list[str | None]] = {}
    for task_type, count in counts.items():
        prompts[task_type], programs[task_type] = _proposer_prompts(
            task_type,
            count,
            rngs[task_type],
            buffers=buffers,
            context=context,
            selfplay=selfplay,
            budget=sampler.max_new_tokens_propose,
            references_dropped=references_dropped,
        )
    sizes = {t: len(p) for t, p in prompts.items()}
    with show.phase("propose", sizes) as progress:
        flat = generate(
            [p for t in prompts for p in prompts[t]],
            n=1,
            temperature=sampler.temperature,
            max_new=sampler.max_new_tokens_propose,
            phase=1,
            progress=progress,
        )
    samples = _split([g[0] for g in flat], sizes)
    return {t: Proposed(samples[t], programs[t]) for t in prompts}


# --- 2. validate -------------------------------------------------------------------------------------


def validate_proposals(
    proposals: Sequence[tuple[TaskType, Parsed, str | None]],
    *,
    validator: TaskValidator,
    context: ContextWindow,
    selfplay: SelfPlayConfig,
    sampler: SamplerConfig,
    step: int,
) -> list[Task | Rejected]:
    """Each (task type, parsed proposal, induction program) as a buffer task made at ``step``, or why it is
    rejected (by the sandbox, or because its prompts cannot fit the context). All inputs of all proposals,
    of every type, go to the sandbox in one batch (inputs of one program share an instance)."""
    items: list[tuple[str, str]] = []
    spans: list[tuple[int, int]] = []
    for task_type, parsed, program in proposals:
        if task_type is TaskType.INDUCTION:
            assert program is not None
            # Distinct by value, not by text: `7`, `(7)` and `0x7` are one hidden case.
            unique: dict[str, str] = {}
            for text in parsed.inputs:
                unique.setdefault(values.argument_key(text), text)
            inputs = list(unique.values())
        else:
            assert parsed.program is not None
            program, inputs = parsed.program, parsed.inputs[:1]
        spans.append((len(items), len(items) + len(inputs)))
        items.extend((program, text) for text in inputs)
    results = validator.validate(items)
    needed = selfplay.induction_shown + 1
    out: list[Task | Rejected] = []
    for (task_type, parsed, _), (lo, hi) in zip(proposals, spans, strict=True):
        mine = results[lo:hi]
        if task_type is not TaskType.INDUCTION:
            (result,) = mine
            if isinstance(result, Rejected):
                out.append(result)
            else:
                task = Task(task_type, result.program, (result.input,), (result.output,), step=step)
                out.append(too_long(context, task, sampler, selfplay) or task)
            continue
        valid = [r for r in mine if not isinstance(r, Rejected)]
        if len(valid) < needed:
            out.append(Rejected("too_few_valid_inputs", f"{len(valid)} valid distinct inputs, need {needed}"))
        else:
            task = Task(
                task_type,
                valid[0].program,
                tuple(r.input for r in valid),
                tuple(r.output for r in valid),
                parsed.message or "",
                step=step,
            )
            out.append(too_long(context, task, sampler, selfplay) or task)
    return out


def validate(
    proposed: Mapping[TaskType, Proposed],
    *,
    validator: TaskValidator,
    context: ContextWindow,
    selfplay: SelfPlayConfig,
    sampler: SamplerConfig,
    step: int,
    show: StepDisplay,
) -> None:
    """2. validate: parse every proposal and run the well-formed ones in the sandbox, all types in one
    batch; sets each proposal's outcome (a task, a rejection or a format error)."""
    strict = selfplay.require_answer_tags
    sizes = {t: len(p.samples) for t, p in proposed.items()}
    with show.phase("validate", sizes, "proposal") as progress:
        parsed = {
            t: [parse_generation(s.text, t, Role.PROPOSE, require_answer_tags=strict) for s in p.samples]
            for t, p in proposed.items()
        }
        well_formed = [
            (t, k, result)
            for t, results in parsed.items()
            for k, result in enumerate(results)
            if isinstance(result, Parsed)
        ]
        checked = validate_proposals(
            [(t, result, proposed[t].programs[k]) for t, k, result in well_formed],
            validator=validator,
            context=context,
            selfplay=selfplay,
            sampler=sampler,
            step=step,
        )
        by_position = {(t, k): outcome for (t, k, _), outcome in zip(well_formed, checked, strict=True)}
        for t, results in parsed.items():
            proposed[t].outcomes = [
                result if isinstance(result, FormatError) else by_position[(t, k)] for k, result in enumerate(results)
            ]
        if progress is not None:
            progress(sum(sizes.values()))


# --- 3. solve-rate -----------------------------------------------------------------------------------


def solve_rate(
    valid: Mapping[TaskType, list[Task]],
    *,
    verifier: Verifier,
    selfplay: SelfPlayConfig,
    sampler: SamplerConfig,
    generate: Generation,
    show: StepDisplay,
) -> dict[TaskType, list[list[Attempt]]]:
    """3. solve-rate: ``solve_rate_samples`` solver replies per valid proposal at temperature 1.0, all
    types in one sampler call, each verified by execution; the replies of each task, per type.

    Always at temperature 1.0, whatever the rollout temperature: a greedy estimate is 0 or 1 for every
    task, which makes the learnability reward ``1 - acc`` (0 at both ends) degenerate."""
    n = selfplay.solve_rate_samples
    tasks = [t for task_type in valid for t in valid[task_type]]
    sizes = {t: len(v) * n for t, v in valid.items()}
    with show.phase("solve-rate", sizes) as progress:
        groups = generate(
            [solver_prompt(t, selfplay) for t in tasks],
            n=n,
            temperature=1.0,
            max_new=sampler.max_new_tokens_solve,
            phase=2,
            progress=progress,
        )
        flat_tasks = [t for t in tasks for _ in range(n)]
        verdicts = grade(verifier, flat_tasks, [s.text for g in groups for s in g], strict=selfplay.require_answer_tags)
    attempts = [[Attempt(s, verdicts[k * n + j]) for j, s in enumerate(group)] for k, group in enumerate(groups)]
    return _split(attempts, {t: len(v) for t, v in valid.items()})


# --- 4. admit ----------------------------------------------------------------------------------------


def admit(valid: Mapping[TaskType, list[Task]], *, buffers: BufferSet, world: World) -> dict[TaskType, int]:
    """4. admit: every rank admits every rank's valid tasks, in rank order, so buffers stay identical;
    returns how many were new, per type."""
    admitted = {}
    for task_type, tasks in valid.items():
        admitted[task_type] = sum(sum(buffers[task_type].add(rank_tasks)) for rank_tasks in gather(tasks, world))
    return admitted


# --- 5. solve ----------------------------------------------------------------------------------------


def solve(
    types: Sequence[TaskType],
    rngs: Mapping[TaskType, np.random.Generator],
    *,
    buffers: BufferSet,
    verifier: Verifier,
    selfplay: SelfPlayConfig,
    sampler: SamplerConfig,
    generate: Generation,
    show: StepDisplay,
) -> dict[TaskType, list[tuple[Task, Attempt]]]:
    """5. solve: ``solves_per_type`` buffer tasks of each type, one reply each at the rollout temperature,
    all types in one sampler call, verified by execution."""
    tasks = {t: buffers[t].sample(selfplay.solves_per_type, rngs[t]) for t in types}
    flat = [task for t in types for task in tasks[t]]
    sizes = {t: len(tasks[t]) for t in types}
    with show.phase("solve", sizes) as progress:
        answers = [
            g[0]
            for g in generate(
                [solver_prompt(t, selfplay) for t in flat],
                n=1,
                temperature=sampler.temperature,
                max_new=sampler.max_new_tokens_solve,
                phase=3,
                progress=progress,
            )
        ]
        verdicts = grade(verifier, flat, [a.text for a in answers], strict=selfplay.require_answer_tags)
    pairs = [(task, Attempt(a, v)) for task, a, v in zip(flat, answers, verdicts, strict=True)]
    return _split(pairs, sizes)


# --- rewards and groups ------------------------------------------------------------------------------


def score(
    task_type: TaskType,
    proposed: Proposed,
    rates: Sequence[Sequence[Attempt]],
    solved: Sequence[tuple[Task, Attempt]],
    *,
    selfplay: SelfPlayConfig,
    temperature: float,
) -> list[Scored]:
    """Rewards and groups of one type's trained completions: its proposals (learnability of the solve
    rate), its buffer solves and, with ``train_on_solve_rate_samples``, its solve-rate replies.
    ``temperature``: the rollout temperature the proposals and solves were drawn at."""
    n = selfplay.solve_rate_samples
    scored: list[Scored] = []
    if selfplay.train_on_solve_rate_samples:
        for attempt in (a for group in rates for a in group):
            scored.append(
                Scored(attempt.sample, solver_reward(attempt.verdict, selfplay), solve_rate_group_id(task_type), 1.0)
            )
    # Valid proposals and their solve-rate groups are in the same order.
    accepted = {
        id(task): sum(a.verdict is Verdict.ACCEPTED for a in group)
        for task, group in zip(proposed.valid, rates, strict=True)
    }
    for sample, outcome in zip(proposed.samples, proposed.outcomes, strict=True):
        if isinstance(outcome, FormatError):
            reward = composite_reward(Verdict.FORMAT_ERROR, format_error=selfplay.format_error_reward)
        elif selfplay.reward_mode == "format_only":
            reward = 1.0
        elif isinstance(outcome, Rejected):
            reward = composite_reward(Verdict.WRONG, wrong=selfplay.rejected_proposal_reward)
        else:
            reward = learnability_from_counts(accepted[id(outcome)], n)
        scored.append(Scored(sample, reward, group_id(task_type, Role.PROPOSE), temperature))
    for _, attempt in solved:
        scored.append(
            Scored(
                attempt.sample, solver_reward(attempt.verdict, selfplay), group_id(task_type, Role.SOLVE), temperature
            )
        )
    return scored
