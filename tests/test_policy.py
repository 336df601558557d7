"""The policy update on a real tiny model: it learns a verifiable objective, and batching is invisible."""

from __future__ import annotations

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from azr.models.loading import load_model  # noqa: E402
from azr.sampling.base import GenerationConfig  # noqa: E402
from azr.sampling.hf import TransformersSampler  # noqa: E402
from azr.selfplay.config import OptimConfig  # noqa: E402
from azr.selfplay.policy import PolicyUpdater, Rollout  # noqa: E402
from azr.verify.rewards import task_relative_advantages  # noqa: E402

PROMPT = [{"role": "user", "content": "Say a number."}]


def test_update_rule_raises_mean_reward(tiny_model_dir):
    """Reward: the share of generated tokens that start with a digit (~3% for the random model)."""
    torch.manual_seed(0)
    model, tokenizer = load_model(tiny_model_dir)
    digits = {i for i in range(len(tokenizer)) if tokenizer.decode([i]).strip()[:1].isdigit()}
    sampler = TransformersSampler(model, tokenizer, batch_size=32)
    updater = PolicyUpdater(
        model, OptimConfig(lr=1e-2, micro_batch_size=32), pad_id=tokenizer.pad_token_id, device=torch.device("cpu")
    )
    means, ratios = [], []
    for step in range(24):
        samples = sampler.generate([PROMPT], GenerationConfig(n=32, temperature=1.0, max_new_tokens=4, seed=step))[0]
        rewards = [sum(t in digits for t in s.token_ids) / max(len(s.token_ids), 1) for s in samples]
        advantages = task_relative_advantages(rewards, [0] * len(rewards))
        stats = updater.update(
            [Rollout(s.prompt_ids, s.token_ids, s.logprobs, float(a)) for s, a in zip(samples, advantages, strict=True)]
        )
        means.append(float(np.mean(rewards)))
        ratios.append(stats["ratio_mean"])
    assert np.mean(means[:4]) < 0.15
    assert np.mean(means[-4:]) > np.mean(means[:4]) + 0.4, means
    # The sampler's log-probs are the policy's own: on-policy ratios are 1.
    assert ratios == pytest.approx([1.0] * len(ratios), abs=1e-3)


def test_micro_batching_and_padding_do_not_change_the_update(tiny_model_dir):
    model, tokenizer = load_model(tiny_model_dir)
    sampler = TransformersSampler(model, tokenizer, batch_size=8)
    prompts = [PROMPT, [{"role": "user", "content": "A much longer prompt, so that rows pad differently " * 3}]]
    samples = [
        s for group in sampler.generate(prompts, GenerationConfig(n=4, max_new_tokens=12, seed=3)) for s in group
    ]
    rollouts = [Rollout(s.prompt_ids, s.token_ids, s.logprobs, float(k % 3 - 1)) for k, s in enumerate(samples)]
    grads = []
    for micro in (1, 3, 8):
        clone = copy.deepcopy(model)
        updater = PolicyUpdater(
            clone, OptimConfig(micro_batch_size=micro), pad_id=tokenizer.pad_token_id, device=torch.device("cpu")
        )
        updater.accumulate(rollouts)
        grads.append({name: p.grad.clone() for name, p in clone.named_parameters()})
    for name, grad in grads[0].items():
        assert grad.abs().sum() > 0, name
        for other in grads[1:]:
            assert torch.allclose(grad, other[name], rtol=1e-4, atol=1e-7), name


def test_update_scores_completions_from_the_kept_logits_exactly(tiny_model_dir):
    """The head runs only from a micro-batch's first completion position (``logits_to_keep``): what the
    update scores must be the full forward's logits at every completion token, for rows whose prompts
    and completions differ in length (one completion empty)."""
    from azr.selfplay.policy import _collate

    model, tokenizer = load_model(tiny_model_dir)
    updater = PolicyUpdater(model, OptimConfig(), pad_id=tokenizer.pad_token_id, device=torch.device("cpu"))
    rng = np.random.default_rng(0)
    shapes = [(9, 5), (23, 2), (14, 0), (30, 7)]  # (prompt, completion) lengths
    rollouts = [
        Rollout(rng.integers(5, 200, p).tolist(), rng.integers(5, 200, c).tolist(), [0.0] * c, 1.0) for p, c in shapes
    ]
    batch = _collate(rollouts, tokenizer.pad_token_id, torch.device("cpu"))
    assert batch.first_position == 8
    model.eval()
    with torch.no_grad():
        kept = updater._logits(model, batch)
        full = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, use_cache=False).logits
    for row, (p, c) in enumerate(shapes):
        for k in range(c):
            assert torch.allclose(kept[row, k], full[row, p - 1 + k], atol=1e-5), (row, k)


def test_the_update_runs_without_dropout_so_its_logprobs_are_the_policys(tiny_model_dir, tmp_path):
    """pi_old is the trainer's own log-probs and the rollout correction compares them with the sampler's:
    neither may be a dropout sample. A copy of the tiny model with heavy dropout and a LoRA adapter with
    dropout: the update's log-probs equal the eval-mode ones, so the mismatch with eval-mode sampler
    log-probs is exactly zero and the correction changes nothing."""
    from transformers import AutoConfig

    from azr.selfplay.losses import token_logprobs
    from azr.selfplay.policy import _collate

    config = AutoConfig.from_pretrained(tiny_model_dir)
    config.attention_dropout = 0.5
    model, tokenizer = load_model(tiny_model_dir)
    noisy = type(model)(config)
    noisy.load_state_dict(model.state_dict())
    from peft import LoraConfig, get_peft_model

    from azr.models.loading import peft_quiet

    with peft_quiet():
        noisy = get_peft_model(
            noisy, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.5, target_modules=["q_proj", "v_proj"])
        )
    rng = np.random.default_rng(1)
    rollouts = [Rollout(rng.integers(5, 200, 9).tolist(), rng.integers(5, 200, 6).tolist(), [0.0] * 6, 1.0)]
    batch = _collate(rollouts, tokenizer.pad_token_id, torch.device("cpu"))
    updater = PolicyUpdater(noisy, OptimConfig(), pad_id=tokenizer.pad_token_id, device=torch.device("cpu"))
    noisy.eval()
    with torch.no_grad():
        clean, _ = token_logprobs(updater._logits(noisy, batch), batch.targets)
    rollouts = [Rollout(rollouts[0].prompt_ids, rollouts[0].token_ids, clean[0].tolist(), 1.0)]
    stats = updater.accumulate(rollouts)
    assert stats["mismatch/abs_max"] == 0.0, stats
    assert stats["mismatch/corrected_fraction"] == 0.0
    # With dropout left on (what `model.train()` alone does), the same forward differs from the policy's.
    noisy.train()
    with torch.no_grad():
        dropped, _ = token_logprobs(updater._logits(noisy, batch), batch.targets)
    assert not torch.equal(dropped, clean)
