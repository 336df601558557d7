"""One rank of the parallel-update tests (started by torchrun, or alone for the one-process reference).

Usage: parallel_worker.py MODEL_DIR OUT STRATEGY[+lora][+kl][+bf16] STEPS [RESUME_FROM]. Every rank builds the same 12 rollouts
of unequal lengths (so ranks hold unequal token counts), trains on its share ``rollouts[rank::world]``
for STEPS AdamW steps with clipping active, and writes what it ended with. With RESUME_FROM it first
restores the optimizer state and weights saved there (a collective load). ``+lora`` trains LoRA adapters
applied before wrapping; ``+kl`` adds a KL penalty against a perturbed copy of the model, sharded like the
policy under FSDP2 (as the trainer does); ``+bf16`` wraps with FSDP2's mixed precision (bf16 compute,
fp32 master shards and reduction).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import torch

from azr.models import parallel
from azr.models.distributed import init_world
from azr.models.loading import load_model
from azr.selfplay.config import OptimConfig
from azr.selfplay.policy import PolicyUpdater, Rollout


def rollouts(vocab: int, model: torch.nn.Module) -> list[Rollout]:
    gen = torch.Generator().manual_seed(1234)
    out = []
    for k in range(12):
        prompt = torch.randint(3, vocab, (3 + k % 4,), generator=gen).tolist()
        tokens = torch.randint(3, vocab, (2 + (5 * k) % 9,), generator=gen).tolist()
        with torch.no_grad():  # the model's own log-probs, nudged so that some ratios leave the clip range
            logits = model(input_ids=torch.tensor([prompt + tokens])).logits[0, len(prompt) - 1 : -1]
            logp = torch.log_softmax(logits.float(), -1).gather(1, torch.tensor(tokens)[:, None])[:, 0]
        noise = 0.4 * torch.randn(len(tokens), generator=gen)
        advantage = float(torch.randn((), generator=gen))
        out.append(Rollout(prompt, tokens, (logp + noise).tolist(), advantage))
    return out


def digest(state: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for name in sorted(state):
        h.update(name.encode())
        h.update(state[name].detach().float().contiguous().numpy().tobytes())
    return h.hexdigest()


def main() -> None:
    model_dir, out, strategy, steps_text, *resume = sys.argv[1:]
    steps = int(steps_text)
    world = init_world()
    torch.manual_seed(0)
    model, tokenizer = load_model(model_dir, dtype="float32", device="cpu")
    batch = rollouts(len(tokenizer), model)
    strategy, *options = strategy.split("+")
    if "lora" in options:  # LoRA before sharding, B initialised at random so the merge is not W + 0
        from peft import LoraConfig, get_peft_model

        from azr.models.loading import peft_quiet

        lora = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False)
        with peft_quiet():
            model = get_peft_model(model, lora)
    resolved = parallel.resolve_strategy(strategy, world)  # type: ignore[arg-type]
    bf16 = "bf16" in options  # FSDP2's mixed precision: bf16 compute, fp32 master shards and reduction
    trained = parallel.wrap(model, resolved, world, torch.device("cpu"), bf16_params=bf16)
    ref_model = None
    if "kl" in options:  # a KL reference that differs from the policy already at step 1, as the trainer wraps it
        ref_model, _ = load_model(model_dir, dtype="float32", device="cpu")
        ref_model.requires_grad_(False)
        noise = torch.Generator().manual_seed(99)
        with torch.no_grad():
            for param in ref_model.parameters():
                param.add_(0.05 * torch.randn(param.shape, generator=noise))
        if resolved == "fsdp2":
            parallel.wrap(ref_model, resolved, world, torch.device("cpu"), bf16_params=bf16)
    updater = PolicyUpdater(
        trained,
        # The PPO ratio against the (nudged) sampler log-probs, so that the clip acts across ranks; the
        # rollout correction's own arithmetic is per token and tested in tests/test_losses.py.
        OptimConfig(
            lr=2e-3,
            grad_clip=0.05,
            micro_batch_size=2,
            kl_coef=0.5 if ref_model is not None else 0.0,
            rollout_correction="none",
        ),
        pad_id=int(tokenizer.pad_token_id),
        device=torch.device("cpu"),
        ref_model=ref_model,
    )
    share = batch[world.rank :: world.size]
    if resume:
        saved = Path(resume[0])
        weights = torch.load(saved / "weights.pt", weights_only=True) if world.is_main else None
        optim = torch.load(saved / "optimizer.pt", weights_only=False) if world.is_main else None
        parallel.load_full_model_state_dict(trained, weights)
        parallel.load_full_optimizer_state_dict(trained, updater.optimizer, optim)
    stats = [updater.update(share) for _ in range(steps)]
    weights = parallel.full_model_state_dict(trained)
    optim = parallel.full_optimizer_state_dict(trained, updater.optimizer)
    local = {k: v.full_tensor() if hasattr(v, "full_tensor") else v for k, v in trained.state_dict().items()}
    buckets = list(parallel.hf_weight_buckets(trained, bucket_bytes=64 << 10))
    feed = dict(pair for bucket in buckets for pair in bucket)
    record = {
        "world": world.size,
        "param_dtypes": sorted({str(p.dtype) for p in trained.parameters()}),
        "stats": stats,
        "local_digest": digest(local),
        "feed": {
            "names": list(feed),
            "bucket_bytes": [sum(t.numel() * t.element_size() for _, t in b) for b in buckets],
        },
        "feed_digest": digest(feed),
    }
    if world.is_main:
        Path(out).mkdir(parents=True, exist_ok=True)
        torch.save(weights, Path(out) / "weights.pt")
        torch.save(optim, Path(out) / "optimizer.pt")
        torch.save(feed, Path(out) / "feed.pt")
    Path(out).mkdir(parents=True, exist_ok=True)
    Path(out, f"rank{world.rank}.json").write_text(json.dumps(record))
    if world.size > 1:
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
