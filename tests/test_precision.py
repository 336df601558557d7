"""model.dtype = "auto": bf16 where a probe shows the hardware does it natively, float32 elsewhere."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from azr.models.precision import NATIVE_SPEEDUP, Precision, cpu_bf16_speedup, native_bf16, resolve_precision  # noqa: E402

CPU = torch.device("cpu")


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
@pytest.mark.parametrize("lora", [True, False])
def test_an_explicit_dtype_is_taken_as_is_without_autocast(dtype: str, lora: bool) -> None:
    """... except LoRA adapters, which train in float32 over any base (AdamW on bf16 adapters rounds
    small updates away)."""
    precision = resolve_precision(dtype, CPU, lora=lora)
    trained = "float32" if lora else dtype
    assert precision == Precision(dtype, trained, None, dtype, precision.reason)  # type: ignore[arg-type]
    assert dtype in precision.reason and precision.autocast_dtype is None


def test_an_unknown_dtype_is_refused() -> None:
    with pytest.raises(ValueError, match=r"model\.dtype"):
        resolve_precision("float8", CPU, lora=True)


def test_the_cpu_probe_decides_auto_and_says_so() -> None:
    speedup = cpu_bf16_speedup()
    assert speedup > 0 and cpu_bf16_speedup() == speedup  # measured once per process
    native, evidence = native_bf16(CPU)
    assert native == (speedup >= NATIVE_SPEEDUP)
    assert f"{speedup:.1f}x" in evidence
    lora, full = resolve_precision("auto", CPU, lora=True), resolve_precision("auto", CPU, lora=False)
    if native:
        assert (lora.weights, lora.trained, lora.autocast, lora.engine) == (
            "bfloat16",
            "float32",
            "bfloat16",
            "bfloat16",
        )
        assert (full.weights, full.trained, full.autocast) == ("float32", "float32", "bfloat16")
        assert "frozen base in bfloat16" in lora.reason and "float32 weights" in full.reason
    else:
        assert lora == Precision("float32", "float32", None, "float32", lora.reason)
        assert "float32" in lora.reason
    assert evidence in lora.reason


def test_a_cpu_without_native_bf16_gets_float32(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a CPU with emulated bf16 measures (bf16 slower than float32) resolves to float32."""
    import azr.models.precision

    monkeypatch.setattr(azr.models.precision, "cpu_bf16_speedup", lambda: 0.4)
    precision = resolve_precision("auto", CPU, lora=True)
    assert (precision.weights, precision.autocast, precision.engine) == ("float32", None, "float32")
    assert "0.4x" in precision.reason


def test_a_lora_run_on_auto_trains_float32_adapters_over_the_resolved_base(taught_model_dir, tmp_path) -> None:
    """One real step of a LoRA run on ``auto`` on this machine: the run says its precision in the log's
    config dump, adapters train in float32, the base is held as resolved, the sampler computes like the
    update, and the step's loss and mismatch are finite."""
    import json
    import math

    pytest.importorskip("peft")
    from azr.selfplay.config import load_config
    from azr.selfplay.trainer import Trainer

    overrides = [
        f"model.name={json.dumps(str(taught_model_dir))}",
        "model.lora_rank=4",
        "run.steps=1",
        "run.progress=false",
        "sampler.max_new_tokens_propose=48",
        "sampler.max_new_tokens_solve=32",
        "selfplay.proposals_per_type=2",
        "selfplay.solves_per_type=2",
        "selfplay.solve_rate_samples=2",
        "sandbox.workers=2",
    ]
    trainer = Trainer(load_config(None, overrides), tmp_path / "run")
    expected = resolve_precision("auto", CPU, lora=True)
    assert trainer.precision == expected
    assert f"# precision: {expected.reason}" in (tmp_path / "run" / "config.toml").read_text()
    trained = {p.dtype for p in trainer.model.parameters() if p.requires_grad}
    frozen = {p.dtype for p in trainer.model.parameters() if not p.requires_grad}
    assert trained == {torch.float32}
    assert frozen == {expected.weights_dtype}
    assert trainer.sampler.autocast_dtype == expected.autocast_dtype  # type: ignore[attr-defined]
    assert trainer.updater.autocast_dtype == expected.autocast_dtype
    row = trainer.train_step()
    assert math.isfinite(row["update/loss"]) and math.isfinite(row["update/mismatch/abs_max"])
