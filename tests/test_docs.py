"""The README's and docs' Python snippets run as pasted (against the real sandbox)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _first_python_block(path: Path, after: str) -> str:
    text = path.read_text(encoding="utf-8")
    match = re.search(r"```python\n(.*?)```", text[text.index(after) :], re.DOTALL)
    assert match, f"no python block after {after!r} in {path.name}"
    return match.group(1)


@pytest.mark.parametrize(
    ("doc", "heading"),
    [("README.md", "## The sandbox"), ("README.md", "## The task core"), ("docs/grading.md", "# Grading")],
)
def test_snippet_runs_as_pasted(sandbox: object, doc: str, heading: str) -> None:
    namespace: dict[str, object] = {}
    exec(_first_python_block(ROOT / doc, heading), namespace)
