"""Training configuration: defaults, TOML, --set overrides, and errors before any model loads."""

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from pydantic import ValidationError

from azr.exceptions import ConfigError
from azr.selfplay.config import (
    OptimConfig,
    RunConfig,
    SandboxSettings,
    TrainConfig,
    config_schema,
    describe,
    load_config,
    sections,
)

DEMO = Path(__file__).resolve().parents[1] / "configs" / "cpu-demo.toml"


def test_defaults_validate_and_round_trip_through_toml(tmp_path):
    config = load_config()
    assert config == TrainConfig()
    path = tmp_path / "c.toml"
    path.write_text(config.to_toml())
    assert load_config(path) == config


def test_file_then_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[optim]\nlr = 1e-5\n[run]\nsteps = 7\n[model]\nname = "x"\n')
    config = load_config(
        path, ["run.steps=3", "optim.betas=[0.9, 0.95]", "model.name=some/dir", "selfplay.reference_sampling=recency"]
    )
    assert config.optim.lr == 1e-5
    assert config.run.steps == 3
    assert config.optim.betas == (0.9, 0.95)
    assert config.model.name == "some/dir"
    assert config.selfplay.reference_sampling == "recency"


def test_int_is_accepted_for_float_but_not_the_reverse():
    assert load_config(None, ["optim.lr=1"]).optim.lr == 1.0
    with pytest.raises(ConfigError, match=r"run\.steps must be int"):
        load_config(None, ["run.steps=2.5"])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["optim.lrr=1e-5"], r"unknown key\(s\) in \[optim\]: lrr"),
        (["trainer.steps=1"], r"unknown key\(s\) in the top level: trainer"),
        (["run.steps=many"], r"run\.steps must be int"),
        (["model.dtype=float8"], r"model\.dtype must be one of"),
        (["run.progress=1"], r"run\.progress must be bool"),
        (["selfplay.induction_shown=6"], r"induction_shown"),
        (["optim.micro_batch_size=0"], r"micro_batch_size must be >= 1"),
        (["optim.betas=[0.9]"], r"optim\.betas must be a list of 2"),
        (["steps"], r"--set expects section\.key=value"),
        (["run=3", "run.steps=2"], r"run is not a table"),
    ],
)
def test_bad_config_is_a_clear_config_error(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[run\nsteps = 1")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(bad)
    # Nested past Python's recursion limit (tomllib recurses): a ConfigError, not a RecursionError.
    deep = tmp_path / "deep.toml"
    deep.write_text("[run]\nsteps = " + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_config(deep)
    with pytest.raises(ConfigError, match="nests too deeply"):
        load_config(None, ["run.steps=" + "[" * 100_000 + "]" * 100_000])
    table = tmp_path / "table.toml"
    table.write_text("model = 3\n")
    with pytest.raises(ConfigError, match="model must be a table"):
        load_config(table)


def test_resolved_config_is_valid_toml():
    data = tomllib.loads(load_config(None, ["run.steps=2"]).to_toml())
    assert data["run"]["steps"] == 2
    assert set(data) == {"model", "sampler", "selfplay", "optim", "sandbox", "run", "parallel", "eval"}


def test_azr_train_rejects_bad_config_before_loading_anything(capsys, tmp_path):
    from azr.cli import main

    assert main(["train", "--set", "optim.lrr=1e-5", "--run-dir", str(tmp_path / "r")]) == 2
    assert "unknown key(s) in [optim]: lrr" in capsys.readouterr().err
    assert main(["train", "--resume"]) == 2
    assert "--resume needs --run-dir" in capsys.readouterr().err
    assert main(["train", "--resume", "--run-dir", str(tmp_path / "none")]) == 2
    assert "config.toml not found" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


# --- each section checks its own values, naming the full key, the value and the fix -------------------


@pytest.mark.parametrize(
    ("override", "key", "shown"),
    [
        ("run.plot_every=0", "run.plot_every", "0"),
        ("run.checkpoint_every=0", "run.checkpoint_every", "0"),
        ("run.keep_checkpoints=0", "run.keep_checkpoints", "0"),
        ("run.steps=-2", "run.steps", "-2"),
        ("run.seed=-1", "run.seed", "-1"),
        ("selfplay.recency_half_life=0", "selfplay.recency_half_life", "0.0"),
        ("selfplay.recency_half_life=-3.5", "selfplay.recency_half_life", "-3.5"),
        ("selfplay.proposals_per_type=0", "selfplay.proposals_per_type", "0"),
        ("selfplay.solve_rate_samples=1", "selfplay.solve_rate_samples", "1"),
        ("selfplay.induction_shown=0", "selfplay.induction_shown", "0"),
        ("selfplay.induction_shown=6", "selfplay.induction_shown", "6"),
        ("selfplay.seed_buffer_size=-1", "selfplay.seed_buffer_size", "-1"),
        ("selfplay.max_seeding_rounds=0", "selfplay.max_seeding_rounds", "0"),
        ("selfplay.wrong_reward=nan", "selfplay.wrong_reward", "nan"),
        ("sandbox.timeout_s=-1", "sandbox.timeout_s", "-1.0"),
        ("sandbox.timeout_s=0", "sandbox.timeout_s", "0.0"),
        ("sandbox.workers=-3", "sandbox.workers", "-3"),
        ("sandbox.workers=5000", "sandbox.workers", "5000"),
        ("sandbox.memory_mb=0", "sandbox.memory_mb", "0"),
        ("sandbox.memory_mb=16", "sandbox.memory_mb", "16"),
        ("sampler.top_p=0", "sampler.top_p", "0.0"),
        ("sampler.top_p=1.5", "sampler.top_p", "1.5"),
        ("sampler.temperature=-0.1", "sampler.temperature", "-0.1"),
        ("sampler.temperature=inf", "sampler.temperature", "inf"),
        ("sampler.batch_size=0", "sampler.batch_size", "0"),
        ("sampler.max_new_tokens_solve=0", "sampler.max_new_tokens_solve", "0"),
        ("sampler.gpu_memory_utilization=0", "sampler.gpu_memory_utilization", "0.0"),
        ("sampler.gpu_memory_utilization=1.2", "sampler.gpu_memory_utilization", "1.2"),
        ("sampler.kv_cache_memory_bytes=-1", "sampler.kv_cache_memory_bytes", "-1"),
        ("model.lora_rank=-1", "model.lora_rank", "-1"),
        ("model.lora_alpha=0", "model.lora_alpha", "0"),
        ("model.lora_dropout=1", "model.lora_dropout", "1.0"),
        ("model.lora_dropout=-0.1", "model.lora_dropout", "-0.1"),
        ("model.device=gpu", "model.device", '"gpu"'),
        ('model.name=""', "model.name", '""'),
        ("optim.lr=0", "optim.lr", "0.0"),
        ("optim.lr=nan", "optim.lr", "nan"),
        ("optim.grad_clip=0", "optim.grad_clip", "0.0"),
        ("optim.clip_low=-0.1", "optim.clip_low", "-0.1"),
        ("optim.clip_low=1", "optim.clip_low", "1.0"),
        ("optim.clip_high=-0.1", "optim.clip_high", "-0.1"),
        ("optim.kl_coef=-1", "optim.kl_coef", "-1.0"),
        ("optim.entropy_coef=-0.01", "optim.entropy_coef", "-0.01"),
        ("optim.weight_decay=-1", "optim.weight_decay", "-1.0"),
        ("optim.betas=[0.9, 1.0]", "optim.betas", "[0.9, 1.0]"),
        ("optim.betas=[-0.1, 0.99]", "optim.betas", "[-0.1, 0.99]"),
        ("optim.betas=[0.9, nan]", "optim.betas", "[0.9, nan]"),
    ],
)
def test_bad_values_name_the_key_the_value_and_the_fix(override, key, shown):
    with pytest.raises(ConfigError) as info:
        load_config(None, [override])
    message = str(info.value)
    assert message.startswith(f"{key} must be "), message
    assert f"got {shown}:" in message, message
    fix = message.split(f"got {shown}:", 1)[1]
    assert key.split(".")[1] in fix or "lower it" in fix, message  # the fix says what to set


def test_relations_within_a_section():
    # induction_shown must stay below induction_inputs, whichever of the two is set.
    with pytest.raises(ConfigError, match=r"selfplay\.induction_shown must be < selfplay\.induction_inputs \(3\)"):
        load_config(None, ["selfplay.induction_inputs=3"])
    assert (
        load_config(None, ["selfplay.induction_inputs=3", "selfplay.induction_shown=2"]).selfplay.induction_shown == 2
    )
    with pytest.raises(ConfigError, match=r"seed_buffer_size must be <= selfplay\.buffer_cap \(10\)"):
        load_config(None, ["selfplay.buffer_cap=10", "selfplay.seed_buffer_size=11"])
    # One solve-rate sample makes learnability always 0, but the format-only control does not use it.
    assert load_config(None, ["selfplay.solve_rate_samples=1", "selfplay.reward_mode=format_only"])
    # Boundaries that are allowed.
    config = load_config(
        None,
        ["sampler.temperature=0", "sampler.top_p=1", "sandbox.workers=0", "optim.clip_high=0", "model.device=cuda:1"],
    )
    assert config.sampler.temperature == 0.0 and config.sandbox.workers == 0 and config.model.device == "cuda:1"


def test_relations_between_sections():
    with pytest.raises(ConfigError, match=r'^parallel\.strategy = "fsdp2" needs sampler\.backend = "vllm"'):
        load_config(None, ["parallel.strategy=fsdp2"])
    assert load_config(None, ["parallel.strategy=fsdp2", "sampler.backend=vllm"]).parallel.strategy == "fsdp2"
    with pytest.raises(ConfigError, match=r"parallel\.strategy must be one of"):
        load_config(None, ["parallel.strategy=zero3"])


def test_sections_built_in_python_are_checked_too():
    with pytest.raises(ConfigError, match=r"^run\.plot_every must be >= 1, got 0"):
        RunConfig(plot_every=0)
    with pytest.raises(ConfigError, match=r"^sandbox\.timeout_s must be"):
        SandboxSettings(timeout_s=-1)
    with pytest.raises(ConfigError, match=r"^optim\.lr must be float, got str"):
        OptimConfig(lr="fast")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^run must be a table \(\[run\] in TOML, a RunConfig in Python\), got 3$"):
        TrainConfig(run=3)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^unknown key\(s\) in \[run\]: stepz"):
        RunConfig(stepz=3)  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match=r"^run\.steps must be >= 1, got 0"):
        TrainConfig.model_validate({"run": {"steps": 0}})
    optim = OptimConfig(lr=1, betas=[0.5, 0.9])  # type: ignore[arg-type]
    assert optim.lr == 1.0 and isinstance(optim.lr, float) and optim.betas == (0.5, 0.9)
    with pytest.raises(ValidationError, match="frozen"):
        optim.lr = 2.0  # type: ignore[misc]
    assert TrainConfig(run=RunConfig(steps=3)).run.steps == 3
    assert hash(TrainConfig()) == hash(TrainConfig())  # frozen: usable as a key, like the dataclasses before


def test_validation_is_strict_but_takes_toml_arrays_for_tuples():
    """No silent conversions: "3" is no int, 2.0 is no int, 1 is no bool, and a tuple's items are checked
    as strictly as a field (a TOML array fills a tuple field, its items are not coerced)."""
    for override, message in [
        ('run.steps="3"', r"run\.steps must be int, got str '3'"),
        ("run.steps=2.0", r"run\.steps must be int, got float 2\.0"),
        ("model.gradient_checkpointing=0", r"model\.gradient_checkpointing must be bool, got int 0"),
        ('optim.betas=["0.9", 0.99]', r"optim\.betas must be float, got str '0\.9'"),
        ("optim.betas=[true, 0.99]", r"optim\.betas must be float, got bool True"),
        ("optim.betas=[0.9, 0.99, 0.999]", r"optim\.betas must be a list of 2 values"),
        ("eval.benchmarks=[1]", r"eval\.benchmarks must be one of"),
    ]:
        with pytest.raises(ConfigError, match=message):
            load_config(None, [override])
    assert load_config(None, ["optim.seq_mask_band=[0.5, 2]"]).optim.seq_mask_band == (0.5, 2.0)


def test_each_section_knows_its_key():
    assert [name for name, _ in sections()] == list(TrainConfig.model_fields)
    for name, cls in sections():
        assert cls.section == name and cls.key("x") == f"{name}.x"


def test_every_field_has_help():
    for _, cls in sections():
        assert cls.__doc__
        for name, info in cls.model_fields.items():
            text = info.description
            assert isinstance(text, str) and len(text) > 10, f"{cls.section}.{name} has no help"
            assert "``" not in text, f"{cls.section}.{name}: help is printed raw, write `x`, not ``x``"
    for info in TrainConfig.model_fields.values():
        assert info.description


def test_sandbox_bounds_match_the_sandbox(sandbox):
    """SandboxSettings rejects, before the model loads, exactly the values azr.Sandbox would reject."""
    from azr import Sandbox

    for kwargs in ({"timeout_s": 86_400.5}, {"timeout_s": 0.0}, {"memory_mb": 31}, {"memory_mb": 65_537}):
        with pytest.raises(ConfigError):
            SandboxSettings(**kwargs)
        with pytest.raises(ConfigError):
            Sandbox(workers=1, guest=sandbox.guest_path, **kwargs)
    with pytest.raises(ConfigError):
        SandboxSettings(workers=1025)
    with pytest.raises(ConfigError, match="workers"):
        Sandbox(workers=1025, guest=sandbox.guest_path)
    for kwargs in ({"timeout_s": 86_400.0}, {"memory_mb": 32}, {"memory_mb": 65_536}):
        settings = SandboxSettings(**kwargs)
        Sandbox(workers=1, timeout_s=settings.timeout_s, memory_mb=settings.memory_mb, guest=sandbox.guest_path)


# --- azr train --show-config ------------------------------------------------------------------------


def test_describe_lists_every_key_and_loads_back(tmp_path):
    config = load_config(DEMO, ["run.steps=5", 'model.name="a \\"quoted\\" dir"'])
    text = describe(config)
    for name, cls in sections():
        assert f"[{name}]" in text
        for key, info in cls.model_fields.items():
            assert f"\n{key} = " in text, key
            assert info.description and info.description.split()[0] in text
    assert "# (int >= 1; default 100)\nsteps = 5\n" in text
    assert '# ("auto" | "float32" | "bfloat16" | "float16"; default "auto")\ndtype = "auto"' in text
    assert "# (float in (0, 1]; default 1.0)\ntop_p = 1.0" in text
    path = tmp_path / "shown.toml"
    path.write_text(text, encoding="utf-8")
    assert load_config(path) == config
    assert load_config(path).model.name == 'a "quoted" dir'
    (tmp_path / "defaults.toml").write_text(describe(), encoding="utf-8")
    assert load_config(tmp_path / "defaults.toml") == TrainConfig()


def test_eval_section_and_report_to_lists(tmp_path):
    data = tmp_path / "crux.jsonl"
    data.write_text("")
    prompts = tmp_path / "prompts.json"
    prompts.write_text("{}")
    path = tmp_path / "c.toml"
    path.write_text(
        f'[eval]\nevery = 5\ncruxeval = "{data}"\ncruxeval_prompts = "{prompts}"\nlimit = 20\n'
        'benchmarks = ["cruxeval-o", "cruxeval-i"]\n[run]\nreport_to = ["jsonl", "tensorboard"]\n'
    )
    config = load_config(path, ["eval.n=4", "eval.temperature=0.8"])
    assert (config.eval.every, config.eval.cruxeval, config.eval.limit) == (5, str(data), 20)
    assert config.eval.benchmarks == ("cruxeval-o", "cruxeval-i")
    assert (config.eval.n, config.eval.temperature) == (4, 0.8)
    assert config.run.report_to == ("jsonl", "tensorboard")
    assert load_config(None, ['run.report_to=["jsonl", "wandb"]']).run.report_to == ("jsonl", "wandb")
    # Defaults: evaluation off, greedy, all three benchmarks; metrics.jsonl only.
    default = load_config()
    assert (default.eval.every, default.eval.n, default.eval.temperature) == (0, 1, 0.0)
    assert (default.eval.protocol, default.eval.max_new_tokens) == ("published", 0)  # the literature's ruler
    assert default.eval.benchmarks == ("cruxeval-o", "cruxeval-i", "humaneval")
    assert default.run.report_to == ("jsonl",)
    again = tmp_path / "again.toml"
    again.write_text(config.to_toml())
    assert load_config(again) == config


def test_eval_benchmark_names_are_azr_evals():
    from azr.evaluation import BENCHMARKS
    from azr.selfplay.config import EVAL_BENCHMARKS

    assert EVAL_BENCHMARKS == BENCHMARKS


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["eval.every=-1"], r"eval\.every must be >= 0"),
        (["eval.limit=-3"], r"eval\.limit must be >= 0"),
        (["eval.n=0"], r"eval\.n must be >= 1"),
        (["eval.max_new_tokens=-1"], r"eval\.max_new_tokens must be >= 0"),
        (["eval.protocol='chat'"], r"eval\.protocol must be one of"),
        (["eval.temperature=-0.5"], r"eval\.temperature must be >= 0"),
        (["eval.timeout_s=0"], r"eval\.timeout_s must be in"),
        (['eval.benchmarks=["mbpp"]'], r"eval\.benchmarks must be one of"),
        (["eval.benchmarks=[]"], r"eval\.benchmarks must be each of"),
        (['eval.benchmarks=["humaneval", "humaneval"]'], r"eval\.benchmarks must be each of"),
        (["eval.benchmarks='humaneval'"], r"eval\.benchmarks must be a list"),
        (["eval.every=10"], r"eval\.cruxeval must be the CRUXEval JSONL .* set eval\.cruxeval = PATH"),
        (
            ["eval.every=10", "eval.cruxeval='/no/such/file.jsonl'"],
            r"eval\.cruxeval must be a file, got \"/no/such/file\.jsonl\"",
        ),
        (
            ["eval.every=10", 'eval.benchmarks=["humaneval"]', "eval.humaneval='/no/he.jsonl'"],
            r"eval\.humaneval must be a file .*, got \"/no/he\.jsonl\"",
        ),
        (
            ["eval.every=10", f"eval.cruxeval={json.dumps(__file__)}"],
            r"eval\.cruxeval_prompts must be the CRUXEval prompt templates .* or eval\.protocol = 'selfplay'",
        ),
        (['run.report_to=["jsonl", "csv"]'], r"run\.report_to must be one of"),
        (["run.report_to='tensorboard'"], r"run\.report_to must be a list"),
    ],
)
def test_bad_eval_and_report_to_values_name_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)


def test_eval_off_needs_no_benchmark_files():
    config = load_config(None, ["eval.cruxeval='/no/such/file.jsonl'"])
    assert config.eval.every == 0  # nothing is read until evaluation is switched on


@pytest.mark.parametrize("name", sorted(p.name for p in DEMO.parent.glob("*.toml")))
def test_every_shipped_config_loads_given_its_local_paths(name, tmp_path):
    """The GPU recipes name placeholder paths (azr never downloads): with real files they load as they are."""
    crux = tmp_path / "cruxeval.jsonl"
    crux.write_text("")
    prompts = tmp_path / "prompts.json"
    prompts.write_text("{}")
    config = load_config(
        DEMO.parent / name,
        [f"eval.cruxeval={json.dumps(str(crux))}", f"eval.cruxeval_prompts={json.dumps(str(prompts))}"],
    )
    assert config.run.steps >= 1
    if name.startswith("azr-coder-"):
        sp, op = config.selfplay, config.optim
        assert (sp.references, sp.solve_rate_samples, op.lr, op.clip_low, op.clip_high) == (6, 8, 1e-6, 0.2, 0.28)
        assert config.eval.every > 0 and config.sampler.backend == "vllm"


@pytest.mark.parametrize(
    ("path", "mode"), [("control-format-only.toml", "format_only"), ("control-random.toml", "random")]
)
def test_each_control_is_the_demo_with_only_its_reward_rule_changed(path: str, mode: str) -> None:
    """A control that drifts from its run (another prompt style, budget or seed) measures the drift, not the
    reward: each shipped control must resolve to the demo's configuration but for `selfplay.reward_mode`."""
    demo, control = load_config(DEMO), load_config(DEMO.parent / path)
    assert (demo.selfplay.reward_mode, control.selfplay.reward_mode) == ("azr", mode)
    assert control.model_copy(update={"selfplay": control.selfplay.model_copy(update={"reward_mode": "azr"})}) == demo


def test_rollout_correction_settings_are_checked() -> None:
    from azr.exceptions import ConfigError
    from azr.selfplay.config import OptimConfig

    assert OptimConfig().rollout_correction == "tis"
    for bad in ((1.0, 1.01), (0.99, 0.999), (0.0, 2.0)):
        with pytest.raises(ConfigError, match="seq_mask_band"):
            OptimConfig(seq_mask_band=bad)
    with pytest.raises(ConfigError, match="tis_cap"):
        OptimConfig(tis_cap=0.5)
    with pytest.raises(ConfigError, match="rollout_correction"):
        OptimConfig(rollout_correction="both")  # type: ignore[arg-type]


# --- the JSON schema (azr train --config-schema) ---------------------------------------------------------


def test_config_schema_has_every_key_with_its_type_bounds_default_and_help(capsys):
    from azr.cli import main

    schema = config_schema()
    assert list(schema["properties"]) == [name for name, _ in sections()]
    assert schema["additionalProperties"] is False
    for name, cls in sections():
        section = schema["$defs"][cls.__name__]
        assert section["additionalProperties"] is False and list(section["properties"]) == list(cls.model_fields)
        for key, info in cls.model_fields.items():
            assert section["properties"][key]["description"] == info.description, f"{name}.{key}"
    steps = schema["$defs"]["RunConfig"]["properties"]["steps"]
    assert (steps["type"], steps["minimum"], steps["default"]) == ("integer", 1, 100)
    top_p = schema["$defs"]["SamplerConfig"]["properties"]["top_p"]
    assert (top_p["exclusiveMinimum"], top_p["maximum"]) == (0, 1)
    assert schema["$defs"]["ModelConfig"]["properties"]["dtype"]["enum"] == ["auto", "float32", "bfloat16", "float16"]
    assert main(["train", "--config-schema"]) == 0
    assert json.loads(capsys.readouterr().out) == schema


def test_other_commands_work_without_pydantic():
    """pydantic comes with the train extra: the core install's commands never import the config module, and
    azr train without it is a clear install hint (exit 2)."""
    code = (
        "import sys\n"
        "sys.modules['pydantic'] = None\n"
        "from azr.cli import build_parser, main\n"
        "build_parser().parse_args(['verify', 'f.py', '--input', '[1]'])\n"
        "print(main(['train', '--set', 'run.steps=1']))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2"
    assert "pip install 'azr[train]'" in done.stderr
