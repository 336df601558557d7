"""The TRL and veRL adapters, called exactly as those libraries call them; a 1-step GRPO run with TRL."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from azr import Sandbox
from azr.integrations import trl as azr_trl
from azr.integrations import verl as azr_verl

SORT = "def f(x):\n    return sorted(x)"


def answer(kind: str, body: str) -> str:
    return f"<think>…</think>\n<answer>\n```{kind}\n{body}\n```\n</answer>"


def call_like_trl(
    reward_func: Callable[..., list[Any]], rows: list[dict[str, Any]], completions: list[Any]
) -> list[Any]:
    """What ``GRPOTrainer._calculate_rewards`` does: every dataset column except prompt/completion becomes a
    keyword list, plus trainer_state, log_extra and log_metric; prompts, completions and completion_ids
    are passed by keyword."""
    keys = [key for key in rows[0] if key not in ("prompt", "completion", "completion_ids")]
    kwargs: dict[str, Any] = {key: [row[key] for row in rows] for key in keys}
    kwargs.update(trainer_state=None, log_extra=lambda *a, **k: None, log_metric=lambda *a, **k: None)
    return reward_func(
        prompts=[row["prompt"] for row in rows],
        completions=completions,
        completion_ids=[[1, 2, 3] for _ in rows],
        **kwargs,
    )


def test_trl_rewards_called_as_trl_calls_them(sandbox: Sandbox) -> None:
    rows = [
        {"prompt": [{"role": "user", "content": "p"}], "programs": SORT, "inputs": "[3, 1, 2]", "outputs": "[1, 2, 3]"}
    ] * 3
    chat = [[{"role": "assistant", "content": answer("output", "[1, 2, 3]")}]]
    rewards = call_like_trl(azr_trl.deduction_reward, rows, [*chat, answer("output", "[3, 2, 1]"), "no answer block"])
    assert rewards == [1.0, -0.5, -1.0] and all(isinstance(r, float) for r in rewards)
    rewards = call_like_trl(azr_trl.abduction_reward, rows, [answer("input", "[2, 3, 1]"), "", answer("input", "5")])
    assert rewards == [1.0, -1.0, -0.5]

    tests_rows = [
        {"prompt": "p", "tests": "assert add(2, 3) == 5", "entry_point": None, "code_prompt": None},
        {
            "prompt": "p",
            "tests": "def check(candidate):\n    assert candidate(1, 2) == 3",
            "entry_point": "add",
            "code_prompt": "def add(a, b):\n",
        },
        {
            "prompt": "p",
            "tests": ["assert add(1, 1) == 2", "assert add(1, 1) == 3"],
            "entry_point": None,
            "code_prompt": None,
        },
    ]
    completions = [
        "```python\ndef add(a, b):\n    return a + b\n```",
        "    return a + b\n",
        "def add(a, b):\n    return 2",
    ]
    rewards = call_like_trl(azr_trl.tests_reward, tests_rows, completions)
    assert rewards == [1.0, 1.0, 0.0] and all(isinstance(r, float) for r in rewards)
    fraction = azr_trl.make_tests_reward(fraction=True, name="tests_fraction")
    assert fraction.__name__ == "tests_fraction"
    assert call_like_trl(fraction, tests_rows, completions) == [1.0, 1.0, 0.5]


def test_task_reward_mixes_types_and_returns_none_where_not_applicable(sandbox: Sandbox) -> None:
    base = {"prompt": "p", "programs": SORT, "inputs": "[2, 1]", "outputs": "[1, 2]", "io_pairs": None, "tests": None}
    rows = [
        {**base, "task_type": "deduction"},
        {**base, "task_type": "abduction"},
        {**base, "task_type": "induction", "io_pairs": [["[2, 1]", "[1, 2]"]]},
        {**base, "task_type": "tests", "tests": "assert f([3, 1]) == [1, 3]"},
        {**base, "task_type": "something else"},
    ]
    completions = [
        answer("output", "[1, 2]"),
        answer("input", "[1, 2]"),
        answer("python", SORT),
        f"```python\n{SORT}\n```",
        "whatever",
    ]
    rewards = call_like_trl(azr_trl.task_reward, rows, completions)
    assert rewards == [1.0, 1.0, 1.0, 1.0, None]


def test_verl_compute_score(sandbox: Sandbox) -> None:
    truth = {"program": SORT, "input": "[3, 1, 2]", "output": "[1, 2, 3]"}
    right = azr_verl.compute_score("azr/deduction", answer("output", "[1, 2, 3]"), json.dumps(truth))
    assert right == {"score": 1.0, "acc": 1.0, "format_ok": 1.0}
    assert azr_verl.compute_score("cruxeval-o", "no answer", truth, extra_info={"index": 0}) == {
        "score": -1.0,
        "acc": 0.0,
        "format_ok": 0.0,
    }
    scores = azr_verl.compute_score_batched(
        data_sources=["cruxeval-i", "azr/induction", "humaneval", "azr/tests"],
        solution_strs=[
            answer("input", "[2, 1, 3]"),
            answer("python", "def f(x):\n    return x"),
            "    return a * b\n",
            "```python\ndef g():\n    return 1\n```",
        ],
        ground_truths=[
            truth,
            {"io_pairs": [["[2, 1]", "[1, 2]"]]},
            {
                "tests": "def check(c):\n    assert c(2, 3) == 6",
                "entry_point": "mul",
                "code_prompt": "def mul(a, b):\n",
            },
            {"tests": ["assert g() == 1", "assert g() == 2"]},
        ],
        extra_infos=[None] * 4,
    )
    assert [s["score"] for s in scores] == [1.0, -0.5, 1.0, 0.0]
    assert all(set(s) == {"score", "acc", "format_ok"} for s in scores)
    with pytest.raises(ValueError, match="data_source"):
        azr_verl.compute_score("gsm8k", "42", "42")
    with pytest.raises(ValueError, match="lacks"):
        azr_verl.compute_score("azr/deduction", "x", {"program": SORT})


def test_verl_loads_the_module_from_its_file(sandbox: Sandbox) -> None:
    """veRL imports ``custom_reward_function.path`` with spec_from_file_location under another name."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("custom_module", azr_verl.__file__)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    truth = {"program": SORT, "output": "[1, 2]"}
    assert module.compute_score("azr/abduction", answer("input", "[2, 1]"), truth)["score"] == 1.0


def test_documented_grpo_example_runs_one_step(tmp_path: Path) -> None:
    """docs/trl.md's example, run as a user would paste it: a 1-step GRPO run on the tiny local model
    with azr's reward functions (TRL calls them; their means appear in TRL's log)."""
    pytest.importorskip("trl")
    pytest.importorskip("datasets")
    doc = (Path(__file__).resolve().parents[1] / "docs" / "trl.md").read_text(encoding="utf-8")
    (code,) = re.findall(r"^```python\n(.*?)^```", doc, re.DOTALL | re.MULTILINE)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    logged = ast.literal_eval(done.stdout.strip().splitlines()[-1])
    assert set(logged) >= {"rewards/deduction_reward/mean", "rewards/tests_reward/mean"}
    assert -1.0 <= logged["rewards/deduction_reward/mean"] <= 1.0
    assert 0.0 <= logged["rewards/tests_reward/mean"] <= 1.0
