"""Running sweeps as a user would (subprocesses) and reading back what they logged."""

import os
import subprocess
import sys
from pathlib import Path

# The tiny profile's benchmarks hold hundreds of items (to resolve a 5-point change); the sweep tests
# check plumbing, not scores, so they evaluate a small slice.
SMALL_EVAL = ("eval.synthetic_n=24",)


def sweep_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "dyco_repro.sweep", "-m", *args, *SMALL_EVAL]


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment for a sweep subprocess, without the MLflow store an earlier test
    (or mlflow.set_tracking_uri) left in MLFLOW_TRACKING_URI: each sweep uses its own output root."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return {**env, **extra}


def run(command: list[str], cwd: Path, timeout: int = 600, **env) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, env=clean_env(**env), capture_output=True, text=True, timeout=timeout)


def sweep_id_of(stdout: str) -> str:
    (line,) = [line for line in stdout.splitlines() if line.startswith("sweep ") and " cells" in line]
    return line.split()[1].rstrip(":")


def cell_runs(output_root: Path, sweep_id: str):
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{output_root / 'mlflow.db'}")
    runs = mlflow.search_runs(
        search_all_experiments=True, output_format="list", filter_string=f"tags.`dyco.sweep_id` = '{sweep_id}'"
    )
    return [r for r in runs if r.data.tags.get("dyco.role") == "cell"], [
        r for r in runs if r.data.tags.get("dyco.role") == "sweep"
    ]


OFFLINE = {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
