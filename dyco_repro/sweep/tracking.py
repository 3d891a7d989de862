"""A sweep in MLflow: one parent run per sweep id, one child run per cell (found again by its hash).

Every function here tolerates an unreachable store (returns None/False and warns): results live
on disk first and are logged again later.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import mlflow

from .. import tracking

SWEEP_ROLE, CELL_ROLE = "sweep", "cell"


def _connect(resolved: dict[str, Any]) -> None:
    mlflow.set_tracking_uri(tracking.tracking_uri(resolved["mlflow"]["tracking_uri"], resolved["output_root"]))
    mlflow.set_experiment(resolved["mlflow"]["experiment"])


def _warn(what: str, err: Exception) -> None:
    print(f"warning: MLflow unavailable while {what} ({str(err).splitlines()[0][:200]})", file=sys.stderr)


def search(filter_string: str) -> list:
    return mlflow.search_runs(filter_string=filter_string, output_format="list", search_all_experiments=True)


def ensure_sweep_run(resolved: dict[str, Any], sweep_id: str, description: dict[str, Any]) -> str | None:
    """The sweep's parent run id (created once per sweep id)."""
    try:
        _connect(resolved)
        found = search(f"tags.`dyco.sweep_id` = '{sweep_id}' and tags.`dyco.role` = '{SWEEP_ROLE}'")
        if found:
            return found[0].info.run_id
        tags = {"dyco.sweep_id": sweep_id, "dyco.role": SWEEP_ROLE}
        with mlflow.start_run(run_name=sweep_id, tags=tags) as run:
            mlflow.log_dict(description, "sweep.json")
            return run.info.run_id
    except Exception as err:  # noqa: BLE001
        _warn("creating the sweep's run", err)
        return None


def finished_cells(resolved: dict[str, Any], sweep_id: str) -> set[str] | None:
    """Cell hashes of this sweep with a finished MLflow run (None: store unreachable)."""
    try:
        _connect(resolved)
        runs = search(f"tags.`dyco.sweep_id` = '{sweep_id}' and tags.`dyco.status` = 'finished'")
        return {r.data.tags.get("dyco.cell_hash") for r in runs}
    except Exception as err:  # noqa: BLE001
        _warn("looking up finished cells", err)
        return None


def cell_runs(sweep_id: str) -> list:
    return search(f"tags.`dyco.sweep_id` = '{sweep_id}' and tags.`dyco.role` = '{CELL_ROLE}'")


def log_cell(record: dict[str, Any], resolved: dict[str, Any], parent_run_id: str | None = None) -> bool:
    """Log a finished cell (its scores, judges, results file) into its run; True when logged."""
    run_dir = Path(record["run_dir"])
    parent = parent_run_id or resolved["mlflow"].get("parent_run_id")
    tags = {
        "dyco.role": CELL_ROLE,
        "dyco.sweep_id": record["sweep_id"],
        "dyco.cell_hash": record["cell_hash"],
        "dyco.kind": record["kind"],
        "dyco.model_label": record["model_label"],
        "algo": str(record["algo"]),
        "model": record["model"],
        "method": record["method"],
    } | ({"mlflow.parentRunId": parent} if parent else {})
    config_file = run_dir / "config.json"  # the trained run's resolved config: the params of a new run
    params = json.loads(config_file.read_text()) if config_file.exists() else {"cell": record}
    try:
        _connect(resolved)
        uri, experiment = mlflow.get_tracking_uri(), resolved["mlflow"]["experiment"]
        with tracking.start_run(run_dir, uri, experiment, run_dir.name, params, tags):
            mlflow.set_tags(tags)
            for key, score in record["scores"].items():
                mlflow.set_tag(f"eval.judge/{key}", score["judge"])
                mlflow.set_tag(f"eval.official/{key}", str(score["official"]).lower())
                mlflow.set_tag(f"eval.group/{key}", score["group"])
                mlflow.set_tag(f"eval.official_data/{key}", str(score.get("official_data", True)).lower())
                if score["score"] is not None:
                    mlflow.log_metric(f"eval/{key}", score["score"])
                sub = {f"eval/{key}/{name}": v for name, v in (score.get("metrics") or {}).items() if v is not None}
                mlflow.log_metrics(sub)  # every sub-metric VLMEvalKit returned (benchmarks.yaml `metrics`)
            for task, metrics in (record.get("lm_eval") or {}).items():
                mlflow.log_metrics({f"lm_eval/{task}/{k.replace(',', '_')}": v for k, v in metrics.items()})
            mlflow.log_metric("cell_seconds", record["seconds"])
            results = run_dir / "eval" / "results.json"
            if results.exists():
                mlflow.log_artifact(str(results))
            mlflow.log_dict(record, "cell.json")
            mlflow.set_tag("dyco.status", "finished")  # last: a run is finished only with everything logged
        return True
    except Exception as err:  # noqa: BLE001
        _warn(f"logging {run_dir.name}", err)
        return False


def log_report(parent_run_id: str, files: list[Path]) -> bool:
    try:
        with mlflow.start_run(run_id=parent_run_id):
            for path in files:
                mlflow.log_artifact(str(path), artifact_path="report")
        return True
    except Exception as err:  # noqa: BLE001
        _warn("logging the report", err)
        return False


def describe(cells) -> dict[str, Any]:
    return {"cells": [{"name": c.name, "hash": c.cell_hash, "kind": c.kind, "overrides": c.overrides} for c in cells]}
