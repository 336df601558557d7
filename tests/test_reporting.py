"""Metrics sinks: every record reaches each sink of run.report_to under the same names and values."""

from __future__ import annotations

import importlib.util
import json

import pytest

from azr.exceptions import ConfigError
from azr.runs.directory import RunDirectory
from azr.runs.reporting import Reporter, check_report_to

RECORDS = [
    {"step": 0, "time": 1.0, "eval/cruxeval-o/pass@1": 0.25, "eval/cruxeval-o/parsed_accuracy": float("nan")},
    {"step": 1, "time": 2.0, "deduction/solve/accuracy": 0.5, "update/loss": -0.125, "buffer/deduction": 7},
    {"step": 1, "time": 3.0, "eval/cruxeval-o/pass@1": 0.5, "eval/cruxeval-o/parsed_accuracy": 1.0},
]


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["tensorboard"], r"run\.report_to must include 'jsonl'"),
        ([], r"run\.report_to must include 'jsonl'"),
        (["jsonl", "jsonl"], r"run\.report_to names a sink twice"),
        (["jsonl", "mlflow"], r"run\.report_to: unknown sink"),
    ],
)
def test_bad_sink_lists_are_config_errors(names, message):
    with pytest.raises(ConfigError, match=message):
        check_report_to(names)


def test_jsonl_alone_writes_metrics_jsonl_with_nan_as_null(tmp_path):
    run = RunDirectory(tmp_path)
    reporter = Reporter(["jsonl"], run)
    for record in RECORDS:
        reporter.log(record)
    reporter.close()
    rows = run.read_metrics()
    assert rows[0]["eval/cruxeval-o/parsed_accuracy"] is None
    assert rows[1] == RECORDS[1]
    assert not list(tmp_path.glob("events.out.tfevents.*"))
    with pytest.raises(ValueError, match="needs its 'step'"):
        reporter.log({"x": 1.0})


def test_tensorboard_gets_what_metrics_jsonl_gets(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = RunDirectory(tmp_path)
    reporter = Reporter(["jsonl", "tensorboard"], run)
    for record in RECORDS:
        reporter.log(record)
    reporter.close()
    accumulator = EventAccumulator(str(tmp_path), size_guidance={"scalars": 0})
    accumulator.Reload()
    got = {t: [(e.step, e.value) for e in accumulator.Scalars(t)] for t in accumulator.Tags()["scalars"]}
    expected: dict[str, list[tuple[int, float]]] = {}
    for row in run.read_metrics():
        for key, value in row.items():
            if key not in ("step", "time") and value is not None:
                expected.setdefault(key, []).append((row["step"], float(value)))
    assert got.keys() == expected.keys()
    for key, points in expected.items():
        assert got[key] == [(s, pytest.approx(v)) for s, v in points], key
    # NaN is undefined: null in metrics.jsonl, no point in TensorBoard; the wall clock is TensorBoard's own.
    assert got["eval/cruxeval-o/parsed_accuracy"] == [(1, 1.0)]
    assert "time" not in got and "step" not in got


def test_a_resumed_run_hides_the_interrupted_steps_in_tensorboard(tmp_path):
    """As metrics.jsonl is truncated to the checkpoint, TensorBoard drops the later points of the old process."""
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = RunDirectory(tmp_path)
    first = Reporter(["jsonl", "tensorboard"], run)
    for step in range(1, 5):
        first.log({"step": step, "update/loss": float(step)})
    first.close()
    run.truncate_metrics(2)  # resumed from the step-2 checkpoint
    second = Reporter(["jsonl", "tensorboard"], run, purge_step=3)
    for step in (3, 4):
        second.log({"step": step, "update/loss": 10.0 * step})
    second.close()
    accumulator = EventAccumulator(str(tmp_path), size_guidance={"scalars": 0})
    accumulator.Reload()
    points = [(e.step, e.value) for e in accumulator.Scalars("update/loss")]
    assert points == [(1, 1.0), (2, 2.0), (3, 30.0), (4, 40.0)]
    assert [(r["step"], r["update/loss"]) for r in run.read_metrics()] == points


@pytest.mark.skipif(importlib.util.find_spec("wandb") is not None, reason="wandb is installed here")
def test_wandb_asked_for_but_missing_says_what_to_install():
    with pytest.raises(ConfigError, match=r"run\.report_to includes 'wandb'.*pip install 'azr\[wandb\]'"):
        check_report_to(["jsonl", "wandb"])


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is not None, reason="tensorboard is installed here")
def test_tensorboard_asked_for_but_missing_says_what_to_install():
    with pytest.raises(ConfigError, match=r"run\.report_to includes 'tensorboard'.*pip install 'azr\[tensorboard\]'"):
        check_report_to(["jsonl", "tensorboard"])


def _wandb_history(path):
    """The history rows of a W&B transaction log (``run-*.wandb``): a LevelDB-format log of 32 KiB blocks,
    each record split into chunks with a 7-byte header (crc, length, type: 1 full, 2 first, 3 middle,
    4 last), after the 7-byte file header ``:W&B``+magic+version; each record is a protobuf ``Record``."""
    import struct

    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    pos, block, parts, rows = 7, 32768, [], []
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:
            pos += left  # a block's tail too short for a header is padding
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if kind == 0 and length == 0:
            pos += left
            continue
        parts.append(data[pos + 7 : pos + 7 + length])
        pos += 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(b"".join(parts))
            parts = []
            if record.WhichOneof("record_type") == "history":
                rows.append({"/".join(i.nested_key) or i.key: json.loads(i.value_json) for i in record.history.item})
    return rows


def test_wandb_logs_offline_into_the_run_directory(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    run = RunDirectory(tmp_path)
    reporter = Reporter(["jsonl", "wandb"], run, config={"run": {"steps": 1}})
    for record in RECORDS:
        reporter.log(record)
    reporter.close()
    (offline,) = (tmp_path / "wandb").glob("offline-run-*")  # offline: nothing was sent anywhere
    (log,) = offline.glob("run-*.wandb")
    history = [
        {k: v for k, v in row.items() if not k.startswith("_")} | {"step": row["_step"]} for row in _wandb_history(log)
    ]
    # One W&B row per step (step 1's two records merge); NaN left out, as in TensorBoard.
    assert history == [
        {"step": 0, "eval/cruxeval-o/pass@1": 0.25},
        {
            "step": 1,
            **{k: v for k, v in RECORDS[1].items() if k not in ("step", "time")},
            **{k: v for k, v in RECORDS[2].items() if k not in ("step", "time")},
        },
    ]
