"""Data-parallel self-play with torch.distributed (gloo, 2 CPU processes launched by torchrun)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from test_trainer import small


def test_two_gloo_ranks_end_a_step_with_identical_weights_and_buffers(taught_model_dir, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    args = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(Path(__file__).with_name("dist_worker.py")),
        str(tmp_path / "run"),
        str(out),
        *small(taught_model_dir, 1, "sandbox.workers=1"),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parent)}
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]
    assert ranks[0]["before"] == ranks[1]["before"]
    assert ranks[0]["after"] == ranks[1]["after"]  # DDP averaged the same gradients on both ranks
    assert ranks[0]["after"] != ranks[0]["before"]  # and the step really changed the weights
    assert ranks[0]["buffers"] == ranks[1]["buffers"]
    # Rank 0 alone writes the run's files.
    assert (tmp_path / "run" / "checkpoints" / "step-000001" / "state.json").exists()
    assert json.loads((tmp_path / "run" / "checkpoints" / "step-000001" / "state.json").read_text())["world_size"] == 2
