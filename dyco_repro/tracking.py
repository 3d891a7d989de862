"""MLflow for one training run: a run per run directory (resumed, never duplicated), the
resolved config as params, identifying tags, and the trainer's logs as metric curves."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import mlflow
from transformers import TrainerCallback

RUN_ID_FILE = "mlflow_run_id"
# The user's override, read once: mlflow.set_tracking_uri writes this variable itself.
_USER_TRACKING_URI = os.environ.get("MLFLOW_TRACKING_URI")
SECRET_MARKERS = ("key", "token", "secret", "password")


def tracking_uri(configured: str | None, output_root: str | Path) -> str:
    """configured, else $MLFLOW_TRACKING_URI, else a SQLite store under the output root."""
    if configured:
        return configured
    if _USER_TRACKING_URI:
        return _USER_TRACKING_URI
    root = Path(output_root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{root / 'mlflow.db'}"


def config_hash(resolved: dict[str, Any]) -> str:
    """Identity of a run's configuration (resume-related keys excluded)."""
    identity = {k: v for k, v in resolved.items() if k not in ("resume", "mlflow")}
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:12]


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Dotted params, secrets dropped."""
    flat: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if any(marker in str(key).lower() for marker in SECRET_MARKERS):
            continue
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = json.dumps(value) if isinstance(value, list) else str(value)
    return flat


def start_run(run_dir: Path, uri: str, experiment: str, run_name: str, resolved: dict, tags: dict[str, str]):
    """Start (or resume, via the id kept in the run directory) this run's MLflow run."""
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment)
    id_file = run_dir / RUN_ID_FILE
    run_id = id_file.read_text().strip() if id_file.exists() else None
    run = mlflow.start_run(run_id=run_id, run_name=None if run_id else run_name, tags=tags)
    if run_id is None:
        mlflow.log_params(flatten(resolved))
        id_file.write_text(run.info.run_id)
    return run


class MlflowMetrics(TrainerCallback):
    """The trainer's numeric logs as MLflow metrics, on the main process."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs or mlflow.active_run() is None:
            return
        numeric = {k: float(v) for k, v in logs.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        if numeric:
            mlflow.log_metrics(numeric, step=state.global_step)
