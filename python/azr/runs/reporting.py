"""Metrics sinks (``run.report_to``): every record goes to each sink under the same names and values.

``jsonl`` appends to ``RUN/metrics.jsonl`` (the run's own record: plots and ``--resume`` read it, so it
is always required); ``tensorboard`` writes event files beside it (``tensorboard --logdir RUN``);
``wandb`` logs to Weights & Biases, offline unless ``WANDB_MODE`` says otherwise (``wandb sync`` uploads
later). A record is a flat mapping with an integer ``step``; ``time`` is the wall clock, which
TensorBoard and W&B stamp on their own, so only ``metrics.jsonl`` keeps it as a value. Undefined values
(NaN, e.g. a rate with nothing to count) are ``null`` in ``metrics.jsonl`` and left out elsewhere.

The optional packages are checked by :func:`check_report_to` before anything loads, so a missing one
is a :class:`~azr.exceptions.ConfigError` naming what to install, not an ``ImportError`` minutes in.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from azr.exceptions import ConfigError
from azr.runs.directory import RunDirectory

__all__ = ["SINKS", "JsonlSink", "MetricsSink", "Reporter", "TensorBoardSink", "WandbSink", "check_report_to"]

log = logging.getLogger(__name__)

SINKS = ("jsonl", "tensorboard", "wandb")

_PACKAGES = {"tensorboard": ("tensorboard", "azr[tensorboard]"), "wandb": ("wandb", "azr[wandb]")}

_NOT_VALUES = ("step", "time")


class MetricsSink(Protocol):
    """One destination for metrics records."""

    def log(self, record: Mapping[str, Any]) -> None: ...
    def close(self) -> None: ...


def check_report_to(names: Sequence[str]) -> None:
    """A ConfigError for an unknown, repeated or uninstalled sink, or a list without ``jsonl``."""
    unknown = [n for n in names if n not in SINKS]
    if unknown:
        raise ConfigError(f"run.report_to: unknown sink(s) {unknown}; choose from {', '.join(SINKS)}")
    if len(set(names)) != len(names):
        raise ConfigError(f"run.report_to names a sink twice: {list(names)}")
    if "jsonl" not in names:
        raise ConfigError(
            "run.report_to must include 'jsonl': RUN/metrics.jsonl is the run's record, which the plots and "
            f"--resume read (got {list(names)})"
        )
    for name in names:
        if name in _PACKAGES:
            module, extra = _PACKAGES[name]
            if importlib.util.find_spec(module) is None:
                raise ConfigError(
                    f"run.report_to includes {name!r} but the {module} package is not installed: "
                    f"pip install '{extra}' (or pip install {module}), or drop it from run.report_to"
                )


def _values(record: Mapping[str, Any]) -> dict[str, float]:
    """The record's finite numbers, without ``step`` and ``time``: what TensorBoard and W&B get."""
    out: dict[str, float] = {}
    for key, value in record.items():
        if key in _NOT_VALUES or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if math.isfinite(value):
            out[key] = float(value)
    return out


class JsonlSink:
    """``RUN/metrics.jsonl``, one JSON object per record (see :meth:`RunDirectory.log_metrics`)."""

    def __init__(self, run: RunDirectory) -> None:
        self.run = run

    def log(self, record: Mapping[str, Any]) -> None:
        self.run.log_metrics(record)

    def close(self) -> None:
        pass


class TensorBoardSink:
    """TensorBoard event files in the run directory, one scalar series per metric name.

    On resume, ``purge_step`` makes TensorBoard hide what an interrupted process wrote after the
    checkpoint it resumed from (those steps are redone), as ``metrics.jsonl`` is truncated.
    """

    def __init__(self, run: RunDirectory, *, purge_step: int | None = None) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(run.path), purge_step=purge_step)

    def log(self, record: Mapping[str, Any]) -> None:
        step = int(record["step"])
        for key, value in _values(record).items():
            self.writer.add_scalar(key, value, global_step=step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class WandbSink:
    """A W&B run stored under ``RUN/wandb/``; offline unless the user set ``WANDB_MODE`` (azr never
    uploads on its own). A resumed training process opens a new W&B run in the same group."""

    def __init__(self, run: RunDirectory, config: Mapping[str, Any]) -> None:
        import wandb

        self.wandb = wandb
        self.run = wandb.init(
            dir=str(run.path),
            mode=os.environ.get("WANDB_MODE", "offline"),
            project=os.environ.get("WANDB_PROJECT", "azr"),
            group=run.path.name,
            config=dict(config),
        )

    def log(self, record: Mapping[str, Any]) -> None:
        self.run.log(_values(record), step=int(record["step"]))

    def close(self) -> None:
        self.run.finish()


class Reporter:
    """Fans each record out to the sinks of ``run.report_to`` (call on the main rank only)."""

    def __init__(
        self,
        names: Sequence[str],
        run: RunDirectory,
        *,
        config: Mapping[str, Any] | None = None,
        purge_step: int | None = None,
    ) -> None:
        check_report_to(names)
        self.sinks: list[MetricsSink] = []
        for name in names:
            if name == "jsonl":
                self.sinks.append(JsonlSink(run))
            elif name == "tensorboard":
                self.sinks.append(TensorBoardSink(run, purge_step=purge_step))
            else:
                self.sinks.append(WandbSink(run, config or {}))

    def log(self, record: Mapping[str, Any]) -> None:
        if "step" not in record:
            raise ValueError("a metrics record needs its 'step'")
        for sink in self.sinks:
            sink.log(record)

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()
