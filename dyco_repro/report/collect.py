"""A sweep's cells as table records: from MLflow (the child runs' metrics and tags), or from the
cell.json files on disk when the store is unreachable. Also the training curves for the plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .table import CellResult, Score

ROLE_METRICS = {"visual": "dyco/visual_frac", "textual": "dyco/textual_frac", "neutral": "dyco/neutral_frac"}


def records_on_disk(sweep_dir: Path) -> list[dict[str, Any]]:
    """Finished cells' records (cell.json) under the sweep's runs/; damaged ones count as not finished."""
    from ..sweep.job import read_cell_record

    records = [read_cell_record(run_dir) for run_dir in sorted((sweep_dir / "runs").glob("*"))]
    return [r for r in records if r is not None]


def record_from_run(run) -> dict[str, Any]:
    """The cell record an MLflow cell run holds (scores from eval/* metrics, judges from tags)."""
    tags, metrics = run.data.tags, run.data.metrics
    scores = {}
    for tag, judge in tags.items():
        if tag.startswith("eval.judge/"):
            key = tag.split("/", 1)[1]
            scores[key] = {
                "score": metrics.get(f"eval/{key}"),
                "judge": judge,
                "official": tags.get(f"eval.official/{key}") == "true",
                "official_data": tags.get(f"eval.official_data/{key}") != "false",
                "group": tags.get(f"eval.group/{key}"),
            }
    return {
        "run_id": run.info.run_id,
        "cell_hash": tags.get("dyco.cell_hash"),
        "kind": tags.get("dyco.kind"),
        "algo": None if tags.get("algo") in (None, "None") else tags["algo"],
        "model": tags.get("model"),
        "model_label": tags.get("dyco.model_label"),
        "method": tags.get("method"),
        "scores": scores,
    }


def to_cell_result(record: dict[str, Any]) -> CellResult:
    scores = {
        k: Score(v["score"], v["judge"], bool(v["official"]), bool(v.get("official_data", True)))
        for k, v in record["scores"].items()
    }
    method = record["method"]
    return CellResult(
        model=record["model_label"],
        method=method,
        algo=None if method == "zero-shot" else record["algo"],
        scores=scores,
    )


def columns_of(records: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    """Column groups of the benchmarks the cells ran, in the suite file's order."""
    from ..evaluation.suite import all_benchmarks

    present = {key: s.get("group") for r in records for key, s in r["scores"].items()}
    known = all_benchmarks()
    ordered = [k for k in known if k in present] + sorted(k for k in present if k not in known)
    groups: dict[str, list[str]] = {}
    for key in ordered:
        groups.setdefault(present[key] or (known[key].group if key in known else "Other"), []).append(key)
    return list(groups.items())


def curves(run_ids: dict[str, str], metric: str) -> dict[str, list[tuple[int, float]]]:
    """label -> [(step, value)] of one metric per run."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    found = {}
    for label, run_id in run_ids.items():
        history = client.get_metric_history(run_id, metric)
        if history:
            found[label] = [(m.step, m.value) for m in history]
    return found
