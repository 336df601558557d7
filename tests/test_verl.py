"""azr's reward functions through veRL's own code: a DataProto batch of tokenized prompts and responses,
the reward function loaded from its file by veRL's ``get_custom_reward_fn``, scored by veRL's naive
(one call per response) and batch reward managers.

veRL is installed by ``scripts/install-verl-reward.sh`` (CI does); without it these tests skip, except
under CI, where they fail.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

if os.environ.get("CI"):
    import verl  # noqa: F401  (CI installs it: a missing veRL must fail, not skip)
else:
    pytest.importorskip("verl")
torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")

from omegaconf import OmegaConf  # noqa: E402
from transformers import AutoTokenizer  # noqa: E402
from verl import DataProto  # noqa: E402
from verl.trainer.ppo.reward import get_custom_reward_fn  # noqa: E402
from verl.workers.reward_manager.batch import BatchRewardManager  # noqa: E402
from verl.workers.reward_manager.naive import NaiveRewardManager  # noqa: E402

from azr.integrations import verl as azr_verl  # noqa: E402

SORT = "def f(x):\n    return sorted(x)"
TRUTH = {"program": SORT, "input": "[3, 1, 2]", "output": "[1, 2, 3]"}


def reply(block: str, body: str) -> str:
    return f"<answer>\n```{block}\n{body}\n```\n</answer>"


# (data_source, response, ground truth, expected score): right, wrong, unformatted, code instead of a
# prediction, an abduction input that rewrites f, an object that equals everything, an induction program.
ROWS = [
    ("azr/deduction", reply("output", "[1, 2, 3]"), TRUTH, 1.0),
    ("cruxeval-o", reply("output", "[3, 2, 1]"), TRUTH, -0.5),
    ("azr/deduction", "the answer is [1, 2, 3]", TRUTH, -1.0),
    ("azr/deduction", reply("output", "sorted([3, 1, 2])"), TRUTH, -1.0),
    ("cruxeval-i", reply("input", "[exec][0]('f.__code__ = (lambda *a: [1, 2, 3]).__code__') or 0"), TRUTH, -1.0),
    ("azr/abduction", reply("input", "[2, 3, 1]"), TRUTH, 1.0),
    ("azr/deduction", reply("output", "type('X', (), {'__eq__': lambda s, o: True})()"), TRUTH, -1.0),
    ("azr/induction", reply("python", "def f(x):\n    return sorted(x)"), {"io_pairs": [["[2, 1]", "[1, 2]"]]}, 1.0),
]


def batch(tokenizer: object, rows: list[tuple[str, str, dict[str, object], float]]) -> DataProto:
    """What veRL's rollout hands a reward manager: left-padded prompts, right-padded responses, one mask."""
    prompts = [tokenizer(f"Task {k}: answer in the azr format.")["input_ids"] for k in range(len(rows))]  # type: ignore[operator]
    responses = [tokenizer(text)["input_ids"] for _, text, _, _ in rows]  # type: ignore[operator]
    p_len, r_len = max(map(len, prompts)), max(map(len, responses))
    pad = int(tokenizer.pad_token_id)  # type: ignore[attr-defined]
    prompt_ids = torch.full((len(rows), p_len), pad)
    response_ids = torch.full((len(rows), r_len), pad)
    mask = torch.zeros((len(rows), p_len + r_len), dtype=torch.long)
    for k, (p, r) in enumerate(zip(prompts, responses, strict=True)):
        prompt_ids[k, p_len - len(p) :] = torch.tensor(p)
        response_ids[k, : len(r)] = torch.tensor(r)
        mask[k, p_len - len(p) : p_len + len(r)] = 1
    return DataProto.from_dict(
        tensors={
            "prompts": prompt_ids,
            "responses": response_ids,
            "input_ids": torch.cat([prompt_ids, response_ids], dim=1),
            "attention_mask": mask,
        },
        non_tensors={
            "data_source": np.array([source for source, _, _, _ in rows], dtype=object),
            # Parquet columns often hold the ground truth as JSON text: half the rows do here.
            "reward_model": np.array(
                [{"ground_truth": json.dumps(t) if k % 2 else t} for k, (_, _, t, _) in enumerate(rows)], dtype=object
            ),
            "extra_info": np.array([{"index": k} for k in range(len(rows))], dtype=object),
        },
    )


def scores_at_last_token(data: DataProto, rewards: torch.Tensor) -> list[float]:
    lengths = data.batch["attention_mask"][:, data.batch["prompts"].shape[1] :].sum(-1)
    return [float(rewards[k, int(n) - 1]) for k, n in enumerate(lengths)]


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: Path) -> object:
    return AutoTokenizer.from_pretrained(tiny_model_dir)


def custom_fn(name: str) -> object:
    config = OmegaConf.create({"reward": {"custom_reward_function": {"path": azr_verl.__file__, "name": name}}})
    fn = get_custom_reward_fn(config)
    assert fn is not None
    return fn


def test_the_naive_reward_manager_scores_azr_rows(tokenizer: object) -> None:
    rows = ROWS
    data = batch(tokenizer, rows)
    manager = NaiveRewardManager(tokenizer=tokenizer, num_examine=0, compute_score=custom_fn("compute_score"))
    out = manager(data, return_dict=True)
    assert scores_at_last_token(data, out["reward_tensor"]) == [expected for *_, expected in rows]
    assert out["reward_tensor"].sum().item() == pytest.approx(sum(expected for *_, expected in rows))
    extra = out["reward_extra_info"]
    assert extra["acc"] == [1.0 if expected == 1.0 else 0.0 for *_, expected in rows]
    assert len(extra["format_ok"]) == len(rows)


def test_the_batch_reward_manager_scores_the_same(tokenizer: object) -> None:
    rows = ROWS
    data = batch(tokenizer, rows)
    naive = NaiveRewardManager(tokenizer=tokenizer, num_examine=0, compute_score=custom_fn("compute_score"))
    batched = BatchRewardManager(tokenizer=tokenizer, num_examine=0, compute_score=custom_fn("compute_score_batched"))
    a = naive(data, return_dict=True)["reward_tensor"]
    b = batched(data, return_dict=True)["reward_tensor"]
    assert torch.equal(a, b)
    assert scores_at_last_token(data, b) == [expected for *_, expected in rows]
