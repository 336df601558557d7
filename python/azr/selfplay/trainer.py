"""The self-play loop, top to bottom.

Each step runs five phases, each once for all three task types (deduction, abduction, induction), each
generating phase as one sampler call (one engine batch):

1. **propose** tasks of every type, conditioned on its buffer (reference tasks for deduction and
   abduction, a buffer program for induction);
2. **validate** them in the sandbox (static checks, runs, deterministic, round-trips), in one batch;
3. **estimate solve rates**: ``solve_rate_samples`` solver samples per valid proposal at
   temperature 1.0; the proposer's reward is the learnability ``1 - acc`` (0 when acc is 0 or 1);
4. **admit** the valid, unseen tasks to their buffers;
5. **solve** a batch of buffer tasks of each type and **verify** the answers by execution;

then rewards become Task-Relative REINFORCE++ advantages (normalised within each of the six
(type, role) groups) and one policy update runs over all proposer and solver completions.

Because proposals of all types are drawn before any is admitted, an induction proposal is shown a
program admitted in an earlier step, never one a deduction or abduction proposal of the same step
produced (when the types ran one after the other, it could be).

Each phase (and the update) has its own progress display naming the step and the phase, with the count
of each task type in it, counting samples and tokens (:mod:`azr.runs.progress`; ``run.progress = false``
turns them off).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from azr.exceptions import ConfigError
from azr.models import parallel
from azr.models.distributed import World, barrier, gather, init_world
from azr.models.precision import resolve_precision
from azr.runs.directory import RunDirectory
from azr.runs.progress import PhaseDisplay
from azr.runs.reporting import Reporter, check_report_to
from azr.sampling.base import GenerationConfig, Progress, Prompt, Sample, Sampler
from azr.sandbox import Sandbox
from azr.selfplay.buffer import BufferSet, seed_tasks
from azr.selfplay.config import TrainConfig
from azr.selfplay.context import ContextWindow, context_length
from azr.selfplay.evaluation import TrainingEvaluator
from azr.selfplay.policy import PolicyUpdater, Rollout
from azr.verify import values
from azr.verify.grading import Verdict, Verifier
from azr.verify.parsing import FormatError, Parsed, parse_generation
from azr.verify.prompts import proposer_messages
from azr.verify.rewards import composite_reward, learnability_from_counts, task_relative_advantages
from azr.verify.tasks import Role, Task, TaskType, Triple
from azr.verify.tasktypes import spec
from azr.verify.validation import Rejected, TaskValidator

__all__ = ["Trainer", "group_id", "solve_rate_group_id"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

_TYPES = (TaskType.DEDUCTION, TaskType.ABDUCTION, TaskType.INDUCTION)


_GROUP_NAMES = [f"{t}/{r}" for t in _TYPES for r in (Role.PROPOSE, Role.SOLVE)] + [f"{t}/solve_rate" for t in _TYPES]


def group_id(task_type: TaskType | str, role: Role | str) -> int:
    """One advantage-normalisation group per (task type, role): 0..5."""
    return _TYPES.index(TaskType(task_type)) * 2 + (0 if Role(role) is Role.PROPOSE else 1)


def solve_rate_group_id(task_type: TaskType | str) -> int:
    """The group of a type's solve-rate samples when they are trained on (6..8): their own, because they
    are attempts at fresh tasks at temperature 1.0, not at buffer tasks at the rollout temperature."""
    return len(_TYPES) * 2 + _TYPES.index(TaskType(task_type))


@dataclass
class _Scored:
    """A completion that will be trained on, with its reward and group."""

    sample: Sample
    reward: float
    group: int
    temperature: float


@dataclass
class _StepLog:
    """Counters of one step, turned into the metrics record at the end."""

    values: dict[str, float] = field(default_factory=dict)

    def put(self, key: str, value: float) -> None:
        self.values[key] = float(value)


@dataclass
class _Proposed:
    """One task type's proposals in a step: each completion, the buffer program its prompt showed
    (induction; None otherwise) and, once validated, what became of it."""

    samples: list[Sample]
    programs: list[str | None]
    outcomes: list[Task | Rejected | FormatError] = field(default_factory=list)

    @property
    def valid(self) -> list[Task]:
        return [o for o in self.outcomes if isinstance(o, Task)]


@dataclass(frozen=True)
class _Attempt:
    """A solver reply and its verdict."""

    sample: Sample
    verdict: Verdict


def _split(flat: Sequence[_T], sizes: Mapping[TaskType, int]) -> dict[TaskType, list[_T]]:
    """Cut a list built type after type (in ``sizes``' order) back into per-type lists."""
    out: dict[TaskType, list[_T]] = {}
    start = 0
    for task_type, size in sizes.items():
        out[task_type] = list(flat[start : start + size])
        start += size
    assert start == len(flat), f"{len(flat)} items for {start} slots"
    return out


def _cast_trained(model: torch.nn.Module, dtype: str) -> None:
    """Hold the weights that get gradients in ``dtype`` (LoRA adapters over a bf16 base: float32, so
    their updates and AdamW states keep full precision; the frozen base keeps its own format)."""
    wanted = getattr(torch, dtype)
    for param in model.parameters():
        if param.requires_grad and param.dtype != wanted:
            param.data = param.data.to(wanted)


def _rate(hits: int, total: int) -> float:
    return hits / total if total else float("nan")


class Trainer:
    """Runs Absolute Zero self-play for ``config.run.steps`` steps in ``run_dir``."""

    def __init__(
        self,
        config: TrainConfig,
        run_dir: Path,
        *,
        resume: bool = False,
        world: World | None = None,
        sampler_factory: Callable[[Any, Any], Sampler] | None = None,
    ) -> None:
        from azr.models.loading import load_model

        self.config = config
        self.world = world or init_world()
        # Before the run directory and the model: a strategy this world or torch cannot run fails in seconds.
        strategy = parallel.resolve_strategy(config.parallel.strategy, self.world)
        self.run = RunDirectory(run_dir)
        checkpoint = self.run.latest_checkpoint() if resume else None
        if resume and checkpoint is None and not self.run.buffers_dir.exists():
            raise ConfigError(f"--resume: {run_dir} has no checkpoint or buffers to resume from")
        check_report_to(config.run.report_to)  # a missing tensorboard/wandb fails here, before the model loads
        torch.manual_seed(config.run.seed + self.world.rank)
        self.device = self._device()
        lora = config.model.lora_rank > 0
        # Rank 0's decision for every rank: the probe is a timing, and ranks must hold the same formats.
        self.precision = gather(resolve_precision(config.model.dtype, self.device, lora=lora), self.world)[0]
        """The formats this run loads, trains and computes in (``model.dtype``; :mod:`azr.models.precision`)."""
        log.info("precision: %s", self.precision.reason)
        if self.world.is_main:
            self.run.create(config.to_toml() + f"\n# precision: {self.precision.reason}\n", resume=resume)
        barrier(self.world)
        self.display = PhaseDisplay(enabled=config.run.progress and self.world.is_main)
        self._label = "step"
        """Names the current step in progress displays: ``step 3/100`` or ``seeding round 1``."""
        self.evaluator = TrainingEvaluator(config, self.run, self.world) if config.eval.every > 0 else None
        self._resumed = resume
        self.reporter: Reporter | None = None

        dtype = self.precision.weights
        # A LoRA checkpoint resumes from the base model plus its saved adapter (exact optimizer state);
        # a full fine-tune from the checkpoint's weights.
        weights = str(checkpoint / "model") if checkpoint is not None and not lora else config.model.name
        # What a vLLM engine starts from: a LoRA checkpoint's adapter/ is merged into a cached copy for it.
        self._weights = str(checkpoint / ("adapter" if lora else "model")) if checkpoint is not None else weights
        if self.device.type == "cpu":
            self._check_load_memory(weights, dtype)
        log.info("loading %s (%s on %s)", weights, dtype, self.device)
        model, self.tokenizer = load_model(weights, dtype=dtype, device=str(self.device))
        model = self._adapt(model, checkpoint)
        _cast_trained(model, self.precision.trained)
        self.model = model
        # Before the engine and the sandbox start: budgets no prompt can fit with are a config error.
        self.context = ContextWindow(self.tokenizer, context_length(model))
        self._check_context()
        ref_model = None
        if config.optim.kl_coef > 0:
            ref_model, _ = load_model(config.model.name, dtype=dtype, device=str(self.device))
            ref_module: torch.nn.Module = ref_model  # load_model already returns it in eval mode
            ref_module.requires_grad_(False)
        bf16 = self.precision.autocast == "bfloat16"
        # FSDP2 keeps float32 master shards and computes in bf16 itself; DDP and one process autocast.
        trained = parallel.wrap(model, strategy, self.world, self.device, bf16_params=bf16 and strategy == "fsdp2")
        if ref_model is not None and strategy == "fsdp2":
            parallel.wrap(ref_model, strategy, self.world, self.device, bf16_params=bf16)  # shards it in place
        autocast = self.precision.autocast_dtype if strategy != "fsdp2" else None
        self.updater = PolicyUpdater(
            trained,
            config.optim,
            pad_id=int(self.tokenizer.pad_token_id),
            device=self.device,
            ref_model=ref_model,
            autocast_dtype=autocast,
        )
        self.sampler = sampler_factory(model, self.tokenizer) if sampler_factory else self._sampler(model)

        sb = config.sandbox
        self.sandbox = Sandbox(workers=sb.workers or None, timeout_s=sb.timeout_s, memory_mb=sb.memory_mb)
        self.validator = TaskValidator(self.sandbox)
        # Choose the replay builds now (a set-up: building guests, once per machine), not inside the
        # first step, whose sandbox work would then count the choice's probe runs.
        self.validator.replay_builds  # noqa: B018
        self.verifier = Verifier(self.sandbox)
        sp = config.selfplay
        self.buffers = BufferSet(
            self.run.buffers_dir, cap=sp.buffer_cap, n_inputs=sp.induction_inputs, persist=self.world.is_main
        )

        self.references_dropped = dict.fromkeys(_TYPES, 0)
        """References left out of proposer prompts so that prompt and budget fit the context, per type."""

        self.step = 0
        self.last_samples: list[dict[str, Any]] = []
        """The last step's trained completions (group, reward, text), as written to ``RUN/samples/``."""
        self._gen_seconds, self._gen_tokens = 0.0, 0  # generation time and tokens of the current step
        if checkpoint is not None:
            state = RunDirectory.load_checkpoint_state(
                checkpoint, self.updater.optimizer, self.updater.model, world=self.world
            )
            self.step = int(state["step"])
            log.info("resumed from %s at step %d", checkpoint, self.step)
        if resume and self.world.is_main:
            # Records after the resumed step are redone (without a checkpoint: every record after step 0).
            self.run.truncate_metrics(self.step)

    # --- setup -----------------------------------------------------------------------------

    def _device(self) -> torch.device:
        wanted = self.config.model.device
        if wanted == "auto":
            return torch.device(f"cuda:{self.world.local_rank}" if torch.cuda.is_available() else "cpu")
        return torch.device(wanted)

    def _adapt(self, model: Any, checkpoint: Path | None) -> Any:
        from azr.models.loading import peft_quiet

        cfg = self.config.model
        if cfg.gradient_checkpointing:
            # transformers 5 renamed it; older releases only have the gradient_* name.
            enable = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
            enable()
        if cfg.lora_rank > 0 and checkpoint is not None:
            from peft import PeftModel

            with peft_quiet():
                return PeftModel.from_pretrained(model, checkpoint / "adapter", is_trainable=True)
        if cfg.lora_rank > 0:
            from peft import LoraConfig, get_peft_model

            lora = LoraConfig(
                r=cfg.lora_rank,
                lora_alpha=cfg.lora_alpha,
                lora_dropout=cfg.lora_dropout,
                target_modules="all-linear",
                task_type="CAUSAL_LM",
            )
            with peft_quiet():
                model = get_peft_model(model, lora)
        return model

    def _check_load_memory(self, weights: str, dtype: str) -> None:
        """Refuse, before minutes of loading, a CPU run whose weights, gradients and AdamW states alone
        exceed available memory (counted exactly from the checkpoint's tensor shapes)."""
        from azr.models.memory import estimate_load, require_memory

        cfg = self.config
        estimate = estimate_load(
            weights,
            dtype_bytes=torch.finfo(getattr(torch, dtype)).bits // 8,
            lora_rank=cfg.model.lora_rank,
            reference=cfg.optim.kl_coef > 0,
        )
        if estimate is None:
            return
        gib = 1024**3
        require_memory(
            estimate.total,
            f"training {cfg.model.name} (weights {estimate.weights / gib:.1f} GiB, gradients "
            f"{estimate.gradients / gib:.1f} GiB, AdamW states {estimate.optimizer / gib:.1f} GiB, reference copy "
            f"{estimate.reference / gib:.1f} GiB)",
            "train LoRA adapters instead of every weight (--set model.lora_rank=16, as configs/cpu-demo.toml does)"
            + (", or drop the reference copy (optim.kl_coef=0)" if estimate.reference else ""),
        )

    def _check_update_memory(self, rollouts: Sequence[Rollout]) -> None:
        """Refuse an update whose largest micro-batch's activations (plus, on the first update, the gradients
        and AdamW states not yet allocated) exceed available memory. CPU only: a GPU reports its own OOM."""
        from azr.models.memory import Architecture, require_memory, update_activation_bytes

        module: Any = self.model
        arch = Architecture.from_config(module.config)
        if self.device.type != "cpu" or arch is None or not rollouts:
            return
        cfg = self.config
        rows = min(cfg.optim.micro_batch_size, len(rollouts))
        longest = sorted(rollouts, key=lambda r: len(r.prompt_ids) + len(r.token_ids), reverse=True)[:rows]
        width = max(len(r.prompt_ids) + len(r.token_ids) for r in longest)
        completion = max(len(r.token_ids) for r in rollouts)
        dtype_bytes = next(module.parameters()).element_size()
        needed = update_activation_bytes(
            arch,
            rows=rows,
            width=width,
            completion=completion,
            gradient_checkpointing=cfg.model.gradient_checkpointing,
            dtype_bytes=dtype_bytes,
        )
        if not self.updater.optimizer.state:  # first step: .grad and AdamW's two moments are still unallocated
            trainable = sum(p.numel() * p.element_size() for p in module.parameters() if p.requires_grad)
            needed += 3 * trainable
        fixes = ["lower optim.micro_batch_size"]
        if not cfg.model.gradient_checkpointing:
            fixes.append("set model.gradient_checkpointing=true")
        if cfg.model.lora_rank == 0:
            fixes.append("train LoRA adapters (model.lora_rank=16)")
        fixes.append("or lower sampler.max_new_tokens_propose / max_new_tokens_solve")
        require_memory(
            needed,
            f"the policy update (micro-batches of {rows} sequences of up to {width} tokens)",
            ", ".join(fixes),
        )

    def _check_context(self) -> None:
        """The smallest prompts the run will send (seed tasks, no references) must fit with their budgets,
        or every step would overflow the model's context: that is a configuration error, said before step 1."""
        sampler = self.config.sampler
        for task_type in _TYPES:
            for task in seed_tasks(task_type, self.config.selfplay.induction_inputs):
                checks = [
                    ("max_new_tokens_propose", self._proposer_prompt(task_type, [], task.program)),
                    ("max_new_tokens_solve", self._solver_prompt(task)),
                ]
                for key, prompt in checks:
                    budget = getattr(sampler, key)
                    if not self.context.fits(prompt, budget):
                        raise ConfigError(
                            f"sampler.{key} = {budget} plus the shortest {task_type} prompt "
                            f"({self.context.length(prompt)} tokens) exceeds the model's context of "
                            f"{self.context.limit} tokens: lower sampler.{key}"
                        )

    def _sampler(self, model: Any) -> Sampler:
        cfg = self.config.sampler
        if cfg.backend == "vllm":
            from azr.sampling.vllm import VLLMSampler

            # Built from the weights the trainer loaded (the checkpoint on --resume), then synced after each update.
            return VLLMSampler(
                self._weights,
                gpu_memory_utilization=cfg.gpu_memory_utilization,
                kv_cache_memory_bytes=cfg.kv_cache_memory_bytes or None,
                enforce_eager=cfg.enforce_eager,
                sleep_level=cfg.sleep_level,
                dtype=self.precision.engine,
                seed=self.config.run.seed + self.world.rank,
            )
        from azr.sampling.hf import TransformersSampler

        # No display of its own: each phase passes the sampler its display's Progress.
        return TransformersSampler(
            model,
            self.tokenizer,
            batch_size=cfg.batch_size,
            device=str(self.device),
            autocast_dtype=self.precision.autocast_dtype,
        )

    # --- generation helpers ------------------------------------------------------------------

    def _seed(self, phase: int) -> int:
        """A generation seed unique to (run seed, step, phase, rank): resumed steps draw the same samples."""
        return (self.config.run.seed * 1_000_003 + self.step * 1_009 + phase * 31 + self.world.rank) % (2**31)

    def _generate(
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
            n=n,
            temperature=temperature,
            top_p=self.config.sampler.top_p,
            max_new_tokens=max_new,
            seed=self._seed(phase),
        )
        started = time.perf_counter()
        out = self.sampler.generate(list(prompts), config, progress)
        self._gen_seconds += time.perf_counter() - started
        self._gen_tokens += sum(len(s.token_ids) for group in out for s in group)
        return out

    def _rng(self, phase: int) -> np.random.Generator:
        return np.random.default_rng([self.config.run.seed, self.step, phase, self.world.rank])

    # --- grading -------------------------------------------------------------------------------

    def _grade(self, tasks: Sequence[Task], texts: Sequence[str]) -> list[Verdict]:
        """Verdicts for solver completions ``texts[k]`` on ``tasks[k]`` (of any types), all verified by
        execution in one sandbox batch."""
        strict = self.config.selfplay.require_answer_tags
        answers = []
        for task, text in zip(tasks, texts, strict=True):
            parsed = parse_generation(text, task.task_type, Role.SOLVE, require_answer_tags=strict)
            answers.append(spec(task.task_type).answer(parsed) if isinstance(parsed, Parsed) else None)
        return [grade.verdict for grade in self.verifier.grade(tasks, answers)]

    def _solver_reward(self, verdict: Verdict) -> float:
        """A solver reply's reward, for buffer solves and (when trained on) solve-rate samples alike."""
        sp = self.config.selfplay
        if sp.reward_mode == "format_only" and verdict is not Verdict.FORMAT_ERROR:
            verdict = Verdict.ACCEPTED  # the control ignores correctness
        return composite_reward(verdict, 1.0, format_error=sp.format_error_reward, wrong=sp.wrong_reward)

    def _solver_prompt(self, task: Task) -> Prompt:
        sp = self.config.selfplay
        return spec(task.task_type).solver_prompt(task, sp.induction_shown, sp.solver_example)

    def _proposer_prompt(self, task_type: TaskType, references: Sequence[Triple], program: str = "") -> Prompt:
        """A proposer prompt: ``references`` for deduction and abduction, ``program`` for induction."""
        sp = self.config.selfplay
        if task_type is TaskType.INDUCTION:
            return proposer_messages(
                task_type, [], program=program, n_inputs=sp.induction_inputs, example=sp.proposer_example
            )
        return proposer_messages(task_type, references, example=sp.proposer_example)

    def _too_long(self, task: Task) -> Rejected | None:
        """Why a valid ``task`` cannot be admitted under this model's context, if it cannot: its solver
        prompt with the solve budget must fit, and a deduction or abduction program, which the induction
        proposer is later shown, must fit that prompt with the propose budget."""
        sampler = self.config.sampler
        over = self.context.overflow(self._solver_prompt(task), sampler.max_new_tokens_solve)
        if over:
            return Rejected("too_long_for_context", f"its solver prompt runs {over} tokens past the model's context")
        if task.task_type is not TaskType.INDUCTION:
            prompt = self._proposer_prompt(TaskType.INDUCTION, [], task.program)
            over = self.context.overflow(prompt, sampler.max_new_tokens_propose)
            if over:
                return Rejected(
                    "too_long_for_context", f"its program in an induction prompt runs {over} tokens past the context"
                )
        return None

    def _validate(self, proposals: Sequence[tuple[TaskType, Parsed, str | None]]) -> list[Task | Rejected]:
        """Each (task type, parsed proposal, induction program) as a buffer task, or why it is rejected. All
        inputs of all proposals, of every type, go to the sandbox in one batch (inputs of one program share
        an instance)."""
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
        results = self.validator.validate(items)
        needed = self.config.selfplay.induction_shown + 1
        out: list[Task | Rejected] = []
        for (task_type, parsed, _), (lo, hi) in zip(proposals, spans, strict=True):
            mine = results[lo:hi]
            if task_type is not TaskType.INDUCTION:
                (result,) = mine
                if isinstance(result, Rejected):
                    out.append(result)
                else:
                    task = Task(task_type, result.program, (result.input,), (result.output,), step=self.step)
                    out.append(self._too_long(task) or task)
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
                    step=self.step,
                )
                out.append(self._too_long(task) or task)
        return out

    # --- the phases of a step ----------------------------------------------------------------------
    #
    # Each phase runs once per step for every task type it is given; each generating phase is one
    # sampler call over all of them (one engine batch). Inputs and outputs are per type.

    def _phase_name(self, phase: str, counts: Mapping[TaskType, int]) -> str:
        """``step 3/10 solve-rate [deduction 8 · abduction 4 · induction 0]``: the display stays per type."""
        per_type = " · ".join(f"{t} {counts[t]}" for t in counts)
        return f"{self._label} {phase} [{per_type}]"

    def _proposer_prompts(
        self, task_type: TaskType, count: int, rng: np.random.Generator
    ) -> tuple[list[Prompt], list[str | None]]:
        """``count`` proposer prompts of ``task_type`` from the buffers as they are now, and for induction
        the buffer program each prompt shows (None for deduction and abduction)."""
        sp = self.config.selfplay
        budget = self.config.sampler.max_new_tokens_propose
        if task_type is TaskType.INDUCTION:
            drawn = [(p, self._proposer_prompt(task_type, [], p)) for p in self.buffers.programs(count, rng)]
            # Admission keeps out programs too long for this prompt; a buffer from a run with larger
            # budgets (on --resume) may still hold some: they are skipped, not sent past the context.
            kept = [(p, prompt) for p, prompt in drawn if self.context.fits(prompt, budget)]
            if len(kept) < len(drawn):
                log.warning(
                    "%d induction programs skipped: their prompts do not fit the context", len(drawn) - len(kept)
                )
            return [prompt for _, prompt in kept], [p for p, _ in kept]
        prompts: list[Prompt] = []
        for _ in range(count):
            references = [
                t.triple
                for t in self.buffers[task_type].sample(
                    sp.references, rng, mode=sp.reference_sampling, half_life=sp.recency_half_life
                )
            ]
            prompt = self._proposer_prompt(task_type, references)
            while references and not self.context.fits(prompt, budget):
                references.pop()  # the sample is in random order: the last one is as good to lose as any
                self.references_dropped[task_type] += 1
                prompt = self._proposer_prompt(task_type, references)
            prompts.append(prompt)
        return prompts, [None] * count

    def _propose_phase(
        self, counts: Mapping[TaskType, int], rngs: Mapping[TaskType, np.random.Generator]
    ) -> dict[TaskType, _Proposed]:
        """1. propose: ``counts[t]`` proposals of each type ``t``, conditioned on its buffer (references for
        deduction and abduction, a buffer program for induction), in one sampler call."""
        prompts: dict[TaskType, list[Prompt]] = {}
        programs: dict[TaskType, list[str | None]] = {}
        for task_type, count in counts.items():
            prompts[task_type], programs[task_type] = self._proposer_prompts(task_type, count, rngs[task_type])
        sizes = {t: len(p) for t, p in prompts.items()}
        with self.display.phase(self._phase_name("propose", sizes), sum(sizes.values())) as progress:
            flat = self._generate(
                [p for t in prompts for p in prompts[t]],
                n=1,
                temperature=self.config.sampler.temperature,
                max_new=self.config.sampler.max_new_tokens_propose,
                phase=1,
                progress=progress,
            )
        samples = _split([g[0] for g in flat], sizes)
        return {t: _Proposed(samples[t], programs[t]) for t in prompts}

    def _validate_phase(self, proposed: Mapping[TaskType, _Proposed]) -> None:
        """2. validate: parse every proposal and run the well-formed ones in the sandbox, all types in one
        batch; sets each proposal's outcome (a task, a rejection or a format error)."""
        strict = self.config.selfplay.require_answer_tags
        sizes = {t: len(p.samples) for t, p in proposed.items()}
        total = sum(sizes.values())
        with self.display.phase(self._phase_name("validate", sizes), total, "proposal") as progress:
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
            checked = self._validate([(t, result, proposed[t].programs[k]) for t, k, result in well_formed])
            by_position = {(t, k): outcome for (t, k, _), outcome in zip(well_formed, checked, strict=True)}
            for t, results in parsed.items():
                proposed[t].outcomes = [
                    result if isinstance(result, FormatError) else by_position[(t, k)]
                    for k, result in enumerate(results)
                ]
            if progress is not None:
                progress(total)

    def propose(
        self, counts: Mapping[TaskType, int], rng: np.random.Generator
    ) -> dict[TaskType, tuple[list[Sample], list[Task | Rejected | FormatError]]]:
        """``counts[t]`` proposals of each type ``t`` from the current buffers, each with what became of it:
        a valid buffer task, a rejection by the sandbox, or a format error (the propose and validate
        phases, one sampler call). Used by ``benches/proposal_bench.py`` (a model's valid-proposal rate
        at step 0) and tests."""
        proposed = self._propose_phase(counts, dict.fromkeys(counts, rng))
        self._validate_phase(proposed)
        return {t: (p.samples, p.outcomes) for t, p in proposed.items()}

    def _solve_rate_phase(self, valid: Mapping[TaskType, list[Task]]) -> dict[TaskType, list[list[_Attempt]]]:
        """3. solve-rate: ``solve_rate_samples`` solver replies per valid proposal at temperature 1.0, all
        types in one sampler call, each verified by execution; the replies of each task, per type."""
        n = self.config.selfplay.solve_rate_samples
        tasks = [t for task_type in valid for t in valid[task_type]]
        sizes = {t: len(v) * n for t, v in valid.items()}
        with self.display.phase(self._phase_name("solve-rate", sizes), len(tasks) * n) as progress:
            groups = self._generate(
                [self._solver_prompt(t) for t in tasks],
                n=n,
                temperature=1.0,
                max_new=self.config.sampler.max_new_tokens_solve,
                phase=2,
                progress=progress,
            )
            flat_tasks = [t for t in tasks for _ in range(n)]
            verdicts = self._grade(flat_tasks, [s.text for g in groups for s in g])
        attempts = [[_Attempt(s, verdicts[k * n + j]) for j, s in enumerate(group)] for k, group in enumerate(groups)]
        return _split(attempts, {t: len(v) for t, v in valid.items()})

    def _admit_phase(self, valid: Mapping[TaskType, list[Task]]) -> dict[TaskType, int]:
        """4. admit: every rank admits every rank's valid tasks, in rank order, so buffers stay identical;
        returns how many were new, per type."""
        admitted = {}
        for task_type, tasks in valid.items():
            admitted[task_type] = sum(
                sum(self.buffers[task_type].add(rank_tasks)) for rank_tasks in gather(tasks, self.world)
            )
        return admitted

    def _solve_phase(
        self, types: Sequence[TaskType], rngs: Mapping[TaskType, np.random.Generator]
    ) -> dict[TaskType, list[tuple[Task, _Attempt]]]:
        """5. solve: ``solves_per_type`` buffer tasks of each type, one reply each at the rollout temperature,
        all types in one sampler call, verified by execution."""
        count = self.config.selfplay.solves_per_type
        tasks = {t: self.buffers[t].sample(count, rngs[t]) for t in types}
        flat = [task for t in types for task in tasks[t]]
        sizes = {t: len(tasks[t]) for t in types}
        with self.display.phase(self._phase_name("solve", sizes), len(flat)) as progress:
            answers = [
                g[0]
                for g in self._generate(
                    [self._solver_prompt(t) for t in flat],
                    n=1,
                    temperature=self.config.sampler.temperature,
                    max_new=self.config.sampler.max_new_tokens_solve,
                    phase=3,
                    progress=progress,
                )
            ]
            verdicts = self._grade(flat, [a.text for a in answers])
        pairs = [(task, _Attempt(a, v)) for task, a, v in zip(flat, answers, verdicts, strict=True)]
        return _split(pairs, sizes)

    def _play(self, types: Sequence[TaskType], metrics: _StepLog) -> list[_Scored]:
        """The five phases for ``types``, then each completion's reward and group and each type's metrics."""
        sp = self.config.selfplay
        rngs = {t: self._rng(_TYPES.index(t) * 10) for t in types}
        dropped_before = dict(self.references_dropped)
        proposed = self._propose_phase(dict.fromkeys(types, sp.proposals_per_type), rngs)
        self._validate_phase(proposed)
        valid = {t: proposed[t].valid for t in types}
        rates = self._solve_rate_phase(valid)
        admitted = self._admit_phase(valid)
        solved = self._solve_phase(types, rngs)

        scored: list[_Scored] = []
        for t in types:
            scored += self._score(t, proposed[t], rates[t], solved[t])
            self._type_metrics(t, scored, metrics, proposed[t], rates[t], solved[t], admitted[t], dropped_before[t])
        return scored

    def _score(
        self,
        task_type: TaskType,
        proposed: _Proposed,
        rates: Sequence[Sequence[_Attempt]],
        solved: Sequence[tuple[Task, _Attempt]],
    ) -> list[_Scored]:
        """Rewards and groups of one type's trained completions: its proposals (learnability of the
        solve rate), its buffer solves and, with ``train_on_solve_rate_samples``, its solve-rate replies."""
        sp, temperature = self.config.selfplay, self.config.sampler.temperature
        n = sp.solve_rate_samples
        scored: list[_Scored] = []
        if sp.train_on_solve_rate_samples:
            for attempt in (a for group in rates for a in group):
                scored.append(
                    _Scored(attempt.sample, self._solver_reward(attempt.verdict), solve_rate_group_id(task_type), 1.0)
                )
        # Valid proposals and their solve-rate groups are in the same order.
        accepted = {
            id(task): sum(a.verdict is Verdict.ACCEPTED for a in group)
            for task, group in zip(proposed.valid, rates, strict=True)
        }
        for sample, outcome in zip(proposed.samples, proposed.outcomes, strict=True):
            if isinstance(outcome, FormatError):
                reward = composite_reward(Verdict.FORMAT_ERROR, format_error=sp.format_error_reward)
            elif sp.reward_mode == "format_only":
                reward = 1.0
            elif isinstance(outcome, Rejected):
                reward = composite_reward(Verdict.WRONG, wrong=sp.rejected_proposal_reward)
            else:
                reward = learnability_from_counts(accepted[id(outcome)], n)
            scored.append(_Scored(sample, reward, group_id(task_type, Role.PROPOSE), temperature))
        for _, attempt in solved:
            scored.append(
                _Scored(
                    attempt.sample, self._solver_reward(attempt.verdict), group_id(task_type, Role.SOLVE), temperature
                )
            )
        return scored

    def _type_metrics(
        self,
        task_type: TaskType,
        scored: Sequence[_Scored],
        metrics: _StepLog,
        proposed: _Proposed,
        rates: Sequence[Sequence[_Attempt]],
        solved: Sequence[tuple[Task, _Attempt]],
        admitted: int,
        dropped_before: int,
    ) -> None:
        t, sp = str(task_type), self.config.selfplay
        outcomes = proposed.outcomes
        proposer_rewards = [s.reward for s in scored if s.group == group_id(task_type, Role.PROPOSE)]
        solver_rewards = [s.reward for s in scored if s.group == group_id(task_type, Role.SOLVE)]
        metrics.put(f"{t}/propose/reward_mean", float(np.mean(proposer_rewards)) if proposer_rewards else float("nan"))
        metrics.put(f"{t}/solve/reward_mean", float(np.mean(solver_rewards)) if solver_rewards else float("nan"))
        if sp.train_on_solve_rate_samples:
            trained = [s.reward for s in scored if s.group == solve_rate_group_id(task_type)]
            metrics.put(f"{t}/solve_rate/reward_mean", float(np.mean(trained)) if trained else float("nan"))
        metrics.put(f"{t}/propose/valid_rate", _rate(len(proposed.valid), len(outcomes)))
        metrics.put(
            f"{t}/propose/format_error_rate", _rate(sum(isinstance(o, FormatError) for o in outcomes), len(outcomes))
        )
        metrics.put(f"{t}/propose/admitted", admitted)
        if task_type is not TaskType.INDUCTION:
            metrics.put(f"{t}/propose/references_dropped", self.references_dropped[task_type] - dropped_before)
        accepted = sum(a.verdict is Verdict.ACCEPTED for group in rates for a in group)
        metrics.put(f"{t}/propose/solve_rate_estimate", _rate(accepted, sum(len(g) for g in rates)))
        verdicts = [a.verdict for _, a in solved]
        metrics.put(f"{t}/solve/accuracy", _rate(sum(v is Verdict.ACCEPTED for v in verdicts), len(verdicts)))
        metrics.put(
            f"{t}/solve/format_error_rate", _rate(sum(v is Verdict.FORMAT_ERROR for v in verdicts), len(verdicts))
        )
        metrics.put(f"buffer/{t}", len(self.buffers[task_type]))

    # --- the step ---------------------------------------------------------------------------------

    def train_step(self) -> dict[str, float]:
        """One self-play step: the five phases over all three task types, then one policy update. Returns
        its metrics."""
        started = time.perf_counter()
        self._gen_seconds, self._gen_tokens = 0.0, 0
        self._label = f"step {self.step + 1}/{self.config.run.steps}"
        before = self.sandbox.stats.snapshot()
        metrics = _StepLog()
        scored = self._play(_TYPES, metrics)
        if self.config.selfplay.reward_mode == "random":
            # The noise-floor control: every trained reply's reward a fair coin, drawn from a seed of (run
            # seed, step, rank) so a resumed step draws the same; groups and advantages as in a real run.
            coin = np.random.default_rng(self._seed(phase=997))
            scored = [replace(s, reward=float(coin.random() < 0.5)) for s in scored]
        self.last_samples = [
            {"group": _GROUP_NAMES[s.group], "reward": s.reward, "text": s.sample.text} for s in scored
        ]

        # Task-Relative REINFORCE++: normalise within each (type, role) group over all ranks.
        everyone = gather([(s.reward, s.group) for s in scored], self.world)
        rewards = [r for part in everyone for r, _ in part]
        groups = [g for part in everyone for _, g in part]
        offset = sum(len(part) for part in everyone[: self.world.rank])
        advantages = task_relative_advantages(rewards, groups)[offset : offset + len(scored)]
        rollouts = [
            Rollout(s.sample.prompt_ids, s.sample.token_ids, s.sample.logprobs, float(a), s.temperature)
            for s, a in zip(scored, advantages, strict=True)
        ]
        self._check_update_memory(rollouts)
        with self.display.phase(f"{self._label} update", len(rollouts)) as progress:
            sleep = getattr(self.sampler, "sleep", None)
            if sleep is not None:  # vLLM with sampler.sleep_level: the update gets the engine's GPU memory
                sleep()
            update_started = time.perf_counter()
            update = self.updater.update(rollouts, progress)
            update_seconds = time.perf_counter() - update_started
            sync = getattr(self.sampler, "sync_weights", None)
            if sync is not None:
                sync(self.model)
            sync_seconds = time.perf_counter() - update_started - update_seconds
        self.step += 1

        work = self.sandbox.stats.since(before)
        metrics.put("sandbox/expressions", work.expressions)
        metrics.put("sandbox/expressions_per_s", work.expressions / work.seconds if work.seconds else float("nan"))
        metrics.put("sandbox/timeouts", work.timeouts)
        metrics.put("sandbox/seconds", work.seconds)
        metrics.put("generation/tokens", self._gen_tokens)
        metrics.put(
            "generation/tokens_per_s", self._gen_tokens / self._gen_seconds if self._gen_seconds else float("nan")
        )
        metrics.put("generation/seconds", self._gen_seconds)
        for key, value in update.items():
            metrics.put(f"update/{key}", value)
        metrics.put("update/seconds", update_seconds)
        metrics.put("sync/seconds", sync_seconds)  # weights into the vLLM engine; 0 for the transformers sampler
        metrics.put("step_time_s", time.perf_counter() - started)
        return metrics.values

    # --- the run -----------------------------------------------------------------------------------

    def seed_buffers(self) -> None:
        """Optional seeding phase: propose without updating until each buffer reaches the target size."""
        sp = self.config.selfplay
        for round_ in range(sp.max_seeding_rounds):
            if all(len(self.buffers[t]) >= sp.seed_buffer_size for t in _TYPES):
                return
            self._label = f"seeding round {round_ + 1}/{sp.max_seeding_rounds}"
            below = [t for t in _TYPES if len(self.buffers[t]) < sp.seed_buffer_size]
            self._gen_seconds, self._gen_tokens = 0.0, 0
            self._play(below, _StepLog())  # rewards and metrics unused: no update while seeding
        log.warning("seeding stopped after %d rounds with buffers %s", sp.max_seeding_rounds, self.buffers.sizes())

    def fit(self) -> list[dict[str, float]]:
        """Train until ``run.steps``; checkpoint, log and plot along the way. Returns this call's metrics."""
        cfg = self.config.run
        if self.step == 0 and self.config.selfplay.seed_buffer_size > 0:
            self.seed_buffers()
        self._open_reporter()
        self._evaluate_if_due()
        history: list[dict[str, float]] = []
        with self.display.phase("self-play", cfg.steps, "step", initial=self.step, leave=True) as progress:
            while self.step < cfg.steps:
                values = self.train_step()
                record: dict[str, Any] = {"step": self.step, "time": time.time(), **values}
                history.append(values)
                if self.world.is_main:
                    self._report(record)
                    self.run.log_samples(self.step, self.last_samples)
                    if self.step % cfg.plot_every == 0 or self.step == cfg.steps:
                        self.run.plot()
                if self.step % cfg.checkpoint_every == 0 or self.step == cfg.steps:
                    self.save()  # collective: every rank gives up its weights, optimizer and RNG states
                barrier(self.world)
                self._evaluate_if_due()  # after the checkpoint: an evaluation that fails leaves this step saved
                if progress is not None:
                    progress(1)
        if self.reporter is not None:
            self.reporter.close()
            self.reporter = None
        return history

    # --- metrics sinks and evaluation -----------------------------------------------------------

    def _open_reporter(self) -> None:
        """The ``run.report_to`` sinks (main rank). A resumed run's TensorBoard hides what the interrupted
        process logged after the resumed step, as ``metrics.jsonl`` was truncated there."""
        if self.world.is_main and self.reporter is None:
            purge = self.step + 1 if self._resumed else None
            self.reporter = Reporter(
                self.config.run.report_to, self.run, config=self.config.to_dict(), purge_step=purge
            )

    def _report(self, record: dict[str, Any]) -> None:
        assert self.reporter is not None, "records are reported by the main rank, inside fit()"
        self.reporter.log(record)

    def _evaluate_if_due(self) -> None:
        """Run the ``[eval]`` evaluation of this step if it is due, on every rank (each takes its share
        of the problems); rank 0 logs its own record for the step to every sink and redraws the plots.
        Evaluation changes neither weights nor RNG streams, so a run with it trains as one without."""
        if self.evaluator is None:
            return
        values = self.evaluator.run_if_due(self.sampler, self.step, self.display)
        if values is not None and self.world.is_main:
            self._report({"step": self.step, "time": time.time(), **values})
            self.run.plot()
        barrier(self.world)

    def save(self) -> Path | None:
        """Checkpoint now. Collective: every rank calls it; rank 0 writes and gets the path."""
        return self.run.save_checkpoint(
            self.step,
            self.model,
            self.tokenizer,
            self.updater.optimizer,
            {"buffers": self.buffers.sizes(), "world_size": self.world.size},
            keep=self.config.run.keep_checkpoints,
            base_model=self.config.model.name,
            trained=self.updater.model,
            world=self.world,
        )
