"""One cell, as a job: run its commands (train, then evaluate), record the outcome on disk, log it to MLflow.

`cell.json` in the run directory is the cell's result of record, written atomically once the
evaluation is done; MLflow mirrors it. If the store is unreachable the cell still finishes and
`python -m dyco_repro.report` logs it later.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ..atomic import write_text_atomic
from .cells import ZERO_SHOT, Cell

CELL_FILE = "cell.json"


class CellFailed(RuntimeError):
    pass


def run_commands(cell: Cell) -> float:
    """Run the cell's commands in order; their output goes to the job's log. Returns seconds."""
    start = time.perf_counter()
    cell.run_dir.mkdir(parents=True, exist_ok=True)
    for command in cell.commands:
        print("$ " + " ".join(command), flush=True)
        done = subprocess.run(command, env=os.environ.copy(), check=False)
        if done.returncode == -signal.SIGTERM and os.environ.get("SLURM_JOB_ID"):
            # SLURM is requeueing or preempting the job: leave without a result (a failure record
            # would end the cell); the job runs again and resumes from the last checkpoint.
            print(f"cell {cell.name}: terminated by SLURM; the requeued job resumes it", flush=True)
            os._exit(128 + signal.SIGTERM)
        if done.returncode != 0:
            raise CellFailed(f"cell {cell.name}: `{' '.join(command[:4])} ...` exited with {done.returncode}")
    return time.perf_counter() - start


def cell_record(cell: Cell, sweep_id: str, seconds: float) -> dict[str, Any]:
    from ..evaluation.results import RESULTS_FILE, load_results

    results = load_results(cell.run_dir / "eval" / RESULTS_FILE)
    if results is None:
        raise CellFailed(f"cell {cell.name}: the evaluation left no valid results in {cell.run_dir / 'eval'}")
    done = cell.run_dir / "done.json"
    return {
        "status": "finished",
        "sweep_id": sweep_id,
        "cell_hash": cell.cell_hash,
        "kind": cell.kind,
        "algo": cell.algo,
        "model": cell.model,
        "model_label": cell.model_label,
        "method": cell.method,
        "run_dir": str(cell.run_dir),
        "seconds": seconds,
        "train_steps": json.loads(done.read_text())["steps"] if done.exists() else None,
        "scores": {
            key: {k: entry[k] for k in ("score", "judge", "official", "group", "n", "samples_per_s")}
            for key, entry in results["benchmarks"].items()
        },
        "lm_eval": results.get("lm_eval", {}).get("tasks"),
    }


def read_cell_record(run_dir: Path) -> dict[str, Any] | None:
    """A finished cell's record, or None (absent, partial or damaged: the cell is redone)."""
    try:
        record = json.loads((run_dir / CELL_FILE).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("status") == "finished" else None


def run_cell(cell: Cell, sweep_id: str, resolved: dict[str, Any]) -> dict[str, Any]:
    from . import tracking as sweep_tracking

    seconds = run_commands(cell)
    record = cell_record(cell, sweep_id, seconds)
    write_text_atomic(cell.run_dir / CELL_FILE, json.dumps(record, indent=2))
    start = time.perf_counter()
    if not sweep_tracking.log_cell(record, resolved):
        print(f"warning: {cell.name} finished but is not in MLflow yet; `python -m dyco_repro.report "
              f"sweep={sweep_id}` logs it", file=sys.stderr)
    record["logging_seconds"] = time.perf_counter() - start
    label = "zero-shot" if cell.kind == ZERO_SHOT else f"{cell.algo} {cell.method}"
    scores = ", ".join(f"{k} {v['score']:.1f}" if v["score"] is not None else f"{k} n/j" for k, v in record["scores"].items())
    print(f"cell {cell.model_label} {label}: {scores}")
    return record
