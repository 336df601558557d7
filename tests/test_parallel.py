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

from azr.exceptions import ConfigError  # noqa: E402
from azr.models import parallel  # noqa: E402
from azr.models.distributed import World  # noqa: E402

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


@pytest.mark.parametrize("strategy", ["ddp", "fsdp2"])
def test_the_kl_penalty_against_a_reference_model_is_exact_across_ranks(
    tiny_model_dir: Path, tmp_path: Path, strategy: str
) -> None:
    """The KL reference is sharded too under FSDP2: its log-probs, the penalty's gradient and the metric
    must still be those of one process on the same global batch."""
    reference = run(tiny_model_dir, tmp_path / "single", "none+kl", 1)[0]
    ranks = run(tiny_model_dir, tmp_path / "ranks", f"{strategy}+kl", 2)
    ref_weights = torch.load(tmp_path / "single" / "weights.pt", weights_only=True)
    weights = torch.load(tmp_path / "ranks" / "weights.pt", weights_only=True)
    # AdamW divides by sqrt(v): float32 sums taken in another order move an entry whose gradient is near
    # zero by up to ~1e-5 after two steps (1.3e-5 measured for DDP here, 7.5e-6 without the penalty), while
    # a wrong penalty gradient moves entries by the order of lr (2e-3). The metrics below match to 1e-5.
    assert max_difference(weights, ref_weights) < 5e-5
    for rank in ranks:
        for got, want in zip(rank["stats"], reference["stats"], strict=True):
            assert want["kl"] > 1e-3  # the reference differs from the policy: the penalty is in the loss
            for key in ("kl", "loss", "grad_norm"):
                assert got[key] == pytest.approx(want[key], rel=1e-5, abs=1e-7), (key, got, want)
    assert ranks[0]["local_digest"] == ranks[1]["local_digest"]


def test_fsdp2_mixed_precision_keeps_fp32_master_weights_and_stays_within_bf16_rounding(
    tiny_model_dir: Path, tmp_path: Path, single: tuple[Path, list[dict]]
) -> None:
    """The GPU configuration (bf16 compute, fp32 master shards and reduction), run on CPU: what is
    trained and checkpointed stays float32, and the step's loss and gradient norm are the fp32 step's
    up to bf16 rounding (measured 2e-3 relative; the weights themselves are not compared: AdamW turns
    rounding in near-zero gradients into steps of either sign of size lr)."""
    _, (reference,) = single
    ranks = run(tiny_model_dir, tmp_path, "fsdp2+bf16", 2)
    weights = torch.load(tmp_path / "weights.pt", weights_only=True)
    assert {str(t.dtype) for t in weights.values()} == {"torch.float32"}
    for rank in ranks:
        assert rank["param_dtypes"] == ["torch.float32"]
        for got, want in zip(rank["stats"], reference["stats"], strict=True):
            for key in ("loss", "grad_norm", "tokens"):
                assert got[key] == pytest.approx(want[key], rel=1e-2), (key, got, want)
            assert got["grad_norm"] != want["grad_norm"]  # it did compute in bf16
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


def test_the_weight_feed_is_the_full_state_dict_identical_on_every_rank(
    tiny_model_dir: Path, tmp_path: Path, single: tuple[Path, list[dict]]
) -> None:
    reference_dir, _ = single
    ranks = run(tiny_model_dir, tmp_path, "fsdp2", 2)
    assert ranks[0]["feed"] == ranks[1]["feed"] and ranks[0]["feed_digest"] == ranks[1]["feed_digest"]
    feed = torch.load(tmp_path / "feed.pt", weights_only=True)
    weights = torch.load(tmp_path / "weights.pt", weights_only=True)
    assert list(feed) == list(weights)  # HF names, the state dict's order
    assert max_difference(feed, weights) == 0.0
    assert max_difference(feed, torch.load(reference_dir / "feed.pt", weights_only=True)) < 1e-5
    # Bounded buckets: 64 KiB each, give or take one tensor.
    largest = max(t.numel() * t.element_size() for t in feed.values())
    sizes = ranks[0]["feed"]["bucket_bytes"]
    assert len(sizes) > 1 and all(size < (64 << 10) + largest for size in sizes)


def test_lora_under_fsdp2_feeds_merged_weights(tiny_model_dir: Path, tmp_path: Path) -> None:
    ranks = run(tiny_model_dir, tmp_path, "fsdp2+lora", 2)
    assert ranks[0]["feed_digest"] == ranks[1]["feed_digest"]
    feed = torch.load(tmp_path / "feed.pt", weights_only=True)
    full = torch.load(tmp_path / "weights.pt", weights_only=True)  # peft names: base_layer, lora_A/B
    plain = {k: v for k, v in full.items() if ".lora_" not in k}
    assert len(feed) == len(plain) and not any("lora" in name or "base_layer" in name for name in feed)
    merged = 0
    for key, base in plain.items():
        name = key.removeprefix("base_model.model.").replace(".base_layer.", ".")
        if ".base_layer.weight" in key:
            prefix = key.removesuffix(".base_layer.weight")
            a, b = full[f"{prefix}.lora_A.default.weight"], full[f"{prefix}.lora_B.default.weight"]
            expected = base + (8 / 4) * (b @ a)  # W + (alpha / r) B A
            assert float((b @ a).abs().max()) > 0
            merged += 1
        else:
            expected = base
        assert float((feed[name] - expected).abs().max()) < 1e-6, name
    assert merged >= 8  # every linear layer of the 2-layer model


def test_the_feed_of_a_lora_model_leaves_its_base_weights_untouched(tiny_model_dir: Path) -> None:
    from peft import LoraConfig, get_peft_model

    from azr.models.loading import load_model, peft_quiet

    model, _ = load_model(tiny_model_dir, dtype="float32", device="cpu")
    with peft_quiet():
        model = get_peft_model(
            model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False)
        )
    before = {k: v.clone() for k, v in model.state_dict().items()}
    for _ in range(3):
        list(parallel.hf_weight_buckets(model))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    with pytest.raises(ValueError, match="bucket_bytes"):
        next(parallel.hf_weight_buckets(model, bucket_bytes=0))


def test_strategy_resolution_and_the_torch_version_check() -> None:
    assert parallel.resolve_strategy("auto", World()) == "none"
    assert parallel.resolve_strategy("auto", World(0, 2, 0)) == "ddp"
    with pytest.raises(ConfigError, match="diverging replicas"):
        parallel.resolve_strategy("none", World(0, 2, 0))
    with pytest.raises(ConfigError, match=r"torch >= 2\.9"):
        parallel._check_torch_for_fsdp2("2.8.1+cu128")
    parallel._check_torch_for_fsdp2("2.9.0")
