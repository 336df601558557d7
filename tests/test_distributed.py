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


def _pythonpath() -> str:
    """tests/ (for dist_worker's imports) ahead of the caller's PYTHONPATH, so the ranks run the azr under test."""
    return os.pathsep.join(p for p in (str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")) if p)


def two_ranks(run_dir: Path, out: Path, overrides: list[str]) -> None:
    """Train with ``overrides`` on two gloo ranks (tests/dist_worker.py), each writing ``out/rank<r>.json``."""
    worker = str(Path(__file__).with_name("dist_worker.py"))
    args = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", worker]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": _pythonpath()}
    proc = subprocess.run(
        [*args, str(run_dir), str(out), *overrides], capture_output=True, text=True, timeout=600, env=env
    )
    assert proc.returncode == 0, proc.stderr[-4000:]


def test_two_gloo_ranks_end_a_step_with_identical_weights_and_buffers(taught_model_dir, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    two_ranks(tmp_path / "run", out, small(taught_model_dir, 1, "sandbox.workers=1"))
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]
    assert ranks[0]["before"] == ranks[1]["before"]
    assert ranks[0]["after"] == ranks[1]["after"]  # DDP averaged the same gradients on both ranks
    assert ranks[0]["after"] != ranks[0]["before"]  # and the step really changed the weights
    assert ranks[0]["buffers"] == ranks[1]["buffers"]
    # Rank 0 alone writes the run's files.
    assert (tmp_path / "run" / "checkpoints" / "step-000001" / "state.json").exists()
    assert json.loads((tmp_path / "run" / "checkpoints" / "step-000001" / "state.json").read_text())["world_size"] == 2


def test_two_gloo_ranks_split_an_evaluation_and_rank_0_logs_the_merged_result(taught_model_dir, tmp_path):
    """Each rank evaluates every other problem; rank 0 logs one record per evaluation, over all problems in
    benchmark order, and neither rank waits forever for the other."""
    from conftest import CRUXEVAL

    if not CRUXEVAL.is_file():
        pytest.skip(f"CRUXEval data not found at {CRUXEVAL}")
    out = tmp_path / "out"
    out.mkdir()
    run_dir = tmp_path / "run"
    overrides = small(
        taught_model_dir,
        1,
        "sandbox.workers=1",
        "eval.every=1",
        f"eval.cruxeval={json.dumps(str(CRUXEVAL))}",
        f"eval.cruxeval_prompts={json.dumps(str(CRUXEVAL.parent / 'prompts.json'))}",  # the published protocol
        "eval.limit=3",
        "eval.max_new_tokens=32",
        'eval.benchmarks=["cruxeval-o", "humaneval"]',
    )
    two_ranks(run_dir, out, overrides)
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in rows if "eval/seconds" in r]
    assert [r["step"] for r in evals] == [0, 1]  # once per evaluation, by rank 0 alone
    first_ids = [json.loads(line)["id"] for line in CRUXEVAL.read_text().splitlines()[:3]]
    for step in (0, 1):
        report = json.loads((run_dir / "eval" / f"step-{step:06d}.json").read_text())
        assert report["settings"]["world_size"] == 2
        crux = report["benchmarks"]["cruxeval-o"]
        assert [p["id"] for p in crux["per_problem"]] == first_ids  # rank 0 had 0 and 2, rank 1 had 1
        assert [p["id"] for p in report["benchmarks"]["humaneval"]["per_problem"]] == [
            f"HumanEval/{i}" for i in range(3)
        ]
        generations = json.loads((run_dir / "eval" / f"step-{step:06d}.generations.json").read_text())
        assert list(generations["cruxeval-o"]) == first_ids
