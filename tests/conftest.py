"""Shared fixtures: one real sandbox per session (building the guest once if needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from azr import Sandbox

CRUXEVAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "cruxeval" / "cruxeval.jsonl"


@pytest.fixture(scope="session")
def sandbox() -> Sandbox:
    return Sandbox(workers=2, timeout_s=2.0)


@pytest.fixture(scope="session")
def cruxeval() -> list[dict[str, str]]:
    if not CRUXEVAL.is_file():
        pytest.skip(f"CRUXEval data not found at {CRUXEVAL}")
    with CRUXEVAL.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@pytest.fixture(scope="session")
def taught_model_dir(tiny_model_dir, tmp_path_factory):
    """The tiny model after about a minute of format teaching (see tests/teaching.py)."""
    from teaching import teach

    return teach(tiny_model_dir, tmp_path_factory.mktemp("taught"))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-init tiny causal LM with a real BPE tokenizer and chat template, built once (no downloads)."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from azr.models.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", seed=0)
