"""azr's verifier as veRL's custom reward function.

veRL loads a reward function from a file: point its config at this module's file and name one of the
functions below (the key is ``custom_reward_function`` in older veRL configs, ``reward.custom_reward_function``
in newer ones)::

    custom_reward_function.path=$(python -c 'import azr.integrations.verl as m; print(m.__file__)')
    custom_reward_function.name=compute_score            # the default reward manager, one call per response
    # or: custom_reward_function.name=compute_score_batched  with  reward_model.reward_manager=batch

Each row's ``data_source`` picks the task (``azr/deduction``, ``azr/abduction``, ``azr/induction``,
``azr/tests``; aliases ``cruxeval-o``, ``cruxeval-i``, ``humaneval``) and its ``ground_truth`` (a dict,
or that dict as a JSON string, as parquet columns often hold it) carries what grading needs:

==============  ========================================================================
task            ground_truth
==============  ========================================================================
deduction       ``{"program": ..., "input": ..., "output": ...}``
abduction       ``{"program": ..., "output": ...}``
induction       ``{"io_pairs": [[input, output], ...]}``
tests           ``{"tests": "code" | ["case", ...], "entry_point"?: ..., "code_prompt"?: ...}``
==============  ========================================================================

Returns ``{"score", "acc", "format_ok"}`` (the same keys for every row, as veRL's reward managers
require for extra info): ``score`` is the reward of :mod:`azr.integrations.trl` (1 / -0.5 / -1 for
deduction, abduction and induction; 1 / 0 for tests), ``acc`` 1.0 when correct, ``format_ok`` 1.0 when
an answer could be extracted. An unknown data source or malformed ground truth raises ``ValueError``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from azr.integrations.trl import task_reward
from azr.verify.scoring import extract_code

__all__ = ["DATA_SOURCES", "compute_score", "compute_score_batched"]

DATA_SOURCES: dict[str, str] = {
    "azr/deduction": "deduction",
    "azr/abduction": "abduction",
    "azr/induction": "induction",
    "azr/tests": "tests",
    "cruxeval-o": "deduction",
    "cruxeval-i": "abduction",
    "humaneval": "tests",
}
"""``data_source`` values this module grades, and the task each means."""

_FIELDS = {
    "deduction": ("program", "input", "output"),
    "abduction": ("program", "output"),
    "induction": ("io_pairs",),
    "tests": ("tests",),
}


def _ground_truth(raw: object, task: str) -> Mapping[str, Any]:
    try:
        data = json.loads(raw) if isinstance(raw, str | bytes) else raw
    except RecursionError as exc:  # JSON nested past the interpreter's recursion limit
        raise ValueError(f"ground_truth for {task} nests too deeply to read") from exc
    if not isinstance(data, Mapping):
        raise ValueError(f"ground_truth for {task} must be a dict (or its JSON), got {type(data).__name__}")
    missing = [f for f in _FIELDS[task] if data.get(f) is None]
    if missing:
        raise ValueError(f"ground_truth for {task} lacks {missing}")
    for field in ("program", "input", "output", "entry_point", "code_prompt"):
        if data.get(field) is not None and not isinstance(data[field], str):
            raise ValueError(f"ground_truth {field!r} for {task} must be a string, got {type(data[field]).__name__}")
    if task == "induction" and not _is_pairs(data["io_pairs"]):
        raise ValueError(
            f"ground_truth 'io_pairs' for {task} must be a list of [input, output] string pairs, "
            f"got {str(data['io_pairs'])[:80]!r}"
        )
    tests = data.get("tests")
    if task == "tests" and not (isinstance(tests, str) or _is_strings(tests)):
        raise ValueError(f"ground_truth 'tests' for {task} must be a string or a list of strings")
    return data


def _is_strings(value: object) -> bool:
    return isinstance(value, list | tuple) and all(isinstance(item, str) for item in value)


def _is_pairs(value: object) -> bool:
    """A list of [input, output] pairs of strings (a dict or a string would iterate into nonsense cases)."""
    return isinstance(value, list | tuple) and all(_is_strings(pair) and len(pair) == 2 for pair in value)


def compute_score_batched(
    data_sources: Sequence[str],
    solution_strs: Sequence[str],
    ground_truths: Sequence[object],
    extra_infos: Sequence[object] | None = None,
    **_: object,
) -> list[dict[str, float]]:
    """Score a whole batch in one pass through the sandbox (veRL's ``batch`` reward manager)."""
    tasks: list[str] = []
    for source in data_sources:
        task = DATA_SOURCES.get(str(source))
        if task is None:
            raise ValueError(f"azr cannot score data_source {source!r}; known: {', '.join(DATA_SOURCES)}")
        tasks.append(task)
    truths = [_ground_truth(raw, task) for raw, task in zip(ground_truths, tasks, strict=True)]
    scores = task_reward(
        list(solution_strs),
        task_type=tasks,
        programs=[t.get("program", "") for t in truths],
        inputs=[t.get("input", "") for t in truths],
        outputs=[t.get("output", "") for t in truths],
        io_pairs=[[tuple(pair) for pair in t.get("io_pairs", [])] for t in truths],
        tests=[t.get("tests", "") for t in truths],
        entry_point=[t.get("entry_point") for t in truths],
        code_prompt=[t.get("code_prompt") for t in truths],
    )
    out: list[dict[str, float]] = []
    for task, score, text in zip(tasks, scores, solution_strs, strict=True):
        value = float(score) if score is not None else 0.0
        if task == "tests":
            out.append({"score": value, "acc": value, "format_ok": float(extract_code(text) is not None)})
        else:
            out.append({"score": value, "acc": float(value == 1.0), "format_ok": float(value != -1.0)})
    return out


def compute_score(
    data_source: str, solution_str: str, ground_truth: object, extra_info: object = None, **_: object
) -> dict[str, float]:
    """veRL's per-response ``compute_score(data_source, solution_str, ground_truth, extra_info)``."""
    return compute_score_batched([data_source], [solution_str], [ground_truth], [extra_info])[0]
