"""``azr eval``: CRUXEval-O/I and HumanEval pass@k for a local model, an azr checkpoint, or
pre-generated answers; ``--compare A B`` puts two evaluations side by side.

Model loading (torch, transformers) is imported only when a model is evaluated, so scoring
pre-generated answers or comparing results files needs only azr's core install.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import sys
from pathlib import Path
from typing import Any

from azr.evaluation.protocols import PROTOCOLS, max_new_tokens
from azr.evaluation.report import EvalReport, format_comparison, format_table
from azr.evaluation.run import BENCHMARKS, EvalSettings, evaluate_answers, load_answers
from azr.exceptions import ConfigError, MissingDependencyError
from azr.files import write_text_atomic
from azr.runs.progress import PhaseDisplay, logs_above_bars
from azr.sandbox import Sandbox

__all__ = ["register", "resolve_checkpoint", "resolve_model_spec", "run"]

log = logging.getLogger(__name__)


class _DefaultsHelp(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: X)`` only for options that have one (not ``(default: None)`` after a help text
    that already says what happens when the option is unset)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default == [] or isinstance(action.default, bool):
            return action.help
        return super()._get_help_string(action)


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "eval",
        help="CRUXEval-O/I and HumanEval pass@k for a model, checkpoint or pre-generated answers",
        description=(
            "Evaluate MODEL (a Hugging Face directory, a .gguf file, an embedded model name, an azr "
            "checkpoint directory, or an azr run directory: its latest checkpoint), or score pre-generated "
            "answers with --answers. Prints a table of pass@k as fractions of problems solved (0 to 1), naming "
            "the checkpoint loaded; --out writes the same as JSON."
        ),
        formatter_class=_DefaultsHelp,
    )
    parser.add_argument("model", nargs="?", help="model to evaluate (omit with --answers or --compare)")
    parser.add_argument(
        "--compare",
        nargs=2,
        metavar=("A", "B"),
        help="compare two evaluations side by side: each a results JSON from --out, or a model evaluated now",
    )
    parser.add_argument(
        "--answers",
        action="append",
        default=[],
        metavar="[BENCH=]FILE",
        help="score pre-generated answers instead of a model: JSON id -> [answers] (CRUXEval generations "
        "format) or human-eval samples JSONL; BENCH= names the benchmark (needed with several)",
    )
    parser.add_argument(
        "--benchmarks", default=",".join(BENCHMARKS), help=f"comma-separated, from {', '.join(BENCHMARKS)}"
    )
    parser.add_argument("--cruxeval", help="CRUXEval JSONL (code, input, output, id per line)")
    parser.add_argument("--humaneval", help="HumanEval JSONL(.gz); default: the human-eval package's copy")
    parser.add_argument("--limit", type=int, help="only the first N problems of each benchmark")
    parser.add_argument("--n", type=int, default=1, help="samples per problem")
    parser.add_argument("--k", default="1", help="comma-separated k for pass@k (each needs n >= k)")
    parser.add_argument("--temperature", type=float, default=0.0, help="sampling temperature; 0 is greedy")
    parser.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass (1 keeps every token)")
    parser.add_argument(
        "--protocol",
        default="selfplay",
        choices=list(PROTOCOLS),
        help="how problems are prompted and answers read: selfplay (azr's solver prompts), published (the "
        "protocol behind Qwen2.5-Coder's published figures: CRUXEval chain-of-thought few-shot, HumanEval "
        "instruct), published-direct (CRUXEval's direct few-shot prompt); docs/eval.md",
    )
    parser.add_argument(
        "--cruxeval-prompts",
        help="the CRUXEval paper's four prompt templates as JSON (needed by the published protocols; "
        "scripts/cruxeval_prompts.py writes one from a CRUXEval checkout)",
    )
    parser.add_argument(
        "--max-new-tokens",
        type=int,
        help="generation budget per answer (default: 512 for selfplay, 1024 for the published protocols)",
    )
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (per-sample seeds derive from it)")
    parser.add_argument(
        "--batch-size",
        type=int,
        help="sequences per sampler call (default: 8 with transformers; with vLLM, every problem of a "
        f"benchmark in one call, up to {VLLM_BATCH}: the engine schedules its own batches)",
    )
    parser.add_argument(
        "--backend", default="transformers", choices=["transformers", "vllm"], help="generation backend"
    )
    parser.add_argument(
        "--enforce-eager",
        action="store_true",
        help="vLLM backend: skip torch.compile and CUDA graphs (starts in seconds; decodes slower on GPU)",
    )
    parser.add_argument(
        "--kv-cache-gib",
        type=float,
        help="vLLM backend: KV cache size in GiB (default on CPU: 1). Long generations (the published "
        "chain-of-thought budget is 1,024 tokens) fit only a few dozen sequences in 1 GiB; a larger cache "
        "lets the engine decode more at once",
    )
    parser.add_argument("--device", help="transformers backend: cpu, cuda, cuda:1, ...; unset: cuda if available")
    parser.add_argument(
        "--dtype",
        default="auto",
        choices=["auto", "float32", "bfloat16", "float16"],
        help="weights and compute: auto (bfloat16 where the hardware has native bf16, by a matmul probe; else "
        "float32), float32, bfloat16, float16",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=3.0,
        help="wall-clock seconds each graded execution may run, for every benchmark: one CRUXEval answer "
        "check (the program on an input) or one HumanEval completion's tests; longer counts as wrong",
    )
    parser.add_argument("--workers", type=int, help="sandbox threads (default: all cores)")
    parser.add_argument("--out", help="write results JSON here (with --compare: both results)")
    parser.add_argument("--save-generations", help="write model generations here (JSON, usable with --answers)")
    parser.add_argument("--json", action="store_true", help="print the results JSON instead of a table")
    parser.set_defaults(func=run)


VLLM_BATCH = 4096
"""Sequences per sampler call with vLLM when ``--batch-size`` is not given: a whole benchmark at once."""


def _ints(text: str, what: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise ConfigError(f"{what} must be comma-separated integers, got {text!r}") from exc
    if not values:
        raise ConfigError(f"{what} is empty")
    return values


def kv_cache_bytes(gib: float) -> int:
    """``--kv-cache-gib`` in bytes; refused unless finite and at least 1 MiB (vLLM would fail later, less
    clearly, on a cache that holds not even one block)."""
    if not math.isfinite(gib) or gib * 1024 < 1:
        raise ConfigError(f"--kv-cache-gib must be a number of GiB of at least 1/1024 (1 MiB), got {gib}")
    return int(gib * (1 << 30))


def settings_from_args(args: argparse.Namespace, benchmarks: tuple[str, ...] | None = None) -> EvalSettings:
    names = benchmarks or tuple(b.strip() for b in args.benchmarks.split(",") if b.strip())
    return EvalSettings(
        benchmarks=names,
        cruxeval_path=Path(args.cruxeval) if args.cruxeval else None,
        humaneval_path=Path(args.humaneval) if args.humaneval else None,
        limit=args.limit,
        n=args.n,
        ks=_ints(args.k, "--k"),
        temperature=args.temperature,
        top_p=args.top_p,
        max_new_tokens=args.max_new_tokens or max_new_tokens(args.protocol),
        seed=args.seed,
        batch_size=args.batch_size or (VLLM_BATCH if args.backend == "vllm" else 8),
        timeout_s=args.timeout,
        protocol=args.protocol,
        cruxeval_prompts=Path(args.cruxeval_prompts) if args.cruxeval_prompts else None,
    )


def resolve_model_spec(spec: str) -> str:
    """An azr run directory becomes its latest checkpoint, a checkpoint directory its ``model/`` (full
    fine-tune) or ``adapter/`` (LoRA: loaded as base + adapter merged in memory); anything else (model
    directory, adapter directory, .gguf, embedded name) is passed on unchanged."""
    return resolve_checkpoint(spec)[0]


_STEP_DIR = re.compile(r"step-(\d+)")


def resolve_checkpoint(spec: str) -> tuple[str, dict[str, Any] | None]:
    """:func:`resolve_model_spec`, and which azr checkpoint that is: ``{"path", "step", "weights"}`` (the
    checkpoint directory, its training step, ``"model"`` or ``"adapter"``), or None for a plain model.

    The step is the one the checkpoint's ``state.json`` records, else the one in its ``step-N`` name.
    """
    path = Path(spec).expanduser()
    if path.is_dir() and not (path / "config.json").is_file():
        checkpoints = path / "checkpoints"
        if checkpoints.is_dir():
            steps = sorted(
                (p for p in checkpoints.iterdir() if _STEP_DIR.fullmatch(p.name) and _checkpoint_weights(p)),
                key=lambda p: int(p.name.removeprefix("step-")),
            )
            if not steps:
                raise ConfigError(f"{path} is an azr run directory without checkpoints")
            path = steps[-1]
        weights = _checkpoint_weights(path)
        if weights is not None:
            return str(weights), _checkpoint_info(path, weights.name)
    elif path.name in ("model", "adapter") and _STEP_DIR.fullmatch(path.parent.name):
        return spec, _checkpoint_info(path.parent, path.name)  # a checkpoint's weights, named directly
    return spec, None


def _checkpoint_info(checkpoint: Path, weights: str) -> dict[str, Any]:
    step: int | None = None
    try:
        recorded = json.loads((checkpoint / "state.json").read_text(encoding="utf-8")).get("step")
        step = int(recorded) if recorded is not None else None
    except (OSError, ValueError, TypeError, AttributeError):
        pass  # no (readable) state.json: the directory name says the step
    if step is None and (named := _STEP_DIR.fullmatch(checkpoint.name)):
        step = int(named.group(1))
    return {"path": str(checkpoint), "step": step, "weights": weights}


def _checkpoint_weights(checkpoint: Path) -> Path | None:
    """A checkpoint's loadable weights: ``model/`` (full fine-tune) or ``adapter/`` (LoRA), if any."""
    if (checkpoint / "model" / "config.json").is_file():
        return checkpoint / "model"
    if (checkpoint / "adapter" / "adapter_config.json").is_file():
        return checkpoint / "adapter"
    return None


def _answers_by_benchmark(specs: list[str], settings: EvalSettings) -> dict[str, dict[str, list[object]]]:
    out: dict[str, dict[str, list[object]]] = {}
    for spec in specs:
        name, sep, file = spec.partition("=")
        if not sep:
            if len(settings.benchmarks) != 1:
                raise ConfigError("with several benchmarks, name each answers file: --answers cruxeval-o=FILE")
            name, file = settings.benchmarks[0], spec
        if name not in settings.benchmarks:
            raise ConfigError(
                f"--answers {spec}: {name!r} is not among the benchmarks ({', '.join(settings.benchmarks)})"
            )
        out[name] = load_answers(file)
    return out


def backend_options(args: argparse.Namespace, settings: EvalSettings) -> dict[str, Any]:
    """The sampler's keyword options from the flags: precision, and per backend its batch and device
    (transformers) or eager mode and KV cache size (vLLM). Checked before any model is loaded."""
    if args.kv_cache_gib is not None and args.backend != "vllm":
        raise ConfigError("--kv-cache-gib sizes vLLM's KV cache; it does nothing with --backend transformers")
    kv_bytes = None if args.kv_cache_gib is None else kv_cache_bytes(args.kv_cache_gib)
    import torch

    from azr.models.precision import inference_dtype

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    options: dict[str, Any] = {}
    if args.backend == "vllm" and torch.cuda.is_available() and args.dtype == "auto":
        options["dtype"] = "auto"  # vLLM on a GPU: the checkpoint's own dtype, as before
    else:
        dtype, reason = inference_dtype(args.dtype, torch.device(device if args.backend == "transformers" else "cpu"))
        log.info("precision: %s", reason)
        options["dtype"] = dtype
    if args.backend == "transformers":
        options.update(batch_size=settings.batch_size, device=device)
    else:
        if args.enforce_eager:
            options["enforce_eager"] = True
        if kv_bytes is not None:
            options["kv_cache_memory_bytes"] = kv_bytes
    return options


def _evaluate_model(spec: str, settings: EvalSettings, sandbox: Sandbox, args: argparse.Namespace) -> EvalReport:
    from azr.evaluation.run import evaluate_model

    try:
        from azr.sampling.loading import load_sampler
    except ImportError as exc:
        raise MissingDependencyError(
            f"evaluating a model needs the training extra: pip install 'azr[train]' ({exc})"
        ) from exc
    options = backend_options(args, settings)
    resolved, checkpoint = resolve_checkpoint(spec)
    if checkpoint is not None:
        log.info("loading checkpoint %s (step %s, %s)", checkpoint["path"], checkpoint["step"], checkpoint["weights"])
    log.info("loading %s (%s backend)", resolved, args.backend)
    sampler = load_sampler(resolved, backend=args.backend, **options)
    generations_path = Path(args.save_generations) if args.save_generations else None
    if generations_path is not None and args.compare:
        generations_path = generations_path.with_name(
            f"{generations_path.stem}.{Path(spec).name}{generations_path.suffix}"
        )

    def keep_partial(partial: EvalReport, generations: dict[str, dict[str, list[str]]]) -> None:
        """After each benchmark but the last, what is done so far goes to --out and --save-generations,
        so a run stopped later keeps it (the final write replaces both)."""
        if len(partial.benchmarks) == len(settings.benchmarks):
            return
        if args.out and not args.compare:
            partial.write(args.out)
        if generations_path is not None:
            write_text_atomic(generations_path, json.dumps(generations, indent=1) + "\n")
        if (args.out and not args.compare) or generations_path is not None:
            done = ", ".join(b.name for b in partial.benchmarks)
            log.info("results so far (%s) written; the final ones replace them", done)

    report, generations = evaluate_model(
        sampler,
        settings,
        sandbox,
        label=spec,
        progress=PhaseDisplay(),
        checkpoint=checkpoint,
        on_benchmark=keep_partial,
    )
    if generations_path is not None:
        write_text_atomic(generations_path, json.dumps(generations, indent=1) + "\n")
        print(f"generations written to {generations_path}", file=sys.stderr)
    return report


def _is_results_file(spec: str) -> bool:
    path = Path(spec)
    return path.suffix == ".json" and path.is_file()


def run(args: argparse.Namespace) -> int:
    with logs_above_bars():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    modes = sum(bool(x) for x in (args.model, args.answers, args.compare))
    if modes != 1:
        raise ConfigError("give exactly one of: MODEL, --answers FILE, or --compare A B")
    if args.compare:
        # Each operand is a results JSON from --out, or a model evaluated now with these settings; a
        # results file under another protocol than the one a model would be evaluated with is refused
        # before any model loads.
        files = [EvalReport.read(spec) for spec in args.compare if _is_results_file(spec)]
        if len(files) < len(args.compare):
            settings_from_args(args).check_prompting()
            for report in files:
                if report.protocol != args.protocol:
                    raise ConfigError(
                        f"{report.label} was measured under the {report.protocol} protocol, the model would be "
                        f"evaluated under {args.protocol}: pass --protocol {report.protocol} to compare them"
                    )
        reports = []
        for spec in args.compare:
            if _is_results_file(spec):
                report = EvalReport.read(spec)
                report.label = f"{spec} ({report.label})"
                reports.append(report)
            else:
                settings = settings_from_args(args)
                sandbox = Sandbox(workers=args.workers, timeout_s=settings.timeout_s)
                reports.append(_evaluate_model(spec, settings, sandbox, args))
        a, b = reports
        both = {"a": a.to_json(), "b": b.to_json()}
        if args.out:
            write_text_atomic(args.out, json.dumps(both, indent=2) + "\n")
        print(json.dumps(both) if args.json else format_comparison(a, b))
        return 0
    settings = settings_from_args(args)
    sandbox = Sandbox(workers=args.workers, timeout_s=settings.timeout_s)
    if args.answers:
        answers = _answers_by_benchmark(args.answers, settings)
        settings = settings_from_args(args, tuple(b for b in settings.benchmarks if b in answers))
        label = ", ".join(args.answers)
        report = evaluate_answers(answers, settings, sandbox, label=label, progress=PhaseDisplay())
    else:
        settings.check_prompting()  # before minutes of loading
        report = _evaluate_model(args.model, settings, sandbox, args)
    if args.out:
        report.write(args.out)
    print(json.dumps(report.to_json()) if args.json else format_table(report))
    return 0
