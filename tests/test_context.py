"""Prompts and budgets against the model's context window: the tiny model has 1,024 positions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from azr.exceptions import ConfigError
from azr.selfplay.config import load_config
from azr.selfplay.phases import validate_proposals
from azr.selfplay.prompts import proposer_prompt
from azr.selfplay.trainer import Trainer
from azr.verify.parsing import Parsed, parse_generation
from azr.verify.tasks import Role, Task, TaskType
from azr.verify.validation import Rejected

# A valid task whose output is long (['0', '1', ..., '239'], ~1,700 characters) and whose program is short.
LONG_OUTPUT = (
    "<think>Strings of numbers.</think>\n<answer>\n```python\ndef f(n):\n    return [str(i) for i in range(n)]\n```\n"
    "```input\n240\n```\n</answer>"
)


def settings(model_dir: Path, *extra: str) -> list[str]:
    return [
        f"model.name={json.dumps(str(model_dir))}",
        "model.dtype='float32'",  # the same arithmetic on every CI machine; test_precision covers auto
        "run.steps=1",
        "run.progress=false",
        "sampler.max_new_tokens_propose=64",
        "sampler.max_new_tokens_solve=40",
        "selfplay.proposals_per_type=3",
        "selfplay.solves_per_type=2",
        "selfplay.solve_rate_samples=2",
        "selfplay.references=3",
        "selfplay.induction_inputs=4",
        "selfplay.induction_shown=2",
        "sandbox.workers=1",
        *extra,
    ]


def _proposal(task_type: TaskType) -> Parsed:
    parsed = parse_generation(LONG_OUTPUT, task_type, Role.PROPOSE, require_answer_tags=True)
    assert isinstance(parsed, Parsed)
    return parsed


def _validate(trainer: Trainer, task_type: TaskType) -> Task | Rejected:
    """The long proposal as a ``task_type`` proposal, checked as the validate phase checks it."""
    cfg = trainer.config
    (outcome,) = validate_proposals(
        [(task_type, _proposal(task_type), None)],
        validator=trainer.validator,
        context=trainer.context,
        selfplay=cfg.selfplay,
        sampler=cfg.sampler,
        step=trainer.step,
    )
    return outcome


def test_budgets_no_prompt_fits_with_are_a_config_error_naming_the_key(taught_model_dir, tmp_path):
    with pytest.raises(ConfigError, match=r"sampler\.max_new_tokens_propose = 900 plus the shortest deduction prompt"):
        Trainer(load_config(None, settings(taught_model_dir, "sampler.max_new_tokens_propose=900")), tmp_path / "a")
    with pytest.raises(ConfigError, match=r"sampler\.max_new_tokens_solve = 1000 .* context of 1024 tokens"):
        Trainer(load_config(None, settings(taught_model_dir, "sampler.max_new_tokens_solve=1000")), tmp_path / "b")


def test_a_task_whose_solver_prompt_cannot_fit_is_rejected_and_long_references_are_dropped(taught_model_dir, tmp_path):
    trainer = Trainer(load_config(None, settings(taught_model_dir)), tmp_path / "run")
    assert trainer.context.limit == 1024
    # The abduction solver sees the long output and cannot fit; the deduction solver sees only the
    # program and input, so the same program and input make an admissible deduction task.
    abduction = _validate(trainer, TaskType.ABDUCTION)
    assert isinstance(abduction, Rejected) and abduction.kind == "too_long_for_context", abduction
    deduction = _validate(trainer, TaskType.DEDUCTION)
    assert isinstance(deduction, Task), deduction
    assert len(deduction.outputs[0]) > 1500

    # As a reference, that task's triple (with its output) would push a proposer prompt past the context.
    budget = trainer.config.sampler.max_new_tokens_propose
    assert not trainer.context.fits(
        proposer_prompt(TaskType.DEDUCTION, trainer.config.selfplay, [deduction.triple]), budget
    )
    trainer.buffers[TaskType.DEDUCTION].add([deduction])
    samples, _ = trainer.propose({TaskType.DEDUCTION: 3}, np.random.default_rng(0))[TaskType.DEDUCTION]
    assert trainer.references_dropped[TaskType.DEDUCTION] > 0
    assert all(len(s.prompt_ids) + budget <= 1024 for s in samples)

    metrics = trainer.train_step()
    assert metrics["deduction/propose/references_dropped"] > 0
    assert metrics["abduction/propose/references_dropped"] == 0
