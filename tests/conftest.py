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
