"""Training configuration: defaults, TOML, --set overrides, and errors before any model loads."""

import tomllib

import pytest

from azr.config import TrainConfig, load_config
from azr.exceptions import ConfigError


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


def test_eval_section_and_report_to_lists(tmp_path):
    data = tmp_path / "crux.jsonl"
    data.write_text("")
    path = tmp_path / "c.toml"
    path.write_text(
        f'[eval]\nevery = 5\ncruxeval = "{data}"\nlimit = 20\nbenchmarks = ["cruxeval-o", "cruxeval-i"]\n'
        '[run]\nreport_to = ["jsonl", "tensorboard"]\n'
    )
    config = load_config(path, ["eval.n=4", "eval.temperature=0.8"])
    assert (config.eval.every, config.eval.cruxeval, config.eval.limit) == (5, str(data), 20)
    assert config.eval.benchmarks == ["cruxeval-o", "cruxeval-i"]
    assert (config.eval.n, config.eval.temperature) == (4, 0.8)
    assert config.run.report_to == ["jsonl", "tensorboard"]
    assert load_config(None, ['run.report_to=["jsonl", "wandb"]']).run.report_to == ["jsonl", "wandb"]
    # Defaults: evaluation off, greedy, all three benchmarks; metrics.jsonl only.
    default = load_config()
    assert (default.eval.every, default.eval.n, default.eval.temperature) == (0, 1, 0.0)
    assert default.eval.benchmarks == ["cruxeval-o", "cruxeval-i", "humaneval"]
    assert default.run.report_to == ["jsonl"]
    again = tmp_path / "again.toml"
    again.write_text(config.to_toml())
    assert load_config(again) == config


def test_eval_benchmark_names_are_azr_evals():
    from azr.config import EVAL_BENCHMARKS
    from azr.evaluation import BENCHMARKS

    assert EVAL_BENCHMARKS == BENCHMARKS


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["eval.every=-1"], r"eval\.every must be >= 0"),
        (["eval.limit=-3"], r"eval\.limit must be >= 0"),
        (["eval.n=0"], r"eval\.n must be >= 1"),
        (["eval.max_new_tokens=0"], r"eval\.max_new_tokens must be >= 1"),
        (["eval.temperature=-0.5"], r"eval\.temperature must be >= 0"),
        (["eval.timeout_s=0"], r"eval\.timeout_s must be in"),
        (['eval.benchmarks=["mbpp"]'], r"eval\.benchmarks must be one of"),
        (["eval.benchmarks=[]"], r"eval\.benchmarks must name each"),
        (['eval.benchmarks=["humaneval", "humaneval"]'], r"eval\.benchmarks must name each"),
        (["eval.benchmarks='humaneval'"], r"eval\.benchmarks must be a list"),
        (["eval.every=10"], r"eval\.cruxeval: evaluating cruxeval-o/-i needs the CRUXEval JSONL"),
        (
            ["eval.every=10", "eval.cruxeval='/no/such/file.jsonl'"],
            r"eval\.cruxeval: /no/such/file\.jsonl is not a file",
        ),
        (
            ["eval.every=10", 'eval.benchmarks=["humaneval"]', "eval.humaneval='/no/he.jsonl'"],
            r"eval\.humaneval: /no/he\.jsonl is not a file",
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
