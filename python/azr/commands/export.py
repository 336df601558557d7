"""``azr export RUN_OR_CHECKPOINT OUT``: a trained model as a plain Hugging Face directory.

A LoRA checkpoint keeps only its adapter (``adapter/`` plus ``azr-base.json`` naming the base model), which
transformers and vLLM cannot load without azr and peft. Export loads it as ``azr eval`` does (the base model,
the adapter merged into it: W + scaling * B A) and writes the merged weights as safetensors with the
tokenizer, so the result loads with ``AutoModelForCausalLM.from_pretrained(OUT)`` or ``vllm.LLM(OUT)``
alone. A full fine-tune's checkpoint is written out the same way. ``azr-export.json`` records what it came
from.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

__all__ = ["export", "register", "run"]

EXPORT_RECORD = "azr-export.json"


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "export",
        help="write a run's latest (or a given) checkpoint as a plain Hugging Face model directory, LoRA merged",
        description="Load RUN_OR_CHECKPOINT (a run directory: its latest checkpoint; a checkpoint directory; "
        "or any model spec azr loads) with a LoRA adapter merged into its base weights, and write it to OUT as "
        "a Hugging Face directory (config, safetensors weights, tokenizer) that transformers and vLLM load "
        "without azr. OUT must not exist or be empty. Exit 2 for a bad source or OUT.",
    )
    parser.add_argument("source", help="a run directory, a checkpoint directory (step-N), or a model spec")
    parser.add_argument("out", type=Path, help="the directory to write (must not exist, or be empty)")
    parser.add_argument(
        "--dtype",
        choices=("float32", "bfloat16", "float16"),
        default="float32",
        help="dtype of the written weights (default float32: what azr trains; bfloat16 halves the size)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    written = export(args.source, args.out, dtype=args.dtype)
    print(f"wrote {written}")
    return 0


def export(source: str, out: Path, *, dtype: str = "float32") -> Path:
    """Write ``source`` (run, checkpoint or model spec) to ``out`` as a plain Hugging Face directory."""
    from azr.commands.evaluate import resolve_checkpoint
    from azr.exceptions import ConfigError
    from azr.models.loading import load_model

    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"{out} exists and is not an empty directory; choose another OUT")
    spec, checkpoint = resolve_checkpoint(source)
    model, tokenizer = load_model(spec, dtype=dtype)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.padding_side = "right"  # azr pads generation on the left; a plain directory keeps the default
    tokenizer.save_pretrained(out)
    record = {"source": str(source), "loaded": spec, "checkpoint": checkpoint, "dtype": dtype}
    (out / EXPORT_RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return out
