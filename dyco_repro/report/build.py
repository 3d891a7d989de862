"""A sweep's report, from its records (read only): Table 1 (md, tex, csv), the paired statistics and the
figures under <output_root>/sweeps/<id>/report/. Logging what MLflow misses and attaching the report to
the sweep's run is the caller's (the sweep launcher, `python -m dyco_repro.report`).

Paired statistics (``stats``): the trained cells' per-item scores (``items.csv``, one row per item, cell
and seed) give ``comparisons.csv`` (DyCo - baseline per model, algo and benchmark, plus Avg: delta, 95%
interval over items and seeds, p, Benjamini-Hochberg adjusted p; with the paper's delta and whether it
lies in the interval when a reference is given), its forest plot (``forest.png``) and, with three or
more seeds, ``improvement.csv`` (probability of improvement over seeds). The table marks the pairs
significant after adjustment."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..atomic import write_text_atomic
from ..records import TRAIN, CellRecord, Store
from ..viewer.report import write_roles_page
from . import stats
from .collect import ROLE_METRICS, columns_of, curves, item_scores, row_label, sweep_records, to_cell_result
from .forest import plot_forest
from .plots import plot_pair_bars, plot_reward_curves, plot_role_fractions
from .table import build_table, load_paper_reference, to_markdown, write_all

PAPER_REFERENCE = Path(__file__).resolve().parents[2] / "evaluation" / "table1_paper.csv"
STATS_SEED = 0  # the bootstrap and permutation draws: the same records give the same report


@dataclass(frozen=True)
class SweepReport:
    markdown: str  # Table 1 as Markdown
    files: list[Path]  # everything written under the report folder


def build_sweep_report(
    store: Store,
    sweep_dir: Path,
    sweep_id: str,
    timings: list | None = None,
    reference: Path | None = PAPER_REFERENCE,
) -> SweepReport | None:
    """Write the sweep's tables and figures; None when no cell has finished."""
    records, from_mlflow = sweep_records(store, sweep_dir, sweep_id)
    if not records:
        print(f"sweep {sweep_id}: no finished cell yet", file=sys.stderr)
        return None
    columns = columns_of(records)
    ref = load_paper_reference(reference) if reference else None
    models = sorted({r.model_label for r in records})
    out = Path(sweep_dir) / "report"
    benchmarks = [key for _, keys in columns for key in keys]
    comparisons, stat_files = paired_statistics(records, benchmarks, ref, out)
    table = build_table(
        [to_cell_result(r) for r in records], columns, model_order=models, reference=ref, comparisons=comparisons
    )
    files = list(write_all(table, out).values()) + stat_files
    if from_mlflow:
        train_runs = {row_label(r): r.run_id for r in records if r.kind == TRAIN and r.run_id}
        dyco_runs = {row_label(r): r.run_id for r in records if r.kind == TRAIN and r.method == "dyco" and r.run_id}
        for path in (
            plot_reward_curves(curves(train_runs, "reward"), out / "reward_curves.png"),
            plot_role_fractions(
                {label: _roles(run_id) for label, run_id in dyco_runs.items()}, out / "role_fractions.png"
            ),
        ):
            if path is not None:
                files.append(path)
    if (bars := plot_pair_bars(table, out / "pair_bars.png")) is not None:
        files.append(bars)
    dyco_cells = [(row_label(r), Path(r.run_dir)) for r in records if r.kind == TRAIN and r.method == "dyco"]
    if dyco_cells:  # the token-role viewer: a few completions per DyCo cell, early and late
        files.append(write_roles_page(dyco_cells, out / "roles.html"))
    if timings:
        timing = out / "timing.json"
        write_text_atomic(timing, json.dumps(summarise(timings), indent=2))
        files.append(timing)
        print(overhead_line(summarise(timings)))
    print(f"report: {out}")
    return SweepReport(to_markdown(table), files)


def paired_statistics(
    records: list[CellRecord], benchmarks: list[str], reference: pd.DataFrame | None, out: Path
) -> tuple[pd.DataFrame | None, list[Path]]:
    """(comparisons or None when no pair has per-item scores, the files written): ``items.csv``,
    ``comparisons.csv``, ``forest.png`` and, with >= 3 seeds, ``improvement.csv``."""
    files = []
    items = item_scores(records)
    improvement = stats.improvement_table(seed_scores(records, benchmarks), rng=STATS_SEED)
    if not improvement.empty:
        files.append(_write_csv(improvement, out / "improvement.csv"))
    if items.empty:
        return None, files
    files.append(_write_csv(items, out / "items.csv"))
    try:
        comparisons = stats.paired_comparisons(items, benchmarks=benchmarks, rng=STATS_SEED)
    except stats.StatsError as err:
        print(f"note: no paired comparison ({err})", file=sys.stderr)
        return None, files
    if reference is not None:
        comparisons = stats.with_paper(comparisons, stats.paper_deltas(reference))
    files.append(_write_csv(comparisons, out / "comparisons.csv"))
    drawn = comparisons
    if "paper_delta" in drawn and drawn["paper_delta"].isna().all():  # no paper row for these models
        drawn = drawn.drop(columns=["paper_delta"])
    if (forest := plot_forest(drawn, out / "forest.png")) is not None:
        files.append(forest)
    return comparisons, files


def seed_scores(records: list[CellRecord], benchmarks: list[str]) -> pd.DataFrame:
    """The trained cells' scores per seed (``model, algo, method, benchmark, seed, score``, points), plus
    each seed's Avg where it scored every benchmark: the input of ``stats.improvement_table``."""
    rows = []
    for r in records:
        if r.kind != TRAIN or r.seed is None:
            continue
        values = {k: r.scores[k].score for k in benchmarks if k in r.scores and r.scores[k].score is not None}
        rows += [(r.model_label, r.algo, r.method, k, r.seed, v) for k, v in values.items()]
        if len(values) == len(benchmarks):
            rows.append((r.model_label, r.algo, r.method, stats.AVG, r.seed, sum(values.values()) / len(values)))
    return pd.DataFrame(rows, columns=["model", "algo", "method", "benchmark", "seed", "score"])


def _write_csv(frame: pd.DataFrame, path: Path) -> Path:
    write_text_atomic(path, frame.to_csv(index=False, lineterminator="\n"))
    return path


def _roles(run_id: str) -> dict[str, list[tuple[int, float]]]:
    return {role: series for role, metric in ROLE_METRICS.items() for series in curves({role: run_id}, metric).values()}


def summarise(timings: list[dict[str, float]]) -> dict[str, Any]:
    """Orchestration overhead per cell: the launcher's wall time minus the cell's own commands."""
    overhead = [t["wall_s"] - t["own_s"] for t in timings]
    own = sum(t["own_s"] for t in timings)
    return {
        "cells": timings,
        "mean_overhead_s": sum(overhead) / len(overhead),
        "mean_logging_s": sum(t["logging_s"] for t in timings) / len(timings),
        "overhead_fraction": sum(overhead) / own if own else None,
    }


def overhead_line(summary: dict[str, Any]) -> str:
    fraction = summary["overhead_fraction"]
    share = f" ({100 * fraction:.1f}% of the cells' own time)" if fraction is not None else ""
    return (
        f"orchestration overhead: {summary['mean_overhead_s']:.1f} s per cell (dispatch + logging; logging "
        f"{summary['mean_logging_s']:.1f} s){share}"
    )
