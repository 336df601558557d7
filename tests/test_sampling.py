"""TransformersSampler on the real tiny model: shapes, behaviour log-probs, padding, seeding, stopping."""

from __future__ import annotations

import copy
import importlib.util
import logging
import math
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from azr.exceptions import ConfigError
from azr.models.loading import load_model
from azr.sampling.base import GenerationConfig, Sampler
from azr.sampling.hf import TransformersSampler, render
from azr.sampling.loading import load_sampler

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
from logprobs import teacher_forced  # noqa: E402

CHAT = [
    {"role": "system", "content": "You write Python."},
    {"role": "user", "content": "Write f(xs) returning the sum of xs, in <answer>```python ...```</answer>."},
]
PLAIN = "def f(xs):\n    return"
PROMPTS: list[Any] = [CHAT, PLAIN, "x = [1, 2, 3]\nprint(len(x))\n# prints"]


@pytest.fixture(scope="module")
def loaded(tiny_model_dir: Path) -> tuple[Any, Any]:
    return load_model(tiny_model_dir)


@pytest.fixture
def sampler(loaded: tuple[Any, Any]) -> TransformersSampler:
    model, tokenizer = loaded
    return TransformersSampler(model, tokenizer, batch_size=8)


def test_is_a_sampler(sampler: TransformersSampler) -> None:
    assert isinstance(sampler, Sampler)


def test_n_samples_per_prompt_in_order(sampler: TransformersSampler, loaded: tuple[Any, Any]) -> None:
    _, tokenizer = loaded
    out = sampler.generate(PROMPTS, GenerationConfig(n=4, temperature=1.0, max_new_tokens=12, seed=0))
    assert len(out) == len(PROMPTS)
    for prompt, group in zip(PROMPTS, out, strict=True):
        assert len(group) == 4
        expected = tokenizer(render(tokenizer, prompt), add_special_tokens=isinstance(prompt, str))["input_ids"]
        for s in group:
            assert s.prompt_ids == expected
            assert 1 <= len(s.token_ids) <= 12
            assert len(s.logprobs) == len(s.token_ids)
            assert all(math.isfinite(lp) and lp <= 0 for lp in s.logprobs)
            assert s.finished == (len(s.token_ids) < 12 or s.token_ids[-1] in sampler.eos_token_ids)


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_logprobs_are_the_behaviour_policy(
    sampler: TransformersSampler, loaded: tuple[Any, Any], temperature: float
) -> None:
    """The returned log-probs equal a teacher-forced forward pass, so they are what was sampled from.

    The prompts have different lengths, so this also checks that left padding does not leak into them.
    """
    model, _ = loaded
    out = sampler.generate(PROMPTS, GenerationConfig(n=3, temperature=temperature, max_new_tokens=16, seed=1))
    for group in out:
        for s in group:
            reference = teacher_forced(model, s, temperature)
            expected = reference.gather(1, torch.tensor(s.token_ids)[:, None]).squeeze(1)
            assert torch.allclose(torch.tensor(s.logprobs, dtype=torch.float64), expected, atol=1e-4)


def test_top_p_logprobs_are_renormalised_over_the_nucleus(
    sampler: TransformersSampler, loaded: tuple[Any, Any]
) -> None:
    model, _ = loaded
    top_p = 0.5
    out = sampler.generate(PROMPTS[:2], GenerationConfig(n=4, temperature=1.0, top_p=top_p, max_new_tokens=10, seed=2))
    for group in out:
        for s in group:
            reference = teacher_forced(model, s)
            for step, (token, logprob) in enumerate(zip(s.token_ids, s.logprobs, strict=True)):
                probs = reference[step].exp()
                ordered = probs.sort(descending=True).values
                size = int((ordered.cumsum(0) - ordered < top_p).sum())  # smallest prefix reaching top_p
                assert probs[token] >= ordered[size - 1] - 1e-9, "sampled outside the nucleus"
                expected = math.log(probs[token] / ordered[:size].sum())
                assert logprob == pytest.approx(expected, abs=1e-4)
                assert logprob > reference[step, token] + 1e-3  # strictly above the untruncated log-prob


def test_greedy_logprobs_are_plain_log_softmax(sampler: TransformersSampler, loaded: tuple[Any, Any]) -> None:
    model, _ = loaded
    (group,) = sampler.generate([PLAIN], GenerationConfig(n=3, temperature=0.0, max_new_tokens=10))
    assert len(group) == 3
    assert group[0] is not group[1] and group[0] == group[1] == group[2]
    reference = teacher_forced(model, group[0])
    assert group[0].token_ids == reference.argmax(dim=-1).tolist()
    expected = reference.max(dim=-1).values
    assert torch.allclose(torch.tensor(group[0].logprobs, dtype=torch.float64), expected, atol=1e-4)


def test_left_padding_does_not_change_greedy_output(sampler: TransformersSampler) -> None:
    config = GenerationConfig(n=1, temperature=0.0, max_new_tokens=16)
    alone = sampler.generate([PLAIN], config)[0][0]
    longer = "# a much longer prompt that forces the short one to be left padded\n" * 3
    padded = sampler.generate([longer, PLAIN, CHAT], config)[1][0]
    assert padded.token_ids == alone.token_ids
    assert padded.logprobs == pytest.approx(alone.logprobs, abs=1e-4)


def test_temperature_one_is_not_greedy(sampler: TransformersSampler) -> None:
    """Sampling at temperature 1 must sample (solve rates estimated greedily would be meaningless)."""
    greedy = sampler.generate([PLAIN], GenerationConfig(n=1, temperature=0.0, max_new_tokens=16))[0][0]
    samples = sampler.generate([PLAIN], GenerationConfig(n=8, temperature=1.0, max_new_tokens=16, seed=3))[0]
    distinct = {tuple(s.token_ids) for s in samples}
    assert len(distinct) >= 6
    assert sum(s.token_ids != greedy.token_ids for s in samples) >= 7


def test_same_seed_same_samples(sampler: TransformersSampler) -> None:
    config = GenerationConfig(n=4, temperature=1.0, max_new_tokens=12, seed=7)
    state = torch.get_rng_state()
    first = sampler.generate(PROMPTS, config)
    assert torch.equal(torch.get_rng_state(), state)  # the caller's RNG is left alone
    assert sampler.generate(PROMPTS, config) == first
    other = sampler.generate(PROMPTS, GenerationConfig(n=4, temperature=1.0, max_new_tokens=12, seed=8))
    assert other != first


def test_batch_size_splits_calls(loaded: tuple[Any, Any]) -> None:
    model, tokenizer = loaded
    small = TransformersSampler(model, tokenizer, batch_size=2)
    out = small.generate(PROMPTS, GenerationConfig(n=2, temperature=1.0, max_new_tokens=6, seed=0))
    assert [len(g) for g in out] == [2, 2, 2]
    many = small.generate(PROMPTS[:2], GenerationConfig(n=5, temperature=1.0, max_new_tokens=6, seed=0))
    assert [len(g) for g in many] == [5, 5]  # n > batch_size: chunks of one prompt's completions
    assert len({tuple(s.token_ids) for s in many[0]}) == 5
    greedy = small.generate(PROMPTS, GenerationConfig(n=1, temperature=0.0, max_new_tokens=6))
    wide = TransformersSampler(model, tokenizer, batch_size=8).generate(
        PROMPTS, GenerationConfig(n=1, temperature=0.0, max_new_tokens=6)
    )
    assert [g[0].token_ids for g in greedy] == [g[0].token_ids for g in wide]


def test_chat_template_and_plain_rendering(loaded: tuple[Any, Any]) -> None:
    model, tokenizer = loaded
    rendered = render(tokenizer, CHAT)
    assert rendered.startswith("<|im_start|>system\nYou write Python.<|im_end|>\n")
    assert rendered.endswith("<|im_start|>assistant\n")
    assert render(tokenizer, PLAIN) == PLAIN

    plain_tokenizer = copy.deepcopy(tokenizer)
    plain_tokenizer.chat_template = None
    assert render(plain_tokenizer, CHAT) == CHAT[0]["content"] + "\n\n" + CHAT[1]["content"]
    sampler = TransformersSampler(model, plain_tokenizer)
    (group,) = sampler.generate([CHAT], GenerationConfig(n=2, temperature=1.0, max_new_tokens=5, seed=0))
    assert group[0].prompt_ids == plain_tokenizer(render(plain_tokenizer, CHAT))["input_ids"]


def test_max_new_tokens_cut_is_unfinished(sampler: TransformersSampler) -> None:
    out = sampler.generate(PROMPTS, GenerationConfig(n=4, temperature=1.0, max_new_tokens=3, seed=4))
    unfinished = [s for group in out for s in group if not s.finished]
    assert unfinished
    assert all(len(s.token_ids) == 3 and s.token_ids[-1] not in sampler.eos_token_ids for s in unfinished)


@pytest.fixture
def eos_likely(loaded: tuple[Any, Any]) -> Iterator[None]:
    """Make the tiny model end replies early by adding to the EOS logit (a real forward hook, not a mock)."""
    model, tokenizer = loaded
    eos = tokenizer.eos_token_id

    def boost(_module: Any, _inputs: Any, output: torch.Tensor) -> torch.Tensor:
        output = output.clone()
        output[..., eos] += 4.0
        return output

    handle = model.lm_head.register_forward_hook(boost)
    yield
    handle.remove()


@pytest.mark.usefixtures("eos_likely")
def test_eos_is_kept_in_tokens_not_in_text(sampler: TransformersSampler, loaded: tuple[Any, Any]) -> None:
    model, tokenizer = loaded
    eos = tokenizer.eos_token_id
    out = sampler.generate(PROMPTS, GenerationConfig(n=6, temperature=1.0, max_new_tokens=40, seed=5))
    finished = [s for group in out for s in group if s.finished]
    assert len(finished) >= 10
    for group in out:
        for s in group:
            assert s.token_ids.count(eos) == (1 if s.finished else 0)
            if s.finished:
                assert s.token_ids[-1] == eos
                assert s.text == tokenizer.decode(s.token_ids[:-1], skip_special_tokens=True)
                assert "<|im_end|>" not in s.text
            reference = teacher_forced(model, s)
            expected = reference.gather(1, torch.tensor(s.token_ids)[:, None]).squeeze(1)
            assert torch.allclose(torch.tensor(s.logprobs, dtype=torch.float64), expected, atol=1e-4)


def test_generation_config_eos_ids_also_stop(loaded: tuple[Any, Any]) -> None:
    model, tokenizer = loaded
    config = GenerationConfig(n=1, temperature=0.0, max_new_tokens=8)
    free = TransformersSampler(model, tokenizer).generate([PLAIN], config)[0][0].token_ids
    stop = free[-1]
    saved = model.generation_config.eos_token_id
    model.generation_config.eos_token_id = [tokenizer.eos_token_id, stop]
    try:
        cut = TransformersSampler(model, tokenizer).generate([PLAIN], config)[0][0]
    finally:
        model.generation_config.eos_token_id = saved
    assert cut.finished
    assert cut.token_ids == free[: free.index(stop) + 1]


def test_model_generation_defaults_do_not_leak(loaded: tuple[Any, Any], sampler: TransformersSampler) -> None:
    """A checkpoint's generation_config (top_k, repetition_penalty, ...) must not change what is sampled."""
    model, _ = loaded
    config = GenerationConfig(n=3, temperature=1.0, max_new_tokens=10, seed=6)
    clean = sampler.generate([PLAIN], config)
    gc = model.generation_config
    saved = gc.top_k, gc.repetition_penalty, gc.temperature
    gc.top_k, gc.repetition_penalty, gc.temperature = 5, 1.5, 0.3
    try:
        assert sampler.generate([PLAIN], config) == clean
    finally:
        gc.top_k, gc.repetition_penalty, gc.temperature = saved


def test_train_mode_is_restored(sampler: TransformersSampler, loaded: tuple[Any, Any]) -> None:
    model, _ = loaded
    model.train()
    try:
        sampler.generate([PLAIN], GenerationConfig(n=1, temperature=0.0, max_new_tokens=2))
        assert model.training
    finally:
        model.eval()
    sampler.generate([PLAIN], GenerationConfig(n=1, temperature=0.0, max_new_tokens=2))
    assert not model.training


def test_progress_counts_every_decoded_token_as_it_is_chosen(loaded: tuple[Any, Any]) -> None:
    """Tokens are reported step by step during decoding (rows that chose EOS stop counting), samples when
    their batch ends; the totals are the call's samples and their kept tokens, with nothing to correct."""
    model, tokenizer = loaded
    sampler = TransformersSampler(model, tokenizer, batch_size=4)
    config = GenerationConfig(n=3, temperature=1.0, max_new_tokens=16, seed=0)
    first = sampler.generate(PROMPTS, config)
    # The random tiny model never picks its EOS; also stopping at its favourite token ends rows early.
    favourite = Counter(t for group in first for s in group for t in s.token_ids).most_common(1)[0][0]
    sampler.eos_token_ids = sorted({*sampler.eos_token_ids, favourite})
    calls: list[tuple[int, int]] = []
    out = sampler.generate(PROMPTS, config, lambda items, tokens=0: calls.append((items, tokens)))
    lengths = [len(s.token_ids) for group in out for s in group]
    assert any(s.finished for group in out for s in group) and len(set(lengths)) > 1, "no row stopped early"
    assert sum(items for items, _ in calls) == len(PROMPTS) * 3
    assert sum(tokens for _, tokens in calls) == sum(lengths)
    assert calls[0][0] == 0 and calls[0][1] > 0  # tokens arrive before the batch's samples
    assert all(tokens == 0 for items, tokens in calls if items)  # counted while decoding: no correction
    assert len([c for c in calls if not c[0]]) >= 16  # one report per decoding step, not one per call


def test_progress_of_a_greedy_call_counts_copies_as_samples_without_tokens(sampler: TransformersSampler) -> None:
    calls: list[tuple[int, int]] = []
    out = sampler.generate(
        PROMPTS, GenerationConfig(n=3, temperature=0.0, max_new_tokens=5), lambda i, t=0: calls.append((i, t))
    )
    assert sum(items for items, _ in calls) == 9
    assert sum(tokens for _, tokens in calls) == sum(len(group[0].token_ids) for group in out)


def test_progress_true_shows_a_display_of_its_own(loaded: tuple[Any, Any], caplog: pytest.LogCaptureFixture) -> None:
    """Without a terminal (as under pytest) the display is one INFO line when the call ends."""
    model, tokenizer = loaded
    sampler = TransformersSampler(model, tokenizer, batch_size=1, progress=True)
    with caplog.at_level(logging.INFO, logger="azr.runs.progress"):
        sampler.generate(PROMPTS, GenerationConfig(n=1, temperature=0.0, max_new_tokens=2))
    (line,) = [r.getMessage() for r in caplog.records if r.name == "azr.runs.progress"]
    assert line.startswith("generate: 3/3 samples, 6 tokens")


@pytest.mark.parametrize(
    "config",
    [
        GenerationConfig(n=0),
        GenerationConfig(max_new_tokens=0),
        GenerationConfig(temperature=-1.0),
        GenerationConfig(top_p=0.0),
    ],
)
def test_invalid_config(sampler: TransformersSampler, config: GenerationConfig) -> None:
    with pytest.raises(ValueError, match="GenerationConfig"):
        sampler.generate([PLAIN], config)


def test_empty_prompt_list(sampler: TransformersSampler) -> None:
    assert sampler.generate([], GenerationConfig()) == []
    with pytest.raises(ValueError, match="no tokens"):
        sampler.generate([""], GenerationConfig())


def test_load_sampler(tiny_model_dir: Path) -> None:
    sampler = load_sampler(str(tiny_model_dir), batch_size=4, dtype="float32")
    assert isinstance(sampler, TransformersSampler) and sampler.batch_size == 4
    with pytest.raises(ValueError, match="unknown sampler backend"):
        load_sampler(str(tiny_model_dir), backend="tpu")  # type: ignore[arg-type]


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed")
def test_vllm_backend_without_vllm_says_what_to_install(tiny_model_dir: Path) -> None:
    import azr.sampling.vllm  # importing the module never needs vLLM

    with pytest.raises(ConfigError, match=r"pip install 'azr\[vllm\]'"):
        azr.sampling.vllm.VLLMSampler(tiny_model_dir)
    with pytest.raises(ConfigError, match=r"pip install 'azr\[vllm\]'"):
        load_sampler(str(tiny_model_dir), backend="vllm")


# peft 0.21 reads transformers' deprecated `is_gradient_checkpointing` property when wrapping a model (their
# incompatibility, not ours); the FutureWarning it triggers is harmless here.
@pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")
def test_peft_wrapped_model(loaded: tuple[Any, Any]) -> None:
    """The trainer may wrap the model in LoRA adapters; generation and log-probs must work through the wrapper."""
    peft = pytest.importorskip("peft")
    model, tokenizer = loaded
    wrapped = peft.get_peft_model(
        copy.deepcopy(model), peft.LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM")
    )
    sampler = TransformersSampler(wrapped, tokenizer)
    out = sampler.generate(PROMPTS[:2], GenerationConfig(n=2, temperature=1.0, max_new_tokens=8, seed=0))
    for group in out:
        for s in group:
            reference = teacher_forced(wrapped, s)
            expected = reference.gather(1, torch.tensor(s.token_ids)[:, None]).squeeze(1)
            assert torch.allclose(torch.tensor(s.logprobs, dtype=torch.float64), expected, atol=1e-4)


@pytest.mark.parametrize("batch_size", [1, 2, 5])
def test_a_sample_does_not_depend_on_what_it_was_batched_with(loaded: tuple[Any, Any], batch_size: int) -> None:
    """Each completion draws from its own stream, seeded by (call seed, prompt index, sample index): in
    float32 the same completions come out token for token whether decoded alone, in pairs, or with
    longer prompts padding them, and a prompt's samples do not move when other prompts follow it. The
    log-probs agree to float32 rounding, not bit for bit: a matmul's summation order changes with the
    batch's shape (5e-7 apart measured, one row against two)."""
    model, tokenizer = loaded
    config = GenerationConfig(n=3, temperature=1.0, max_new_tokens=14, seed=11)
    wide = TransformersSampler(model, tokenizer, batch_size=16).generate(PROMPTS, config)
    other = TransformersSampler(model, tokenizer, batch_size=batch_size).generate(PROMPTS, config)
    for a_group, b_group in zip(wide, other, strict=True):
        for a, b in zip(a_group, b_group, strict=True):
            assert a.token_ids == b.token_ids
            assert a.logprobs == pytest.approx(b.logprobs, abs=1e-5)
    first_only = TransformersSampler(model, tokenizer, batch_size=batch_size).generate(PROMPTS[:1], config)
    assert [s.token_ids for s in first_only[0]] == [s.token_ids for s in wide[0]]
    # The samples of one prompt still differ from one another.
    assert len({tuple(s.token_ids) for s in wide[0]}) == 3


def test_a_stop_string_ends_the_completion_just_after_it(sampler: TransformersSampler) -> None:
    """``GenerationConfig.stop``: the completion keeps the tokens up to the first one that completes a
    stop string, and counts as finished; log-probs stay aligned with the kept tokens."""
    config = GenerationConfig(n=1, temperature=0.0, max_new_tokens=24)
    (full,) = sampler.generate([PLAIN], config)[0]
    pieces = [sampler.tokenizer.decode(full.token_ids[: k + 1], skip_special_tokens=True) for k in range(24)]
    k = next(k for k in range(4, 24) if pieces[k] != pieces[k - 1])  # a token that adds text, a few in
    stop = pieces[k][len(pieces[k - 1]) - 2 :]  # its text plus the two characters before it
    assert stop and stop in full.text
    (cut,) = sampler.generate([PLAIN], GenerationConfig(n=1, temperature=0.0, max_new_tokens=24, stop=(stop,)))[0]
    assert cut.finished and cut.token_ids == full.token_ids[: len(cut.token_ids)]
    assert stop in cut.text and stop not in sampler.tokenizer.decode(cut.token_ids[:-1], skip_special_tokens=True)
    assert cut.logprobs == full.logprobs[: len(cut.token_ids)]
    assert len(cut.token_ids) <= k + 1
