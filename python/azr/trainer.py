"""The self-play loop, top to bottom.

Each step, for each task type (deduction, abduction, induction):

1. **propose** a batch of tasks, conditioned on reference tasks from that type's buffer;
2. **validate** them in the sandbox (static checks, runs, deterministic, round-trips);
3. **estimate solve rates**: ``solve_rate_samples`` solver samples per valid proposal at
   temperature 1.0; the proposer's reward is the learnability ``1 - acc`` (0 when acc is 0 or 1);
4. admit the valid, unseen tasks to the buffer;
5. **solve** a batch of buffer tasks and **verify** the answers by execution;

then rewards become Task-Relative REINFORCE++ advantages (normalised within each of the six
(type, role) groups) and one policy update runs over all proposer and solver completions.

Each of these phases (propose, validate, solve-rate, solve per task type, then update) has its own
progress display naming the step, the task type and the phase, counting samples and tokens
(:mod:`azr.progress`; ``run.progress = false`` turns them off).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from azr import parallel, values
from azr.buffer import BufferSet, seed_tasks
from azr.config import TrainConfig
from azr.context import ContextWindow, context_length
from azr.distributed import World, barrier, gather, init_world
from azr.evaluation.training import TrainingEvaluator
from azr.exceptions import ConfigError
from azr.grading import Rejected, TaskValidator, Verdict, Verifier
from azr.parsing import FormatError, Parsed, parse_generation
from azr.policy import PolicyUpdater, Rollout
from azr.progress import PhaseDisplay
from azr.prompts import proposer_messages
from azr.reporting import Reporter, check_report_to
from azr.rewards import composite_reward, learnability_from_counts, task_relative_advantages
from azr.runs import RunDirectory
from azr.sampling.base import GenerationConfig, Progress, Prompt, Sample, Sampler
from azr.sandbox import Sandbox
from azr.tasks import Role, Task, TaskType, Triple
from azr.tasktypes import spec

__all__ = ["Trainer", "group_id", "solve_rate_group_id"]

log = logging.getLogger(__name__)

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
        from azr.models import load_model

        self.config = config
        self.world = world or init_world()
        # Before the run directory and the model: a strategy this world or torch cannot run fails in seconds.
        strategy = parallel.resolve_strategy(config.parallel.strategy, self.world)
        self.run = RunDirectory(run_dir)
        checkpoint = self.run.latest_checkpoint() if resume else None
        if resume and checkpoint is None and not self.run.buffers_dir.exists():
            raise ConfigError(f"--resume: {run_dir} has no checkpoint or buffers to resume from")
        check_report_to(config.run.report_to)  # a missing tensorboard/wandb fails here, before the model loads
        if self.world.is_main:
            self.run.create(config.to_toml(), resume=resume)
        barrier(self.world)
        self.display = PhaseDisplay(enabled=config.run.progress and self.world.is_main)
        self._label = "step"
        """Names the current step in progress displays: ``step 3/100`` or ``seeding round 1``."""
        self.evaluator = TrainingEvaluator(config, self.run, self.world) if config.eval.every > 0 else None
        self._resumed = resume
        self.reporter: Reporter | None = None

        torch.manual_seed(config.run.seed + self.world.rank)
        self.device = self._device()
        # "auto" trains float32 weights (with bf16 autocast on GPU); load_model takes dtype names.
        dtype = "float32" if config.model.dtype == "auto" else config.model.dtype
        # A LoRA checkpoint resumes from the base model plus its saved adapter (exact optimizer state);
        # a full fine-tune from the checkpoint's weights.
        lora = config.model.lora_rank > 0
        weights = str(checkpoint / "model") if checkpoint is not None and not lora else config.model.name
        # What a vLLM engine starts from: a LoRA checkpoint's adapter/ is merged into a cached copy for it.
        self._weights = str(checkpoint / ("adapter" if lora else "model")) if checkpoint is not None else weights
        if self.device.type == "cpu":
            self._check_load_memory(weights, dtype)
        log.info("loading %s (%s on %s)", weights, dtype, self.device)
        model, self.tokenizer = load_model(weights, dtype=dtype, device=str(self.device))
        model = self._adapt(model, checkpoint)
        self.model = model
        # Before the engine and the sandbox start: budgets no prompt can fit with are a config error.
        self.context = ContextWindow(self.tokenizer, context_length(model))
        self._check_context()
        ref_model = None
        if config.optim.kl_coef > 0:
            ref_model, _ = load_model(config.model.name, dtype=dtype, device=str(self.device))
            ref_module: torch.nn.Module = ref_model  # load_model already returns it in eval mode
            ref_module.requires_grad_(False)
        bf16 = self.device.type == "cuda" and config.model.dtype == "auto"
        # FSDP2 keeps float32 master shards and computes in bf16 itself; DDP and one process autocast.
        trained = parallel.wrap(model, strategy, self.world, self.device, bf16_params=bf16 and strategy == "fsdp2")
        if ref_model is not None and strategy == "fsdp2":
            parallel.wrap(ref_model, strategy, self.world, self.device, bf16_params=bf16)  # shards it in place
        autocast = torch.bfloat16 if bf16 and strategy != "fsdp2" else None
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
        from azr.models import peft_quiet

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
        from azr.models import estimate_load, require_memory

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
        from azr.models import Architecture, require_memory, update_activation_bytes

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
                dtype=None if self.config.model.dtype == "auto" else self.config.model.dtype,
                seed=self.config.run.seed + self.world.rank,
            )
        from azr.sampling.hf import TransformersSampler

        # No display of its own: each phase passes the sampler its display's Progress.
        return TransformersSampler(model, self.tokenizer, batch_size=cfg.batch_size, device=str(self.device))

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

    def _grade(self, task_type: TaskType, tasks: Sequence[Task], texts: Sequence[str]) -> list[Verdict]:
        """Verdicts for solver completions ``texts[k]`` on ``tasks[k]``, all verified by execution."""
        strict = self.config.selfplay.require_answer_tags
        answer = spec(task_type).answer
        answers = []
        for text in texts:
            parsed = parse_generation(text, task_type, Role.SOLVE, require_answer_tags=strict)
            answers.append(answer(parsed) if isinstance(parsed, Parsed) else None)
        return [grade.verdict for grade in self.verifier.grade(tasks, answers)]

    def _solver_reward(self, verdict: Verdict) -> float:
        """A solver reply's reward, for buffer solves and (when trained on) solve-rate samples alike."""
        sp = self.config.selfplay
        if sp.reward_mode == "format_only" and verdict is not Verdict.FORMAT_ERROR:
            verdict = Verdict.ACCEPTED  # the control ignores correctness
        return composite_reward(verdict, 1.0, format_error=sp.format_error_reward, wrong=sp.wrong_reward)

    def _solver_prompt(self, task: Task) -> Prompt:
        return spec(task.task_type).solver_prompt(task, self.config.selfplay.induction_shown)

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

    def _validate(self, task_type: TaskType, proposals: Sequence[tuple[Parsed, str | None]]) -> list[Task | Rejected]:
        """Each (parsed proposal, induction program) as a buffer task, or why it is rejected. All inputs
        of all proposals go to the sandbox in one batch (inputs of one program share an instance)."""
        items: list[tuple[str, str]] = []
        spans: list[tuple[int, int]] = []
        for parsed, program in proposals:
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
        for (parsed, _), (lo, hi) in zip(proposals, spans, strict=True):
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

    # --- one task type ---------------------------------------------------------------------------

    def propose(
        self, task_type: TaskType, count: int, rng: np.random.Generator, where: str = "", phase: int = 0
    ) -> tuple[list[Sample], list[Task | Rejected | FormatError]]:
        """``count`` proposals of ``task_type`` from the current buffers, each with what became of it: a
        valid buffer task, a rejection by the sandbox, or a format error. Used by each step and by
        ``benches/proposal_bench.py`` (the valid-proposal rate of a model at step 0)."""
        cfg, sp = self.config, self.config.selfplay
        buffer = self.buffers[task_type]
        temperature = cfg.sampler.temperature
        # 1. propose
        programs: list[str | None]
        budget = cfg.sampler.max_new_tokens_propose
        prompts: list[Prompt]
        if task_type is TaskType.INDUCTION:
            drawn = [(p, self._proposer_prompt(task_type, [], p)) for p in self.buffers.programs(count, rng)]
            # Admission keeps out programs too long for this prompt; a buffer from a run with larger
            # budgets (on --resume) may still hold some: they are skipped, not sent past the context.
            kept = [(p, prompt) for p, prompt in drawn if self.context.fits(prompt, budget)]
            if len(kept) < len(drawn):
                log.warning(
                    "%d induction programs skipped: their prompts do not fit the context", len(drawn) - len(kept)
                )
            programs = [p for p, _ in kept]
            prompts = [prompt for _, prompt in kept]
        else:
            programs = [None] * count
            prompts = []
            for _ in programs:
                references = [
                    t.triple
                    for t in buffer.sample(
                        sp.references, rng, mode=sp.reference_sampling, half_life=sp.recency_half_life
                    )
                ]
                prompt = self._proposer_prompt(task_type, references)
                while references and not self.context.fits(prompt, budget):
                    references.pop()  # the sample is in random order: the last one is as good to lose as any
                    self.references_dropped[task_type] += 1
                    prompt = self._proposer_prompt(task_type, references)
                prompts.append(prompt)
        with self.display.phase(f"{where} propose", len(prompts)) as progress:
            proposals = [
                g[0]
                for g in self._generate(
                    prompts,
                    n=1,
                    temperature=temperature,
                    max_new=cfg.sampler.max_new_tokens_propose,
                    phase=phase + 1,
                    progress=progress,
                )
            ]

        # 2. validate
        with self.display.phase(f"{where} validate", len(proposals), "proposal") as progress:
            parsed = [
                parse_generation(sample.text, task_type, Role.PROPOSE, require_answer_tags=sp.require_answer_tags)
                for sample in proposals
            ]
            well_formed = [(k, p) for k, p in enumerate(parsed) if isinstance(p, Parsed)]
            checked = dict(
                zip(
                    [k for k, _ in well_formed],
                    self._validate(task_type, [(p, programs[k]) for k, p in well_formed]),
                    strict=True,
                )
            )
            outcomes = [p if isinstance(p, FormatError) else checked[k] for k, p in enumerate(parsed)]
            if progress is not None:
                progress(len(proposals))

        return proposals, outcomes

    def _play(self, task_type: TaskType, scored: list[_Scored], metrics: _StepLog) -> None:
        cfg, sp = self.config, self.config.selfplay
        buffer = self.buffers[task_type]
        phase = _TYPES.index(task_type) * 10
        rng = self._rng(phase)
        temperature = cfg.sampler.temperature
        where = f"{self._label} {task_type}"

        dropped = self.references_dropped[task_type]
        proposals, outcomes = self.propose(task_type, sp.proposals_per_type, rng, where, phase)
        dropped = self.references_dropped[task_type] - dropped
        valid = [o for o in outcomes if isinstance(o, Task)]

        # 3. solve-rate estimation: n samples at temperature 1.0 per valid proposal
        n = sp.solve_rate_samples
        with self.display.phase(f"{where} solve-rate", len(valid) * n) as progress:
            groups = self._generate(
                [self._solver_prompt(t) for t in valid],
                n=n,
                temperature=1.0,
                max_new=cfg.sampler.max_new_tokens_solve,
                phase=phase + 2,
                progress=progress,
            )
            flat_tasks = [t for t in valid for _ in range(n)]
            verdicts = self._grade(task_type, flat_tasks, [s.text for g in groups for s in g])
        solved = [sum(v is Verdict.ACCEPTED for v in verdicts[k * n : (k + 1) * n]) for k in range(len(valid))]
        acc_of = {id(t): c for t, c in zip(valid, solved, strict=True)}
        format_only = sp.reward_mode == "format_only"
        if sp.train_on_solve_rate_samples:
            for sample, verdict in zip([s for g in groups for s in g], verdicts, strict=True):
                scored.append(_Scored(sample, self._solver_reward(verdict), solve_rate_group_id(task_type), 1.0))
        for sample, outcome in zip(proposals, outcomes, strict=True):
            if isinstance(outcome, FormatError):
                reward = composite_reward(Verdict.FORMAT_ERROR, format_error=sp.format_error_reward)
            elif format_only:
                reward = 1.0
            elif isinstance(outcome, Rejected):
                reward = composite_reward(Verdict.WRONG, wrong=sp.rejected_proposal_reward)
            else:
                reward = learnability_from_counts(acc_of[id(outcome)], n)
            scored.append(_Scored(sample, reward, group_id(task_type, Role.PROPOSE), temperature))

        # 4. admit (every rank admits every rank's tasks, in rank order, so buffers stay identical)
        admitted = 0
        for rank_tasks in gather(valid, self.world):
            admitted += sum(buffer.add(rank_tasks))

        # 5. solve buffer tasks and verify
        tasks = buffer.sample(sp.solves_per_type, rng)
        with self.display.phase(f"{where} solve", len(tasks)) as progress:
            answers = [
                g[0]
                for g in self._generate(
                    [self._solver_prompt(t) for t in tasks],
                    n=1,
                    temperature=temperature,
                    max_new=cfg.sampler.max_new_tokens_solve,
                    phase=phase + 3,
                    progress=progress,
                )
            ]
            solve_verdicts = self._grade(task_type, tasks, [a.text for a in answers])
        for sample, verdict in zip(answers, solve_verdicts, strict=True):
            scored.append(_Scored(sample, self._solver_reward(verdict), group_id(task_type, Role.SOLVE), temperature))

        # metrics of this type
        t = str(task_type)
        proposer_rewards = [s.reward for s in scored if s.group == group_id(task_type, Role.PROPOSE)]
        solver_rewards = [s.reward for s in scored if s.group == group_id(task_type, Role.SOLVE)]
        metrics.put(f"{t}/propose/reward_mean", float(np.mean(proposer_rewards)))
        metrics.put(f"{t}/solve/reward_mean", float(np.mean(solver_rewards)))
        if sp.train_on_solve_rate_samples:
            trained = [s.reward for s in scored if s.group == solve_rate_group_id(task_type)]
            metrics.put(f"{t}/solve_rate/reward_mean", float(np.mean(trained)) if trained else float("nan"))
        metrics.put(f"{t}/propose/valid_rate", _rate(len(valid), len(outcomes)))
        metrics.put(
            f"{t}/propose/format_error_rate", _rate(sum(isinstance(o, FormatError) for o in outcomes), len(outcomes))
        )
        metrics.put(f"{t}/propose/admitted", admitted)
        if task_type is not TaskType.INDUCTION:
            metrics.put(f"{t}/propose/references_dropped", dropped)
        metrics.put(f"{t}/propose/solve_rate_estimate", _rate(sum(solved), len(valid) * n))
        metrics.put(f"{t}/solve/accuracy", _rate(sum(v is Verdict.ACCEPTED for v in solve_verdicts), len(tasks)))
        metrics.put(
            f"{t}/solve/format_error_rate", _rate(sum(v is Verdict.FORMAT_ERROR for v in solve_verdicts), len(tasks))
        )
        metrics.put(f"buffer/{t}", len(buffer))

    # --- the step ---------------------------------------------------------------------------------

    def train_step(self) -> dict[str, float]:
        """One self-play step over all three task types, then one policy update. Returns its metrics."""
        started = time.perf_counter()
        self._gen_seconds, self._gen_tokens = 0.0, 0
        self._label = f"step {self.step + 1}/{self.config.run.steps}"
        before = self.sandbox.stats.snapshot()
        metrics = _StepLog()
        scored: list[_Scored] = []
        for task_type in _TYPES:
            self._play(task_type, scored, metrics)
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
            scratch: list[_Scored] = []
            for t in _TYPES:
                if len(self.buffers[t]) < sp.seed_buffer_size:
                    self._gen_seconds, self._gen_tokens = 0.0, 0
                    self._play(t, scratch, _StepLog())
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
