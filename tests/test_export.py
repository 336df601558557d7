"""``azr export``: a LoRA run's checkpoint becomes a plain Hugging Face directory that transformers loads
without azr or peft, scoring tokens exactly as the checkpoint does."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from azr.cli import main  # noqa: E402
from azr.models.loading import load_model, peft_quiet  # noqa: E402
from azr.runs.directory import RunDirectory  # noqa: E402


def _logprobs(model: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        logits = model(input_ids=ids).logits.float()
    return torch.log_softmax(logits[:, :-1], -1).gather(-1, ids[:, 1:, None])[..., 0]


def test_a_lora_run_exports_to_a_directory_transformers_loads_alone(tiny_model_dir: Path, tmp_path: Path) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    model, tokenizer = load_model(tiny_model_dir)
    with peft_quiet():
        model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear"))
    with torch.no_grad():  # a trained adapter: B is zero at initialisation, so make it count
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0.0, 0.05)
    run = RunDirectory(tmp_path / "run")
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad])
    run.save_checkpoint(3, model, tokenizer, optimizer, {}, keep=1, base_model=str(tiny_model_dir))

    out = tmp_path / "exported"
    assert main(["export", str(run.path), str(out)]) == 0
    assert (out / "config.json").is_file() and not (out / "adapter_config.json").exists()
    plain = AutoModelForCausalLM.from_pretrained(out, local_files_only=True)
    plain.eval()
    assert not hasattr(plain, "peft_config")
    ids = torch.tensor(
        [AutoTokenizer.from_pretrained(out, local_files_only=True)("def f(x):\n    return x")["input_ids"]]
    )
    model.eval()
    expected = _logprobs(model, ids)
    assert not torch.allclose(expected, _logprobs(load_model(tiny_model_dir)[0], ids), atol=1e-3), "adapter is inert"
    assert torch.allclose(_logprobs(plain, ids), expected, atol=1e-5)

    # OUT must be new or empty; a source that is not a model is a usage error too.
    assert main(["export", str(run.path), str(out)]) == 2
    assert main(["export", str(tmp_path / "nothing-here"), str(tmp_path / "other")]) == 2
