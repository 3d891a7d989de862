"""A sweep's report, from its records (read only): Table 1 (md, tex, csv) and the figures under
<output_root>/sweeps/<id>/report/. Logging what MLflow misses and attaching the report to the sweep's
run is the caller's (the sweep launcher, `python -m dyco_repro.report`)."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..atomic import write_text_atomic
from ..records import TRAIN, Store
from .collect import ROLE_METRICS, columns_of, curves, row_label, sweep_records, to_cell_result
from .plots import plot_pair_bars, plot_reward_curves, plot_role_fractions
from .table import build_table, load_paper_reference, to_markdown, write_all

PAPER_REFERENCE = Path(__file__).resolve().parents[2] / "evaluation" / "table1_paper.csv"


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
    table = build_table([to_cell_result(r) for r in records], columns, model_order=models, reference=ref)
    out = Path(sweep_dir) / "report"
    files = list(write_all(table, out).values())
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
    if timings:
        timing = out / "timing.json"
        write_text_atomic(timing, json.dumps(summarise(timings), indent=2))
        files.append(timing)
        print(overhead_line(summarise(timings)))
    print(f"report: {out}")
    return SweepReport(to_markdown(table), files)


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
