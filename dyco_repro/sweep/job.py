"""One cell, as a job: train, then evaluate, record the outcome on disk, log it to MLflow.

A cell on one process runs its steps inside the job's own process (no extra interpreter and
import per step), each from the config its command line would compose; a multi-GPU cell runs them
as commands (`accelerate launch ...`, then the evaluation). Under SLURM a SIGTERM (requeue,
preemption) ends the job at once and without a result, so the requeued job runs the cell again
from its last checkpoint.

`cell.json` in the run directory is the cell's result of record (dyco_repro.records), written
atomically once the evaluation is done; MLflow mirrors it. If the store is unreachable the cell
still finishes and the launcher (next run) or `python -m dyco_repro.report` logs it later.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from ..records import ZERO_SHOT, BenchmarkScore, CellRecord, Store
from .cells import Cell, Step


class CellFailed(RuntimeError):
    pass


@dataclass
class CellOutcome:
    """What a job hands back to the launcher."""

    record: CellRecord
    logging_seconds: float


def run_commands(cell: Cell) -> float:
    """Run the cell's commands in order; their output goes to the job's log. Returns seconds."""
    from ..tracking import mask_credentials

    start = time.perf_counter()
    cell.run_dir.mkdir(parents=True, exist_ok=True)
    for command in cell.commands:
        print("$ " + mask_credentials(" ".join(command)), flush=True)
        done = subprocess.run(command, env=os.environ.copy(), check=False)
        if done.returncode != 0:
            raise CellFailed(f"cell {cell.name}: `{' '.join(command[:4])} ...` exited with {done.returncode}")
    return time.perf_counter() - start


def run_step(step: Step) -> None:
    """One step in this process, from the config its command line composes."""
    from ..cli import compose
    from ..evaluate import plan_evaluation, run_evaluation
    from ..train import plan_run, run

    cfg = compose(step.overrides)
    if step.entry_point == "dyco_repro.train":
        run(plan_run(cfg))
        gc.collect()
    else:
        run_evaluation(plan_evaluation(cfg))


def run_in_process(cell: Cell) -> float:
    """Train (unless zero-shot), then evaluate, in this process: the same steps as the commands."""
    from ..cli import ConfigError, first_line
    from ..data import DataError
    from ..evaluation.suite import EvalError

    start = time.perf_counter()
    try:
        for step in cell.steps:
            print(f"cell {cell.name}: {step.entry_point.rsplit('.', 1)[1]}", flush=True)
            run_step(step)
    except (ConfigError, EvalError, DataError) as err:
        raise CellFailed(f"cell {cell.name}: {first_line(err)}") from None
    return time.perf_counter() - start


def leave_on_sigterm() -> None:
    """Under SLURM, SIGTERM means requeue or preemption: exit now, without a result (a failure
    record would end the cell), and let the requeued job resume from the last checkpoint."""

    def leave(signum, frame):
        print("terminated by SLURM; the requeued job resumes this cell", flush=True)
        os._exit(128 + signal.SIGTERM)

    if os.environ.get("SLURM_JOB_ID"):
        signal.signal(signal.SIGTERM, leave)


def cell_record(cell: Cell, sweep_id: str, seconds: float) -> CellRecord:
    """The cell's record, from its evaluation's results file and its training's done.json."""
    from ..evaluation.results import RESULTS_FILE, load_results

    results = load_results(cell.run_dir / "eval" / RESULTS_FILE)
    if results is None:
        raise CellFailed(f"cell {cell.name}: the evaluation left no valid results in {cell.run_dir / 'eval'}")
    done = cell.run_dir / "done.json"
    return CellRecord(
        sweep_id=sweep_id,
        cell_hash=cell.cell_hash,
        kind=cell.kind,
        algo=cell.algo,
        model=cell.model,
        model_label=cell.model_label,
        method=cell.method,
        run_dir=str(cell.run_dir),
        seconds=seconds,
        train_steps=json.loads(done.read_text())["steps"] if done.exists() else None,
        scores={key: BenchmarkScore.from_result(entry) for key, entry in results["benchmarks"].items()},
        lm_eval=results.get("lm_eval", {}).get("tasks"),
        seed=cell.seed,
    )


def run_cell(cell: Cell, store: Store, sweep_id: str, parent_run_id: str | None) -> CellOutcome:
    leave_on_sigterm()
    seconds = run_commands(cell) if cell.processes > 1 else run_in_process(cell)
    record = cell_record(cell, sweep_id, seconds)
    record.write()
    start = time.perf_counter()
    if not store.log(record, parent_run_id):
        print(
            f"warning: {cell.name} finished but is not in MLflow yet; `python -m dyco_repro.report "
            f"sweep={sweep_id}` logs it",
            file=sys.stderr,
        )
    logging_seconds = time.perf_counter() - start
    label = ZERO_SHOT if cell.kind == ZERO_SHOT else f"{cell.algo} {cell.method}"
    scores = ", ".join(f"{k} {v.score:.1f}" if v.score is not None else f"{k} n/j" for k, v in record.scores.items())
    print(f"cell {cell.model_label} {label}: {scores}")
    return CellOutcome(record, logging_seconds)
