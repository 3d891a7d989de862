"""One cell, as a job: train, then evaluate, record the outcome on disk, log it to MLflow.

A cell on one process trains and evaluates inside the job's own process (no extra interpreter
and import per step); a multi-GPU cell runs its commands (`accelerate launch ...`, then the
evaluation). Under SLURM a SIGTERM (requeue, preemption) ends the job at once and without a
result, so the requeued job runs the cell again from its last checkpoint.

`cell.json` in the run directory is the cell's result of record, written atomically once the
evaluation is done; MLflow mirrors it. If the store is unreachable the cell still finishes and
`python -m dyco_repro.report` logs it later.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

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
        if done.returncode != 0:
            raise CellFailed(f"cell {cell.name}: `{' '.join(command[:4])} ...` exited with {done.returncode}")
    return time.perf_counter() - start


def run_in_process(cell: Cell, cfg: DictConfig, sweep_id: str) -> float:
    """Train (unless zero-shot), then evaluate, in this process: the same steps as the commands."""
    from ..data import DataError
    from ..evaluate import plan_evaluation, run_evaluation
    from ..evaluation.suite import EvalError
    from ..train import ConfigError, plan_run, run

    start = time.perf_counter()
    cfg = cfg.copy()
    with open_dict(cfg):
        cfg.run_dir, cfg.run_name = str(cell.run_dir), cell.run_dir.name
        cfg.mlflow.sweep_id, cfg.mlflow.cell_hash = sweep_id, cell.cell_hash
        cfg.eval.output_dir = str(cell.run_dir / "eval")
        cfg.resume = "never" if cfg.force else "auto"
        cfg.checkpoint = "base"
    try:
        if cell.kind != ZERO_SHOT:
            print(f"cell {cell.name}: training", flush=True)
            final = run(plan_run(cfg))
            gc.collect()
            with open_dict(cfg):
                cfg.checkpoint = str(final)
        print(f"cell {cell.name}: evaluating {cfg.checkpoint}", flush=True)
        run_evaluation(plan_evaluation(cfg))
    except (ConfigError, EvalError, DataError) as err:
        raise CellFailed(f"cell {cell.name}: {str(err).splitlines()[0]}") from None
    return time.perf_counter() - start


def leave_on_sigterm() -> None:
    """Under SLURM, SIGTERM means requeue or preemption: exit now, without a result (a failure
    record would end the cell), and let the requeued job resume from the last checkpoint."""

    def leave(signum, frame):
        print("terminated by SLURM; the requeued job resumes this cell", flush=True)
        os._exit(128 + signal.SIGTERM)

    if os.environ.get("SLURM_JOB_ID"):
        signal.signal(signal.SIGTERM, leave)


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
            | {"official_data": entry.get("official_data", True), "metrics": entry.get("metrics", {})}
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


def run_cell(cell: Cell, cfg: DictConfig, sweep_id: str) -> dict[str, Any]:
    from . import tracking as sweep_tracking

    leave_on_sigterm()
    multi_gpu = int(cell.resources.get("gpus_per_node") or 0) > 1
    seconds = run_commands(cell) if multi_gpu else run_in_process(cell, cfg, sweep_id)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    record = cell_record(cell, sweep_id, seconds)
    write_text_atomic(cell.run_dir / CELL_FILE, json.dumps(record, indent=2))
    start = time.perf_counter()
    if not sweep_tracking.log_cell(record, resolved):
        print(
            f"warning: {cell.name} finished but is not in MLflow yet; `python -m dyco_repro.report "
            f"sweep={sweep_id}` logs it",
            file=sys.stderr,
        )
    record["logging_seconds"] = time.perf_counter() - start
    label = "zero-shot" if cell.kind == ZERO_SHOT else f"{cell.algo} {cell.method}"
    scores = ", ".join(
        f"{k} {v['score']:.1f}" if v["score"] is not None else f"{k} n/j" for k, v in record["scores"].items()
    )
    print(f"cell {cell.model_label} {label}: {scores}")
    return record
