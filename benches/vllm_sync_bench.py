"""Is ``VLLMSampler.sync_weights`` exact, and how long does it take? (issue: vLLM defect 5, sync time)

    PYTHONPATH=python .venv-vllm/bin/python benches/vllm_sync_bench.py [--model qwen2.5-coder-0.5b|tiny]

Prints, for the engine before any sync and after syncing weights perturbed at several relative scales
(each parameter += scale * std(parameter) * N(0, 1)): the largest |log-prob| difference between what the
engine reports for its sampled tokens and a teacher-forced float32 torch pass of the same weights, and
whether the samples changed. For the strongest scale it also starts a second engine from the perturbed
weights saved to disk: if the synced engine samples exactly what the fresh one does, the sync delivered
every weight and any gap to torch is the two implementations' float32 rounding, not the reload. Then the
time of a full sync (median of 3) and of a partial one (the tensors of one decoder layer), and whether a
partial sync leaves the other layers as they were.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from azr.models.loading import load_model
from azr.sampling.base import GenerationConfig, Sample
from azr.sampling.vllm import VLLMSampler
from azr.selfplay.config import DEFAULT_MODEL
from azr.verify.prompts import solver_messages


def teacher_forced_error(model: Any, groups: list[list[Sample]]) -> float:
    worst = 0.0
    for group in groups:
        for s in group:
            ids = torch.tensor([s.prompt_ids + s.token_ids])
            with torch.no_grad():
                logits = model(input_ids=ids).logits[0].double()
            start = len(s.prompt_ids) - 1
            expected = torch.log_softmax(logits[start : start + len(s.token_ids)], dim=-1)
            expected = expected.gather(1, torch.tensor(s.token_ids)[:, None]).squeeze(1)
            worst = max(worst, float((torch.tensor(s.logprobs, dtype=torch.float64) - expected).abs().max()))
    return worst


def perturbed(model: Any, scale: float, seed: int = 0) -> Any:
    copy_ = copy.deepcopy(model)
    noise = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in copy_.parameters():
            p.add_(torch.randn(p.shape, generator=noise) * (scale * float(p.float().std())))
    return copy_


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--scales", default="0.001,0.01,0.05")
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    args = parser.parse_args()
    model = args.model
    if model == "tiny":
        from azr.models.tiny import build_tiny_model

        model = str(build_tiny_model(Path(tempfile.mkdtemp(prefix="azr-tiny-")) / "model", head_dim=32))
    torch_model, tokenizer = load_model(model, dtype="float32")
    started = time.perf_counter()
    sampler = VLLMSampler(model, enforce_eager=True, kv_cache_memory_bytes=256 << 20, max_model_len=2048)
    print(f"engine start {time.perf_counter() - started:.1f} s (eager)")
    prompts: list[Any] = [
        solver_messages("deduction", program=f"def f(x):\n    return [v * {k} for v in x]", input=f"[{k}, 2]")
        for k in range(args.prompts)
    ]
    config = GenerationConfig(n=2, temperature=1.0, max_new_tokens=args.max_new_tokens, seed=0)
    original = sampler.generate(prompts, config)
    print(f"before any sync: max |engine - torch| log-prob {teacher_forced_error(torch_model, original):.2e}")
    sampler.sync_weights(torch_model)
    same = sampler.generate(prompts, config) == original
    print(f"after syncing the unchanged weights: samples and log-probs identical to before: {same}")

    scales = [float(s) for s in args.scales.split(",")]
    strongest: Any = None
    for scale in scales:
        target = perturbed(torch_model, scale)
        sampler.sync_weights(target)
        out = sampler.generate(prompts, config)
        pairs = [(a, b) for ga, gb in zip(out, original, strict=True) for a, b in zip(ga, gb, strict=True)]
        changed = sum(a.token_ids != b.token_ids for a, b in pairs)
        print(
            f"perturbation {scale:g} x std: max |engine - torch| log-prob {teacher_forced_error(target, out):.2e} "
            f"(vs the old weights {teacher_forced_error(torch_model, out):.2e}); "
            f"{changed}/{len(pairs)} samples changed"
        )
        strongest = (scale, target, out)
    assert strongest is not None
    scale, target, synced = strongest
    with tempfile.TemporaryDirectory(prefix="azr-perturbed-") as tmp:
        target.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        sampler.sync_weights(torch_model)
        del sampler
        fresh = VLLMSampler(tmp, enforce_eager=True, kv_cache_memory_bytes=256 << 20, max_model_len=2048)
        identical = fresh.generate(prompts, config) == synced
        print(f"perturbation {scale:g}: an engine started from those weights on disk samples identically: {identical}")
        sampler = fresh

    times = []
    for _ in range(3):
        started = time.perf_counter()
        sampler.sync_weights(torch_model)
        times.append(time.perf_counter() - started)
    params = sum(p.numel() for p in torch_model.parameters())
    print(f"full sync: {statistics.median(times):.2f} s median of 3 ({params / 1e6:.0f} M parameters)")
    after_full = sampler.generate(prompts, config)
    print(f"after the full sync back: max |engine - torch| {teacher_forced_error(torch_model, after_full):.2e}")

    # Partial sync: one decoder layer's tensors only (what a LoRA sync of adapted layers would send).
    layer = perturbed(torch_model, 0.05, seed=7)
    names = {n for n, _ in layer.named_parameters() if ".layers.0." in n}
    mixed = copy.deepcopy(torch_model)
    with torch.no_grad():
        for (n, p), (_, q) in zip(mixed.named_parameters(), layer.named_parameters(), strict=True):
            if n in names:
                p.copy_(q)
    pairs = [(n, t.detach()) for n, t in mixed.state_dict().items() if n in names]
    from azr.sampling.vllm import _load_weights

    started = time.perf_counter()
    sampler.llm.collective_rpc(_load_weights, args=(pairs,))
    sampler.llm.reset_prefix_cache()
    seconds = time.perf_counter() - started
    out = sampler.generate(prompts, config)
    print(
        f"partial sync of {len(pairs)} tensors (layer 0): {seconds:.2f} s; max |engine - torch(layer 0 changed, rest "
        f"as before)| {teacher_forced_error(mixed, out):.2e}"
    )


if __name__ == "__main__":
    main()
