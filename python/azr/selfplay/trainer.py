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

The phases are functions in :mod:`azr.selfplay.phases`; this module wires the parts (model, sampler,
sandbox, buffers, updater) and runs them in order. Checks live where their subject does: memory in
:mod:`azr.selfplay.preflight`, the context window in :mod:`azr.selfplay.context`; the metrics record is
built by :mod:`azr.selfplay.metrics` and written by :mod:`azr.runs.reporting`; evaluation is scheduled by
:mod:`azr.selfplay.evaluation`.

Each phase (and the update) has its own progress display naming the step and the phase, with the count
of each task type in it, counting samples and tokens (:mod:`azr.runs.progress`; ``run.progress = false``
turns them off).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from azr.exceptions import ConfigError
from azr.models import parallel
from azr.models.distributed import World, barrier, gather, init_world
from azr.models.precision import resolve_precision
from azr.runs.directory import RunDirectory
from azr.runs.progress import PhaseDisplay
from azr.runs.reporting import Reporter, check_report_to
from azr.sampling.base import Sample, Sampler
from azr.sandbox import Sandbox
from azr.selfplay import phases
from azr.selfplay.buffer import BufferSet
from azr.selfplay.config import TrainConfig
from azr.selfplay.context import ContextWindow, check_budgets, context_length, too_long
from azr.selfplay.evaluation import TrainingEvaluator
from azr.selfplay.metrics import StepMetrics
from azr.selfplay.phases import TYPES, Generation, Scored, Seeds, StepDisplay
from azr.selfplay.policy import PolicyUpdater, Rollout
from azr.selfplay.preflight import check_load_memory, check_update_memory
from azr.verify.grading import Verifier
from azr.verify.parsing import FormatError
from azr.verify.rewards import task_relative_advantages
from azr.verify.tasks import Task, TaskType
from azr.verify.validation import Rejected, TaskValidator

__all__ = ["Trainer"]

log = logging.getLogger(__name__)


def _cast_trained(model: torch.nn.Module, dtype: str) -> None:
    """Hold the weights that get gradients in ``dtype`` (LoRA adapters over a bf16 base: float32, so
    their updates and AdamW states keep full precision; the frozen base keeps its own format)."""
    wanted = getattr(torch, dtype)
    for param in model.parameters():
        if param.requires_grad and param.dtype != wanted:
            param.data = param.data.to(wanted)


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
            check_load_memory(weights, dtype, config.model, config.optim)
        log.info("loading %s (%s on %s)", weights, dtype, self.device)
        model, self.tokenizer = load_model(weights, dtype=dtype, device=str(self.device))
        model = self._adapt(model, checkpoint)
        _cast_trained(model, self.precision.trained)
        self.model = model
        # Before the engine and the sandbox start: budgets no prompt can fit with are a config error.
        self.context = ContextWindow(self.tokenizer, context_length(model))
        check_budgets(self.context, config.sampler, config.selfplay)
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
        probe = self.evaluator.probe if self.evaluator else []
        for task in probe:
            if rejected := too_long(self.context, task, config.sampler, config.selfplay):
                raise ConfigError(f"eval.probe: a {task.task_type} task does not fit this run: {rejected.reason}")
        for task_type in TYPES:  # held out: a proposal equal to a probe task is never admitted
            # Deduction and abduction tasks are both (program, input): each is held out of both buffers.
            same = (TaskType.DEDUCTION, TaskType.ABDUCTION) if task_type is not TaskType.INDUCTION else (task_type,)
            held = [replace(t, task_type=task_type) for t in probe if t.task_type in same]
            dropped = self.buffers[task_type].hold_out(held)
            if dropped:
                log.warning("eval.probe: %d %s tasks of this run's buffer are probe tasks; dropped", dropped, task_type)

        self.references_dropped = dict.fromkeys(TYPES, 0)
        """References left out of proposer prompts so that prompt and budget fit the context, per type."""

        self.step = 0
        self.last_samples: list[dict[str, Any]] = []
        """The last step's trained completions (group, reward, text), as written to ``RUN/samples/``."""
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

    # --- the step ---------------------------------------------------------------------------------

    def _round(
        self, types: Sequence[TaskType], label: str, seeding_round: int
    ) -> tuple[Generation, StepDisplay, dict[TaskType, np.random.Generator]]:
        """A step's or seeding round's sampler calls, display and per-type random streams, all derived from
        (run seed, step, rank, seeding round) so a resumed run draws the same."""
        seeds = Seeds(self.config.run.seed, self.step, self.world.rank, seeding_round)
        generate = Generation(self.sampler, seeds, self.config.sampler.top_p)
        return generate, StepDisplay(self.display, label), {t: seeds.rng(TYPES.index(t) * 10) for t in types}

    def _play(
        self, types: Sequence[TaskType], label: str, metrics: StepMetrics, seeding_round: int = 0
    ) -> tuple[list[Scored], Generation]:
        """The five phases for ``types``, then each completion's reward and group and each type's metrics.
        ``label`` names the step in progress displays (``step 3/100``, ``seeding round 1/5``). Returns the
        scored completions and the step's sampler calls (their time and tokens)."""
        cfg, sp = self.config, self.config.selfplay
        generate, show, rngs = self._round(types, label, seeding_round)
        dropped_before = dict(self.references_dropped)
        proposed = self._proposals(dict.fromkeys(types, sp.proposals_per_type), rngs, generate, show)
        valid = {t: proposed[t].valid for t in types}
        rates = phases.solve_rate(
            valid, verifier=self.verifier, selfplay=sp, sampler=cfg.sampler, generate=generate, show=show
        )
        admitted = phases.admit(valid, buffers=self.buffers, world=self.world)
        solved = phases.solve(
            types,
            rngs,
            buffers=self.buffers,
            verifier=self.verifier,
            selfplay=sp,
            sampler=cfg.sampler,
            generate=generate,
            show=show,
        )

        scored: list[Scored] = []
        for t in types:
            mine = phases.score(t, proposed[t], rates[t], solved[t], selfplay=sp, temperature=cfg.sampler.temperature)
            metrics.put_type(
                t,
                mine,
                proposed[t],
                rates[t],
                solved[t],
                admitted=admitted[t],
                references_dropped=self.references_dropped[t] - dropped_before[t],
                buffer_size=len(self.buffers[t]),
                trained_on_solve_rate=sp.train_on_solve_rate_samples,
            )
            scored += mine
        return scored, generate

    def _proposals(
        self,
        counts: Mapping[TaskType, int],
        rngs: Mapping[TaskType, np.random.Generator],
        generate: Generation,
        show: StepDisplay,
    ) -> dict[TaskType, phases.Proposed]:
        """Phases 1 and 2: ``counts[t]`` proposals of each type, each with what became of it."""
        cfg = self.config
        proposed = phases.propose(
            counts,
            rngs,
            buffers=self.buffers,
            context=self.context,
            selfplay=cfg.selfplay,
            sampler=cfg.sampler,
            generate=generate,
            show=show,
            references_dropped=self.references_dropped,
        )
        phases.validate(
            proposed,
            validator=self.validator,
            context=self.context,
            selfplay=cfg.selfplay,
            sampler=cfg.sampler,
            step=self.step,
            show=show,
        )
        return proposed

    def train_step(self) -> dict[str, float]:
        """One self-play step: the five phases over all three task types, then one policy update. Returns
        its metrics."""
        started = time.perf_counter()
        label = f"step {self.step + 1}/{self.config.run.steps}"
        before = self.sandbox.stats.snapshot()
        metrics = StepMetrics()
        scored, generate = self._play(TYPES, label, metrics)
        if self.config.selfplay.reward_mode == "random":
            # The noise-floor control: every trained reply's reward a fair coin, drawn from a seed of (run
            # seed, step, rank) so a resumed step draws the same; groups and advantages as in a real run.
            coin = np.random.default_rng(Seeds(self.config.run.seed, self.step, self.world.rank).generation(997))
            scored = [replace(s, reward=float(coin.random() < 0.5)) for s in scored]
        self.last_samples = [
            {"group": phases.GROUP_NAMES[s.group], "reward": s.reward, "text": s.sample.text} for s in scored
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
        check_update_memory(
            rollouts, self.model, self.updater.optimizer, self.device, self.config.model, self.config.optim
        )
        with self.display.phase(f"{label} update", len(rollouts)) as progress:
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
        metrics.put_costs(
            work, generate, update, update_seconds=update_seconds, sync_seconds=sync_seconds, started=started
        )
        return metrics.values

    def propose(
        self, counts: Mapping[TaskType, int], rng: np.random.Generator
    ) -> dict[TaskType, tuple[list[Sample], list[Task | Rejected | FormatError]]]:
        """``counts[t]`` proposals of each type ``t`` from the current buffers, each with what became of it:
        a valid buffer task, a rejection by the sandbox, or a format error (the propose and validate
        phases, one sampler call). Used by ``benches/proposal_bench.py`` (a model's valid-proposal rate
        at step 0) and tests."""
        seeds = Seeds(self.config.run.seed, self.step, self.world.rank)
        generate = Generation(self.sampler, seeds, self.config.sampler.top_p)
        proposed = self._proposals(counts, dict.fromkeys(counts, rng), generate, StepDisplay(self.display, "step"))
        return {t: (p.samples, p.outcomes) for t, p in proposed.items()}

    # --- the run -----------------------------------------------------------------------------------

    def seed_buffers(self) -> None:
        """Optional seeding phase: propose without updating until each buffer reaches the target size."""
        sp = self.config.selfplay
        for round_ in range(sp.max_seeding_rounds):
            if all(len(self.buffers[t]) >= sp.seed_buffer_size for t in TYPES):
                return
            label = f"seeding round {round_ + 1}/{sp.max_seeding_rounds}"
            below = [t for t in TYPES if len(self.buffers[t]) < sp.seed_buffer_size]
            self._seed_round(below, label, round_ + 1)
        log.warning("seeding stopped after %d rounds with buffers %s", sp.max_seeding_rounds, self.buffers.sizes())

    def _seed_round(self, types: Sequence[TaskType], label: str, seeding_round: int) -> None:
        """One seeding round: propose, validate and admit what is valid. Nothing is trained while seeding,
        so the solve-rate and solve phases, whose only use is the rewards, are not run (on the default model
        at 8 proposals per type they took 162 s of a 280 s round). Proposals draw from a step's streams."""
        generate, show, rngs = self._round(types, label, seeding_round)
        proposed = self._proposals(dict.fromkeys(types, self.config.selfplay.proposals_per_type), rngs, generate, show)
        phases.admit({t: proposed[t].valid for t in types}, buffers=self.buffers, world=self.world)

    def fit(self) -> list[dict[str, float]]:
        """Train until ``run.steps``; checkpoint, log and plot along the way. Returns this call's metrics."""
        cfg = self.config.run
        if self.step == 0 and self.config.selfplay.seed_buffer_size > 0:
            self.seed_buffers()
        if self.world.is_main and self.reporter is None:
            # A resumed run's TensorBoard hides what the interrupted process logged after the resumed step,
            # as metrics.jsonl was truncated there.
            purge = self.step + 1 if self._resumed else None
            self.reporter = Reporter(cfg.report_to, self.run, config=self.config.to_dict(), purge_step=purge)
        self._evaluate_if_due()
        history: list[dict[str, float]] = []
        with self.display.phase("self-play", cfg.steps, "step", initial=self.step, leave=True) as progress:
            while self.step < cfg.steps:
                values = self.train_step()
                record: dict[str, Any] = {"step": self.step, "time": time.time(), **values}
                history.append(values)
                if self.world.is_main:
                    assert self.reporter is not None
                    self.reporter.log(record)
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

    def _evaluate_if_due(self) -> None:
        if self.evaluator is not None:
            self.evaluator.report_if_due(self.sampler, self.step, self.display, self.reporter)

    # --- checkpoints -------------------------------------------------------------------------------

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
