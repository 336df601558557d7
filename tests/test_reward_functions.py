"""The TRL-style reward functions, called exactly as TRL calls them (keyword lists, chat messages)."""

from __future__ import annotations

from azr.integrations.trl import abduction_reward, deduction_reward, induction_reward

PROGRAM = "def f(x):\n    return sorted(x)"


def answer(kind: str, body: str) -> str:
    return f"<think>ok</think><answer>\n```{kind}\n{body}\n```\n</answer>"


def test_deduction_reward_as_trl_calls_it() -> None:
    completions = [
        answer("output", "[1, 2, 3]"),
        [{"role": "assistant", "content": answer("output", "[3, 2, 1]")}],
        "no format here",
    ]
    rewards = deduction_reward(
        prompts=["p"] * 3,
        completions=completions,
        programs=[PROGRAM] * 3,
        inputs=["[3, 1, 2]"] * 3,
        outputs=["[1, 2, 3]"] * 3,
        trainer_state=None,
    )
    assert rewards == [1.0, -0.5, -1.0]
    assert all(isinstance(r, float) for r in rewards)


def test_abduction_and_induction_rewards() -> None:
    rewards = abduction_reward(
        completions=[answer("input", "[2, 1, 3]"), answer("input", "[0]")],
        programs=[PROGRAM] * 2,
        inputs=["[3, 1, 2]"] * 2,
        outputs=["[1, 2, 3]"] * 2,
    )
    assert rewards == [1.0, -0.5]
    pairs = [("[2, 1]", "[1, 2]"), ("[]", "[]")]
    rewards = induction_reward(
        completions=[answer("python", PROGRAM), answer("python", "def f(x):\n    return x")],
        io_pairs=[pairs, pairs],
    )
    assert rewards == [1.0, -0.5]
