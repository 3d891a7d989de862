"""The benchmark suite, read from `evaluation/benchmarks.yaml` (data, not code)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SUITE_FILE = Path(__file__).resolve().parents[2] / "evaluation" / "benchmarks.yaml"


class EvalError(ValueError):
    """Bad evaluation input, reported as one line naming the fix."""


@dataclass(frozen=True)
class ScoreSpec:
    """Which number of VLMEvalKit's result to read, and its full-scale value."""

    columns: tuple[str, ...]
    max: float
    row: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Benchmark:
    key: str  # the Table 1 column name
    dataset: str  # VLMEvalKit's dataset name
    vlmeval_class: str
    group: str  # column-group title
    needs_llm_judge: bool
    score: ScoreSpec


def load_suite_file(path: str | Path = SUITE_FILE) -> dict[str, Any]:
    with open(path) as f:
        return yaml.safe_load(f)


def all_benchmarks(path: str | Path = SUITE_FILE) -> dict[str, Benchmark]:
    raw = load_suite_file(path)
    groups = raw["groups"]
    found = {}
    for key, spec in raw["benchmarks"].items():
        score = spec["score"]
        columns = tuple(score["columns"]) if "columns" in score else (score["column"],)
        found[key] = Benchmark(
            key=key,
            dataset=spec["dataset"],
            vlmeval_class=spec["class"],
            group=groups[spec["group"]],
            needs_llm_judge=spec["judge"] == "llm",
            score=ScoreSpec(columns=columns, max=float(score["max"]), row=dict(score.get("row", {}))),
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
    return Benchmark(bench.key, dataset, bench.vlmeval_class, bench.group, bench.needs_llm_judge, bench.score)


def column_groups(benchmarks: list[Benchmark]) -> list[tuple[str, list[str]]]:
    """[(group title, [benchmark keys])] in first-seen order: the Table 1 header."""
    groups: dict[str, list[str]] = {}
    for bench in benchmarks:
        groups.setdefault(bench.group, []).append(bench.key)
    return list(groups.items())
