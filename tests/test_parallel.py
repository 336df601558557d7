"""Exact gradients at any world size: a 2-rank DDP or FSDP2 step equals one process's step on the same
global batch (gloo, 2 CPU processes launched by torchrun, the tiny model), and resume is exact."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from azr import parallel  # noqa: E402
from azr.distributed import World  # noqa: E402
from azr.exceptions import ConfigError  # noqa: E402

WORKER = Path(__file__).with_name("parallel_worker.py")


def run(model_dir: Path, out: Path, strategy: str, ranks: int, steps: int = 2, *resume: Path) -> list[dict]:
    launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={ranks}"] if ranks > 1 else []
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    proc = subprocess.run(
        [sys.executable, *launcher, str(WORKER), str(model_dir), str(out), strategy, str(steps), *map(str, resume)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(ranks)]


def max_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


@pytest.fixture(scope="module")
def single(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    out = tmp_path_factory.mktemp("single")
    return out, run(tiny_model_dir, out, "none", 1)


@pytest.mark.parametrize("strategy", ["ddp", "fsdp2"])
def test_a_two_rank_step_equals_one_process_on_the_same_global_batch(
    tiny_model_dir: Path, tmp_path: Path, single: tuple[Path, list[dict]], strategy: str
) -> None:
    reference_dir, (reference,) = single
    ranks = run(tiny_model_dir, tmp_path, strategy, 2)
    ref_weights = torch.load(reference_dir / "weights.pt", weights_only=True)
    weights = torch.load(tmp_path / "weights.pt", weights_only=True)
    assert max_difference(weights, ref_weights) < 1e-5
    for rank in ranks:
        for got, want in zip(rank["stats"], reference["stats"], strict=True):
            # The gradient norm is the global batch's (clipping was active: grad_clip 0.05), and so are
            # the metrics: tokens and loss over both ranks, not one rank's share.
            assert want["grad_norm"] > 0.05
            for key in ("grad_norm", "loss", "tokens", "clip_fraction", "ratio_mean", "entropy"):
                assert got[key] == pytest.approx(want[key], rel=1e-5, abs=1e-7), (key, got, want)
    # Both ranks end with identical full weights.
    assert ranks[0]["local_digest"] == ranks[1]["local_digest"]


def test_resume_from_an_fsdp2_checkpoint_equals_an_uninterrupted_run(tiny_model_dir: Path, tmp_path: Path) -> None:
    """Two steps, a collective save, a broadcast load and a third step equal three steps straight."""
    two, resumed, straight = tmp_path / "two", tmp_path / "resumed", tmp_path / "straight"
    run(tiny_model_dir, two, "fsdp2", 2, 2)
    run(tiny_model_dir, resumed, "fsdp2", 2, 1, two)
    run(tiny_model_dir, straight, "fsdp2", 2, 3)
    a = torch.load(resumed / "weights.pt", weights_only=True)
    b = torch.load(straight / "weights.pt", weights_only=True)
    assert max_difference(a, b) < 1e-6
    # The optimizer state came back too: without it the third step (AdamW's moments) would differ.
    moments = torch.load(resumed / "optimizer.pt", weights_only=False)["state"]
    assert moments and all(float(s["step"]) == 3.0 for s in moments.values())
    before = torch.load(two / "weights.pt", weights_only=True)
    assert max_difference(a, before) > 1e-4  # the resumed step really moved the weights


def test_strategy_resolution_and_the_torch_version_check() -> None:
    assert parallel.resolve_strategy("auto", World()) == "none"
    assert parallel.resolve_strategy("auto", World(0, 2, 0)) == "ddp"
    with pytest.raises(ConfigError, match="diverging replicas"):
        parallel.resolve_strategy("none", World(0, 2, 0))
    with pytest.raises(ConfigError, match=r"torch >= 2\.9"):
        parallel._check_torch_for_fsdp2("2.8.1+cu128")
    parallel._check_torch_for_fsdp2("2.9.0")
