"""Benchmarks for azr models: CRUXEval output/input prediction and HumanEval, scored by execution in
the sandbox with pass@k. ``azr eval`` is the command line; this package is its library."""

from azr.evaluation.passk import pass_at_k, pass_at_k_mean
from azr.evaluation.report import BenchmarkResult, EvalReport, format_comparison, format_table
from azr.evaluation.run import (
    BENCHMARKS,
    EvalSettings,
    evaluate_answers,
    evaluate_model,
    load_answers,
    load_benchmarks,
    merge_shards,
)

__all__ = [
    "BENCHMARKS",
    "BenchmarkResult",
    "EvalReport",
    "EvalSettings",
    "evaluate_answers",
    "evaluate_model",
    "format_comparison",
    "format_table",
    "load_answers",
    "load_benchmarks",
    "merge_shards",
    "pass_at_k",
    "pass_at_k_mean",
]
