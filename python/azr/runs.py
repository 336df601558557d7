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
the optimizer and the RNG states; :func:`azr.models.load_model` loads an ``adapter/`` directory as
base + adapter merged in memory, which is how ``azr eval RUN`` reads it.

Checkpoints are written to a temporary directory and renamed into place, so a kill mid-save leaves
the previous checkpoint intact.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from azr.exceptions import ConfigError
from azr.jsonl import iter_jsonl
from azr.models import write_adapter_base

__all__ = ["RunDirectory"]

_PLOTS = {
    "rewards": ("reward mean per group", "/reward_mean"),
    "solve_rates": ("solver accuracy per task type", "/solve/accuracy"),
    "valid_rates": ("valid-proposal rate per task type", "/propose/valid_rate"),
    "eval_pass1": ("benchmark pass@1 (eval)", "/pass@1"),
    "eval_unparsed": ("benchmark answers with nothing to extract (eval)", "/unparsed_rate"),
}


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
        # A line cut short by a kill decodes to a ValueError and is skipped.
        return [row for _, _, row in iter_jsonl(self.metrics_path) if not isinstance(row, ValueError)]

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
        """Redraw the main curves from ``metrics.jsonl``; returns the PNG paths (only of curves with data:
        the eval plots appear once an ``[eval]`` evaluation is logged)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        rows = self.read_metrics()
        if not rows:
            return []
        self.plots_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for name, (title, suffix) in _PLOTS.items():
            keys = sorted({k for r in rows for k in r if k.endswith(suffix)})
            if not keys:
                continue
            fig, ax = plt.subplots(figsize=(6, 3.5))
            for key in keys:
                points = [(r["step"], r[key]) for r in rows if isinstance(r.get(key), int | float)]
                points = [(s, v) for s, v in points if math.isfinite(v)]
                if points:
                    ax.plot(*zip(*points, strict=True), marker="o", markersize=3, label=key.removesuffix(suffix))
            ax.set_title(title)
            ax.set_xlabel("step")
            if ax.lines:
                ax.legend(fontsize=7)
            fig.tight_layout()
            out = self.plots_dir / f"{name}.png"
            fig.savefig(out, dpi=90)
            plt.close(fig)
            written.append(out)
        return written

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
    ) -> Path:
        """Weights (safetensors), optimizer, RNG states and ``state`` for ``step``; keeps the newest ``keep``.

        A LoRA model (one with ``peft_config``) saves only its adapter, with ``base_model`` (the spec it
        was trained from, required then) recorded next to it so the adapter can be loaded on its own.
        """
        self.checkpoints_dir.mkdir(parents=True, exist_ok=True)
        final = self.checkpoints_dir / f"step-{step:06d}"
        tmp = self.checkpoints_dir / f".tmp-step-{step:06d}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        if hasattr(model, "peft_config"):
            if base_model is None:
                raise ValueError("save_checkpoint: a LoRA model needs base_model, the spec its adapter applies to")
            weights = tmp / "adapter"
            model.save_pretrained(weights, safe_serialization=True)  # type: ignore[operator]
            write_adapter_base(weights, base_model)
        else:
            weights = tmp / "model"
            model.save_pretrained(weights, safe_serialization=True)  # type: ignore[operator]
        tokenizer.save_pretrained(weights)
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        torch.save(
            {
                "python": random.getstate(),
                "numpy": np.random.get_state(),
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            },
            tmp / "rng.pt",
        )
        (tmp / "state.json").write_text(json.dumps({"step": step, **state}, indent=2), encoding="utf-8")
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        for old in self.checkpoints()[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
        return final

    @staticmethod
    def load_checkpoint_state(checkpoint: Path, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
        """Restore optimizer and RNG states; returns ``state.json``."""
        optimizer.load_state_dict(torch.load(checkpoint / "optimizer.pt", weights_only=True))
        rng = torch.load(checkpoint / "rng.pt", weights_only=False)
        random.setstate(rng["python"])
        np.random.set_state(rng["numpy"])
        torch.set_rng_state(rng["torch"])
        if rng["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        state: dict[str, Any] = json.loads((checkpoint / "state.json").read_text(encoding="utf-8"))
        return state
