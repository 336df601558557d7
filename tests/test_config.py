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
    assert set(data) == {"model", "sampler", "selfplay", "optim", "sandbox", "run"}


def test_azr_train_rejects_bad_config_before_loading_anything(capsys, tmp_path):
    from azr.cli import main

    assert main(["train", "--set", "optim.lrr=1e-5", "--run-dir", str(tmp_path / "r")]) == 2
    assert "unknown key(s) in [optim]: lrr" in capsys.readouterr().err
    assert main(["train", "--resume"]) == 2
    assert "--resume needs --run-dir" in capsys.readouterr().err
    assert main(["train", "--resume", "--run-dir", str(tmp_path / "none")]) == 2
    assert "config.toml not found" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
