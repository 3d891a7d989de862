"""The benchmark suite, read from `evaluation/benchmarks.yaml` (data, not code)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from ..cli import ConfigError

SUITE_FILE = Path(__file__).resolve().parents[2] / "evaluation" / "benchmarks.yaml"


class EvalError(ConfigError):
    """Bad evaluation input, reported as one line naming the fix."""


@dataclass(frozen=True)
class ScoreSpec:
    """Which number of VLMEvalKit's result to read, and its full-scale value.

    `row` selects rows by column value (default: the first row); `columns` are summed; `reduce: mean`
    averages the selected rows instead of taking the first (MathVerse: one row per problem version).
    """

    columns: tuple[str, ...]
    max: float
    row: dict[str, Any] = field(default_factory=dict)
    reduce: str = "first"


def score_spec(raw: dict[str, Any]) -> ScoreSpec:
    columns = tuple(raw["columns"]) if "columns" in raw else (raw["column"],)
    reduce = raw.get("reduce", "first")
    if reduce not in ("first", "mean"):
        raise EvalError(f"benchmarks.yaml: reduce: {reduce} is not first or mean")
    return ScoreSpec(columns=columns, max=float(raw["max"]), row=dict(raw.get("row", {})), reduce=reduce)


@dataclass(frozen=True)
class Benchmark:
    key: str  # the Table 1 column name
    dataset: str  # VLMEvalKit's dataset name
    vlmeval_class: str
    group: str  # column-group title
    needs_llm_judge: bool
    score: ScoreSpec  # the Table 1 number
    score_name: str = "score"  # which of `metrics` Table 1 reads
    metrics: dict[str, ScoreSpec] = field(default_factory=dict)  # every named sub-metric, 0-100
    required_columns: tuple[str, ...] = ()  # what the class reads from a local (non-official) TSV


def load_suite_file(path: str | Path = SUITE_FILE) -> dict[str, Any]:
    with open(path) as f:
        return yaml.safe_load(f)


def all_benchmarks(path: str | Path = SUITE_FILE) -> dict[str, Benchmark]:
    raw = load_suite_file(path)
    groups = raw["groups"]
    found = {}
    for key, spec in raw["benchmarks"].items():
        metrics = {name: score_spec(m) for name, m in (spec.get("metrics") or {}).items()}
        if isinstance(spec["score"], str):  # the name of one of the metrics
            if spec["score"] not in metrics:
                raise EvalError(f"benchmarks.yaml: {key}: score: {spec['score']} is not one of its metrics")
            score_name, score = spec["score"], metrics[spec["score"]]
        else:
            score_name, score = "score", score_spec(spec["score"])
        found[key] = Benchmark(
            key=key,
            dataset=spec["dataset"],
            vlmeval_class=spec["class"],
            group=groups[spec["group"]],
            needs_llm_judge=spec["judge"] == "llm",
            score=score,
            score_name=score_name,
            metrics=metrics,
            required_columns=tuple(spec.get("columns", ())),
        )
    return found


def resolve_benchmarks(
    selection: str | list[str], overrides: dict[str, str] | None = None, path: str | Path = SUITE_FILE
) -> list[Benchmark]:
    """A suite name (`table1`), a comma list, or a list of benchmark keys -> benchmarks in order.

    `overrides` maps a benchmark key to another VLMEvalKit dataset name (e.g. MathVision_MINI).
    """
    known = all_benchmarks(path)
    suites = load_suite_file(path)["suites"]
    names = [selection] if isinstance(selection, str) else list(selection)
    names = [part.strip() for name in names for part in str(name).split(",") if part.strip()]
    if not names:
        raise EvalError(f"benchmarks is empty; choose a suite ({', '.join(suites)}) or benchmarks ({', '.join(known)})")
    keys: list[str] = []
    for name in names:
        if name in suites:
            keys.extend(suites[name])
        elif name in known:
            keys.append(name)
        else:
            raise EvalError(
                f"unknown benchmark {name!r}; choose a suite ({', '.join(suites)}) "
                f"or benchmarks ({', '.join(known)}), as listed in evaluation/benchmarks.yaml"
            )
    overrides = dict(overrides or {})
    for key in overrides:
        if key not in known:
            raise EvalError(f"eval.datasets.{key}: {key} is not a benchmark; use one of {', '.join(known)}")
    chosen = dict.fromkeys(keys)  # ordered, without repeats
    return [_with_dataset(known[k], overrides.get(k)) for k in chosen]


def _with_dataset(bench: Benchmark, dataset: str | None) -> Benchmark:
    if not dataset:
        return bench
    return replace(bench, dataset=dataset)


def column_groups(benchmarks: list[Benchmark]) -> list[tuple[str, list[str]]]:
    """[(group title, [benchmark keys])] in first-seen order: the Table 1 header."""
    groups: dict[str, list[str]] = {}
    for bench in benchmarks:
        groups.setdefault(bench.group, []).append(bench.key)
    return list(groups.items())
