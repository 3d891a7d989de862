"""A sweep's report: log any cell MLflow is missing, collect the cells, write Table 1 (md, tex, csv)
and the figures under <output_root>/sweeps/<id>/report/, and attach them to the sweep's run."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ..atomic import write_text_atomic
from .collect import ROLE_METRICS, columns_of, curves, record_from_run, records_on_disk, to_cell_result
from .plots import plot_pair_bars, plot_reward_curves, plot_role_fractions
from .table import build_table, load_paper_reference, to_markdown, write_all

PAPER_REFERENCE = Path(__file__).resolve().parents[2] / "evaluation" / "table1_paper.csv"


def sweep_dir_of(resolved: dict[str, Any], sweep_id: str) -> Path:
    return Path(str(resolved["output_root"])).resolve() / "sweeps" / sweep_id


def collect(
    resolved: dict[str, Any], sweep_id: str, parent: str | None
) -> tuple[list[dict], dict[str, str], str | None]:
    """(records, label -> run id, the sweep's run id or None when MLflow is unreachable), after
    logging the cells only the disk knows."""
    from ..sweep import tracking as sweep_tracking

    on_disk = records_on_disk(sweep_dir_of(resolved, sweep_id))
    finished = sweep_tracking.finished_cells(resolved, sweep_id)
    if finished is None:
        return on_disk, {}, None
    parent = parent or sweep_tracking.ensure_sweep_run(resolved, sweep_id, {"cells": [r["run_dir"] for r in on_disk]})
    for record in on_disk:
        if record["cell_hash"] not in finished:
            sweep_tracking.log_cell(record, resolved, parent)
    runs = [r for r in sweep_tracking.cell_runs(sweep_id) if r.data.tags.get("dyco.status") == "finished"]
    records = [record_from_run(r) for r in runs]
    labels = {f"{r['model_label']} {r['algo'] or ''} {r['method']}".replace("  ", " "): r["run_id"] for r in records}
    return records, labels, parent


def build_sweep_report(
    resolved: dict[str, Any],
    sweep_id: str,
    parent: str | None = None,
    timings: list | None = None,
    reference: Path | None = PAPER_REFERENCE,
) -> str | None:
    """Write the sweep's tables and figures; return the Markdown table (None: no finished cell)."""
    from ..sweep import tracking as sweep_tracking

    records, run_ids, parent = collect(resolved, sweep_id, parent)
    from_mlflow = parent is not None
    if not records:
        print(f"sweep {sweep_id}: no finished cell yet", file=sys.stderr)
        return None
    columns = columns_of(records)
    ref = load_paper_reference(reference) if reference else None
    models = sorted({r["model_label"] for r in records})
    table = build_table([to_cell_result(r) for r in records], columns, model_order=models, reference=ref)
    out = sweep_dir_of(resolved, sweep_id) / "report"
    files = list(write_all(table, out).values())
    if from_mlflow:
        train_runs = {k: v for k, v in run_ids.items() if "zero-shot" not in k}
        for path in (
            plot_reward_curves(curves(train_runs, "reward"), out / "reward_curves.png"),
            plot_role_fractions(
                {label: _roles(run_id) for label, run_id in train_runs.items() if label.endswith("dyco")},
                out / "role_fractions.png",
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
    if from_mlflow:
        sweep_tracking.log_report(parent, files)
    print(f"report: {out}")
    return to_markdown(table)


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
