"""A run directory: resolved config, metrics log, plots, buffers and checkpoints.

Layout::

    RUN/config.toml                 the resolved configuration (``--resume`` reads it back)
    RUN/metrics.jsonl               one JSON object per step, and one per evaluation (``eval/...``)
    RUN/plots/*.png                 main curves, redrawn as training goes
    RUN/buffers/<type>.jsonl        every accepted task, appended as it is accepted
    RUN/samples/step-000001.jsonl   every trained completion of a step with its group and reward
    RUN/eval/step-000010.json       an ``[eval]`` evaluation (``azr eval --out`` format) and, beside it,
                                    ``step-000010.generations.json``, what the model wrote
    RUN/events.out.tfevents.*       TensorBoard event files (``run.report_to`` with ``tensorboard``)
    RUN/checkpoints/step-000010/    model/ (safetensors + tokenizer), optimizer.pt, rng.pt, state.json

A LoRA checkpoint keeps ``adapter/`` (the adapter weights, the tokenizer and ``azr-base.json`` naming
the base model spec) instead of ``model/``: the base weights never change, so a merged copy would
only cost disk (2.5 GB per checkpoint for the fp32 default model). Exact resume needs the adapter,
the optimizer and the RNG states; :func:`azr.models.loading.load_model` loads an ``adapter/`` directory as
base + adapter merged in memory, which is how ``azr eval RUN`` reads it.

Checkpoints are written to a temporary directory and renamed into place, so a kill mid-save leaves
the previous checkpoint intact.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from azr.exceptions import ConfigError
from azr.jsonl import read_intact
from azr.models import parallel
from azr.models.distributed import World, gather
from azr.models.embedded import write_adapter_base
from azr.models.loading import quiet_progress

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["RunDirectory", "is_rate"]

log = logging.getLogger(__name__)


def _rng_state() -> dict[str, Any]:
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


_PLOTS = {
    "rewards": ("reward mean per group", "/reward_mean"),
    "solve_rates": ("solver accuracy per task type", "/solve/accuracy"),
    "valid_rates": ("valid-proposal rate per task type", "/propose/valid_rate"),
    "eval_pass1": ("benchmark pass@1 (eval)", "/pass@1"),
    "eval_unparsed": ("benchmark answers with nothing to extract (eval)", "/unparsed_rate"),
}

# One (marker, line style) per line of a chart, all different, hollow markers of different sizes: lines
# with equal values (three proposer rewards at -1) stay visible as distinct shapes nested in each other.
_MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*")
_LINESTYLES = ("-", "--", ":", "-.")

_REWARD_RANGE = (-1.0, 1.0)
"""The y axis reward charts always show (composite rewards: -1 format error ... 1 solved), widened if
a configured reward lies outside, so a flat line reads as its value instead of an axis of +-0.04."""


def is_rate(key: str) -> bool:
    """Whether metric ``key`` is a proportion (plotted on a fixed 0-1 axis): names ending in ``_rate``,
    accuracies, pass@k."""
    name = key.rsplit("/", 1)[-1]
    return name.endswith(("_rate", "accuracy", "rate_estimate")) or name.startswith("pass@")


class RunDirectory:
    """Files of one training run."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.metrics_path = self.path / "metrics.jsonl"
        self.config_path = self.path / "config.toml"
        self.buffers_dir = self.path / "buffers"
        self.checkpoints_dir = self.path / "checkpoints"
        self.plots_dir = self.path / "plots"
        self.samples_dir = self.path / "samples"
        self.eval_dir = self.path / "eval"

    def create(self, config_toml: str, *, resume: bool) -> None:
        """Make the directory; refuse to mix a new run into an existing one unless resuming."""
        if not resume and self.metrics_path.exists():
            raise ConfigError(f"{self.path} already holds a run; pass --resume to continue it or pick a new --run-dir")
        self.path.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(config_toml, encoding="utf-8")

    # --- metrics and plots ------------------------------------------------------------------

    def log_metrics(self, record: Mapping[str, Any]) -> None:
        """Append one record; undefined rates (NaN, e.g. no valid proposal to estimate) become null."""
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
        with self.metrics_path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(clean, allow_nan=False, default=float) + "\n")

    def log_samples(self, step: int, samples: list[dict[str, Any]]) -> None:
        """Every trained completion of ``step`` with its group and reward: what the model actually wrote."""
        self.samples_dir.mkdir(parents=True, exist_ok=True)
        lines = "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in samples)
        (self.samples_dir / f"step-{step:06d}.jsonl").write_text(lines, encoding="utf-8")

    def read_metrics(self) -> list[dict[str, Any]]:
        if not self.metrics_path.exists():
            return []
        return read_intact(self.metrics_path)

    def truncate_metrics(self, last_step: int) -> None:
        """Drop records of steps after ``last_step`` (they are redone after a resume), and the evaluation
        files of those steps. Records of ``last_step`` itself stay, its evaluation's included."""
        rows = [r for r in self.read_metrics() if int(r.get("step", 0)) <= last_step]
        tmp = self.metrics_path.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        os.replace(tmp, self.metrics_path)
        if self.eval_dir.is_dir():
            for path in self.eval_dir.glob("step-*.json"):
                step = path.name.removeprefix("step-").split(".")[0]
                if step.isdigit() and int(step) > last_step:
                    path.unlink()

    def plot(self) -> list[Path]:
        """Redraw the main curves from ``metrics.jsonl``; returns the PNG paths (only of charts with data:
        the eval charts appear once an ``[eval]`` evaluation is logged)."""
        figures = self.figures()
        if figures:
            self.plots_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for name, fig in figures.items():
            out = self.plots_dir / f"{name}.png"
            fig.savefig(out, dpi=90)
            written.append(out)
        return written

    def figures(self) -> dict[str, Figure]:
        """The charts :meth:`plot` writes, by name, drawn from ``metrics.jsonl`` (none before the first step).

        Steps are whole numbers on the x axis (one step is one tick, not 0.96-1.04); rates sit on a fixed
        0-1 axis and rewards on at least -1..1, so a flat line reads as its value; every line has its own
        hollow marker and line style, so lines with equal values stay visible. Plain matplotlib
        ``Figure`` objects (no pyplot state), so drawing in a training process changes no global backend.
        """
        from matplotlib.figure import Figure

        rows = self.read_metrics()
        if not rows:
            return {}
        figures: dict[str, Figure] = {}
        for name, (title, suffix) in _PLOTS.items():
            keys = sorted({k for r in rows for k in r if k.endswith(suffix)})
            if not keys:  # e.g. the eval charts of a run without [eval]
                continue
            fig = Figure(figsize=(7.5, 3.5))
            ax = fig.subplots()
            values: list[float] = []
            steps: list[int] = []
            for index, key in enumerate(keys):
                points = [(int(r["step"]), r[key]) for r in rows if isinstance(r.get(key), int | float)]
                points = [(s, float(v)) for s, v in points if math.isfinite(v)]
                if not points:
                    continue
                xs, ys = zip(*points, strict=True)
                steps.extend(xs)
                values.extend(ys)
                ax.plot(
                    xs,
                    ys,
                    marker=_MARKERS[index % len(_MARKERS)],
                    linestyle=_LINESTYLES[index % len(_LINESTYLES)],
                    markersize=10 - 1.5 * (index % 4),  # stacked equal points nest instead of covering
                    fillstyle="none",
                    clip_on=False,  # a marker at exactly 0 or 1 is drawn whole, not cut by the frame
                    label=key.removesuffix(suffix),
                )
            if not values:  # every value undefined (NaN): a chart without data is not drawn
                continue
            ax.set_title(title)
            ax.set_xlabel("step")
            _step_axis(ax, [int(r["step"]) for r in rows if isinstance(r.get("step"), int)] or steps)
            if keys and all(is_rate(k) for k in keys):
                ax.set_ylim(0.0, 1.0)
            elif suffix == "/reward_mean":
                ax.set_ylim(min(_REWARD_RANGE[0], *values), max(_REWARD_RANGE[1], *values))
            if ax.get_lines():  # beside the chart, never over a line at 1.0
                ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
            fig.tight_layout()
            figures[name] = fig
        return figures

    # --- checkpoints --------------------------------------------------------------------------

    def checkpoints(self) -> list[Path]:
        if not self.checkpoints_dir.exists():
            return []
        found = [
            p for p in self.checkpoints_dir.iterdir() if p.name.startswith("step-") and (p / "state.json").exists()
        ]
        return sorted(found, key=lambda p: int(p.name.removeprefix("step-")))

    def latest_checkpoint(self) -> Path | None:
        found = self.checkpoints()
        return found[-1] if found else None

    def save_checkpoint(
        self,
        step: int,
        model: torch.nn.Module,
        tokenizer: Any,
        optimizer: torch.optim.Optimizer,
        state: Mapping[str, Any],
        *,
        keep: int,
        base_model: str | None = None,
        trained: torch.nn.Module | None = None,
        world: World | None = None,
    ) -> Path | None:
        """Weights (safetensors), optimizer, RNG states and ``state`` for ``step``; keeps the newest ``keep``.

        Collective: under ``torch.distributed`` every rank must call it (``trained``, the DDP or FSDP2
        module the optimizer steps, gives up its full weights and optimizer state, and each rank its RNG
        states); rank 0 writes and returns the path, the others return ``None``. The optimizer state is
        keyed by parameter names, so a checkpoint resumes under any strategy.

        A LoRA model (one with ``peft_config``) saves only its adapter, with ``base_model`` (the spec it
        was trained from, required then) recorded next to it so the adapter can be loaded on its own.
        """
        world = world or World()
        trained = trained if trained is not None else model
        lora = hasattr(model, "peft_config")
        if lora and base_model is None:
            raise ValueError("save_checkpoint: a LoRA model needs base_model, the spec its adapter applies to")
        sharded = parallel.is_sharded(trained)
        weights_state = parallel.full_model_state_dict(trained) if sharded else None
        optimizer_state = parallel.full_optimizer_state_dict(trained, optimizer)
        rng_states = gather(_rng_state(), world)
        if not world.is_main:
            return None
        self.checkpoints_dir.mkdir(parents=True, exist_ok=True)
        final = self.checkpoints_dir / f"step-{step:06d}"
        tmp = self.checkpoints_dir / f".tmp-step-{step:06d}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        weights = tmp / ("adapter" if lora else "model")
        extra = {"state_dict": weights_state} if weights_state is not None else {}
        with quiet_progress():  # no "Writing model shards" bar through the run's own progress display
            model.save_pretrained(weights, safe_serialization=True, **extra)  # type: ignore[operator]
            tokenizer.save_pretrained(weights)
        if lora:
            write_adapter_base(weights, str(base_model))
        torch.save(optimizer_state, tmp / "optimizer.pt")
        torch.save({"ranks": rng_states}, tmp / "rng.pt")
        (tmp / "state.json").write_text(json.dumps({"step": step, **state}, indent=2), encoding="utf-8")
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        for old in self.checkpoints()[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
        return final

    @staticmethod
    def load_checkpoint_state(
        checkpoint: Path,
        optimizer: torch.optim.Optimizer,
        trained: torch.nn.Module,
        *,
        world: World | None = None,
    ) -> dict[str, Any]:
        """Restore the optimizer of ``trained`` (the module it steps) and this rank's RNG states; returns
        ``state.json``.

        Collective under ``torch.distributed``: rank 0 reads the optimizer state and broadcasts it (each
        rank keeps its shard under FSDP2). The model's weights are not touched: every rank loads them
        from the checkpoint's HF directory before wrapping. Checkpoints from before azr keyed optimizer
        state by parameter name load too (in one process).
        """
        world = world or World()
        saved: dict[str, Any] | None = None
        if world.is_main:
            saved = torch.load(checkpoint / "optimizer.pt", weights_only=True)
        legacy = bool(saved and saved.get("state") and all(isinstance(k, int) for k in saved["state"]))
        if legacy and saved is not None and world.size == 1:
            optimizer.load_state_dict(saved)
        elif legacy:
            raise ConfigError(f"{checkpoint}: an old-format optimizer state resumes in one process only")
        else:
            parallel.load_full_optimizer_state_dict(trained, optimizer, saved if world.is_main else None)
        rng = torch.load(checkpoint / "rng.pt", weights_only=False)
        ranks = rng.get("ranks", [rng])
        if len(ranks) != world.size:
            log.warning(
                "%s was written by %d rank(s), this run has %d: each rank continues rank 0's random stream "
                "(training goes on, but not exactly as an uninterrupted run would)",
                checkpoint,
                len(ranks),
                world.size,
            )
        mine = ranks[world.rank] if len(ranks) == world.size else ranks[0]
        random.setstate(mine["python"])
        np.random.set_state(mine["numpy"])
        torch.set_rng_state(mine["torch"])
        if mine["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(mine["cuda"])
        state: dict[str, Any] = json.loads((checkpoint / "state.json").read_text(encoding="utf-8"))
        return state


def _step_axis(ax: Axes, steps: list[int]) -> None:
    """Whole-number step ticks, with half a step of room either side of the first and last step."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    if steps:
        first, last = min(steps), max(steps)
        pad = max(0.5, 0.02 * (last - first))
        ax.set_xlim(first - pad, last + pad)
