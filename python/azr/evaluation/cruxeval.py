"""CRUXEval (Gu et al. 2024): output prediction is azr's deduction, input prediction its abduction.

Items come from a CRUXEval-format JSONL (``code``, ``input``, ``output``, ``id`` per line; ``input`` is
the argument text of ``f(<input>)``, ``output`` a repr). Grading goes through
:meth:`azr.verify.grading.Verifier.grade`, the one implementation of correctness, in its CRUXEval
compatibility mode (``answers="expression", equality="value"``), so published numbers stay comparable:
an answer may be an expression, compared with ``==``. Unlike CRUXEval's own harness, an answer
expression is evaluated alone, never next to the task's program: one that calls ``f``
(``set(f([1]))``, ``{...} or f(...)``) fails, and only the plain data it evaluates to is compared.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from azr.chat import Message
from azr.exceptions import ConfigError
from azr.jsonl import iter_jsonl
from azr.verify import scoring
from azr.verify.grading import Verifier
from azr.verify.prompts import solver_messages
from azr.verify.tasks import Task, TaskType, Triple

__all__ = ["CruxItem", "CruxMode", "extract_answer", "grade", "load_cruxeval", "prompts"]


class CruxMode(StrEnum):
    """Which half of CRUXEval: predict the output (CRUXEval-O) or an input (CRUXEval-I)."""

    OUTPUT = "output"
    INPUT = "input"

    @property
    def task_type(self) -> TaskType:
        return TaskType.DEDUCTION if self is CruxMode.OUTPUT else TaskType.ABDUCTION


@dataclass(frozen=True, slots=True)
class CruxItem:
    """One CRUXEval problem."""

    id: str
    code: str
    input: str
    output: str

    @property
    def triple(self) -> Triple:
        return Triple(self.code, self.input, self.output)


def load_cruxeval(path: str | Path, limit: int | None = None) -> list[CruxItem]:
    """Read a CRUXEval-format JSONL; the first ``limit`` items when given. Malformed lines are a
    ``ConfigError`` naming the line (a silently shorter benchmark would change every score)."""
    path = Path(path)
    items: list[CruxItem] = []
    for number, _, row in iter_jsonl(path):
        try:
            if isinstance(row, ValueError):
                raise row
            fields = [row[key] for key in ("id", "code", "input", "output")]
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}:{number}: not a CRUXEval line (needs id, code, input, output): {exc}") from exc
        if not all(isinstance(value, str) for value in fields):
            raise ConfigError(f"{path}:{number}: id, code, input and output must be strings")
        items.append(CruxItem(*fields))
        if limit is not None and len(items) >= limit:
            break
    if not items:
        raise ConfigError(f"{path}: no CRUXEval items")
    ids = [item.id for item in items]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{path}: duplicate ids")
    return items


def prompts(items: Sequence[CruxItem], mode: CruxMode) -> list[list[Message]]:
    """azr's solver prompts (the same wording the trainer uses), one chat per item."""
    if mode is CruxMode.OUTPUT:
        return [solver_messages(TaskType.DEDUCTION, program=it.code, input=it.input) for it in items]
    return [solver_messages(TaskType.ABDUCTION, program=it.code, output=it.output) for it in items]


def extract_answer(text: object, mode: CruxMode) -> str | None:
    """The bare answer (a value for ``OUTPUT``, argument text for ``INPUT``) in raw or stripped text;
    see :func:`azr.verify.scoring.extract_answer` for the accepted forms."""
    return scoring.extract_answer(text, mode.task_type)


def grade(
    items: Sequence[CruxItem],
    answers: Sequence[Sequence[object]],
    mode: CruxMode,
    verifier: Verifier,
    *,
    extract: Callable[[object], str | None] | None = None,
) -> list[list[bool]]:
    """Grade every answer of every item (``answers[k]`` belongs to ``items[k]``), in one sandbox batch.

    Answers may be raw model text or bare answers (see :func:`extract_answer`); anything that yields
    no answer is wrong. Always graded in CRUXEval compatibility mode (see the module docstring),
    whatever ``verifier``'s own mode; its sandbox and policy are used. ``extract`` reads the answer out
    of each (default: :func:`extract_answer`; a protocol's own reader, :mod:`azr.evaluation.protocols`).
    """
    if len(items) != len(answers):
        raise ValueError(f"{len(items)} items but {len(answers)} answer lists")
    tasks = [
        Task(mode.task_type, item.code, (item.input,), (item.output,))
        for item, group in zip(items, answers, strict=True)
        for _ in group
    ]
    read = extract or (lambda answer: extract_answer(answer, mode))
    flat = [read(answer) for group in answers for answer in group]
    compatible = Verifier(verifier.sandbox, verifier.policy, answers="expression", equality="value")
    verdicts = [g.correct for g in compatible.grade(tasks, flat)]
    out: list[list[bool]] = []
    start = 0
    for group in answers:
        out.append(verdicts[start : start + len(group)])
        start += len(group)
    return out
