"""Evaluation through VLMEvalKit (inference + its own scoring), the judge policy, and lm-eval."""

from .suite import Benchmark, EvalError, all_benchmarks, column_groups, resolve_benchmarks

__all__ = ["Benchmark", "EvalError", "all_benchmarks", "column_groups", "resolve_benchmarks"]
