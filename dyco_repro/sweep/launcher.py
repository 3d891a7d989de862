"""Hydra launchers for sweeps: submitit's local and SLURM launchers, with a sweep's rules around them.

Before anything is dispatched every cell is composed and validated (one bad cell stops the sweep,
nothing written); zero-shot cells are deduplicated; finished cells (MLflow, or their cell.json on
disk) are skipped unless force=true; a cell only the disk knows (it finished while the store was
away) is logged first. Each cell is submitted with its own model's resources; the local launcher
runs at most `max_parallel` at a time. At the end the cells MLflow misses are logged, the sweep's
report is built and attached to the sweep's run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, filter_overrides
from omegaconf import DictConfig, OmegaConf, open_dict

from ..cli import ConfigError, check_setting
from ..records import ZERO_SHOT, CellRecord, Store, records_on_disk
from .cells import Cell, plan_cell
from .plan import SweepError, validate_cell

RESOURCE_KEYS = ("gpus_per_node", "cpus_per_task", "mem_gb", "timeout_min", "nodes")


@dataclass
class PlannedCell:
    cell: Cell
    cfg: DictConfig


class SweepLauncherMixin:
    """`launch` for submitit's launchers (the job side, `__call__` and `checkpoint`, stays theirs)."""

    _EXECUTOR: str

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        config = self.config
        sweep_id = str(config.sweep_id)
        output_root = Path(str(config.output_root)).resolve()
        sweep_dir = output_root / "sweeps" / sweep_id
        try:
            for flag in ("dry_run", "force"):
                check_setting(config, flag, bool)
            planned = self._plan(job_overrides, sweep_id)
            if not config.dry_run:
                self._check_scheduler()
        except (SweepError, ConfigError) as err:
            _forget_empty_sweep_dir(Path(str(config.hydra.sweep.dir)).resolve(), output_root)
            print(f"error: {err}", file=sys.stderr)
            sys.exit(2)
        if config.dry_run:
            _forget_empty_sweep_dir(Path(str(config.hydra.sweep.dir)).resolve(), output_root)
            self._print_plan(sweep_id, planned)
            return []

        store = Store.of(OmegaConf.to_container(planned[0].cfg, resolve=True))
        parent = store.sweep_run(sweep_id, describe(p.cell for p in planned))
        finished = store.finished_hashes(sweep_id) or set()
        todo = []
        for p in planned:
            record = CellRecord.read(p.cell.run_dir)
            on_disk = record is not None and record.cell_hash == p.cell.cell_hash
            if on_disk and p.cell.cell_hash not in finished:  # finished while the store was away: log it now
                if store.log(record, parent):
                    finished.add(p.cell.cell_hash)
            if not config.force and (p.cell.cell_hash in finished or on_disk):
                print(f"skip {p.cell.name}: finished")
                continue
            todo.append(p)
        print(f"sweep {sweep_id}: {len(planned)} cells, {len(todo)} to run ({sweep_dir})")

        returns, timings = self._run(todo, sweep_id, parent, initial_job_idx, sweep_dir)
        failed = [r for r in returns if isinstance(r, str)]
        from ..report.build import build_sweep_report

        parent = parent or store.sweep_run(sweep_id, describe(p.cell for p in planned))  # the store may be back
        if parent is not None:
            store.log_missing(records_on_disk(sweep_dir), sweep_id, parent)
        report = build_sweep_report(store, sweep_dir, sweep_id, timings)
        if report is not None:
            if parent is not None:
                store.attach(parent, report.files)
            print(report.markdown)
        if failed:
            print(f"error: {len(failed)} cell(s) failed: " + "; ".join(failed), file=sys.stderr)
            sys.exit(1)
        return [r for r in returns if not isinstance(r, str)]

    # --- planning -----------------------------------------------------------------------------

    def _plan(self, job_overrides: Sequence[Sequence[str]], sweep_id: str) -> list[PlannedCell]:
        planned: dict[str, PlannedCell] = {}
        unjudged: set[str] = set()
        loader = self.hydra_context.config_loader
        for overrides in job_overrides:
            ov = [*overrides, f"sweep_id={sweep_id}"]
            label = " ".join(filter_overrides(overrides)) or "(defaults)"
            try:
                cfg = without_hydra(loader.load_sweep_config(self.config, ov))
                if cfg.method.name == ZERO_SHOT:
                    ov.append(f"run_name={ZERO_SHOT}-{cfg.model.name}")
                    cfg = without_hydra(loader.load_sweep_config(self.config, ov))
                unjudged.update(validate_cell(cfg))
            except SweepError as err:
                raise SweepError(f"cell {label}: {err}") from None
            except Exception as err:  # noqa: BLE001 - Hydra's own errors: say which cell
                raise SweepError(f"cell {label}: {str(err).splitlines()[0]}") from None
            cell = plan_cell(cfg, ov, parent_run_id=None)
            planned.setdefault(cell.cell_hash, PlannedCell(cell, cfg))  # zero-shot: once per model
        if unjudged:
            print(
                f"warning: {', '.join(sorted(unjudged))} will not be judged (no LLM judge): export OPENAI_API_KEY "
                "(and OPENAI_API_BASE) for judge=auto, or use judge=rule",
                file=sys.stderr,
            )
        return list(planned.values())

    def _check_scheduler(self) -> None:
        """SLURM answers and knows the partition, before anything is logged or submitted."""
        if self._EXECUTOR != "slurm":
            return
        if shutil.which("sbatch") is None:
            raise SweepError(
                "launcher=slurm but there is no sbatch on PATH; run on a SLURM login node or use launcher=local"
            )
        partition = self.params.get("partition")
        found = subprocess.run(["sinfo", "-h", "-o", "%R"], capture_output=True, text=True, timeout=60)
        known = sorted(set(found.stdout.split()))
        if found.returncode != 0:
            raise SweepError(f"sinfo failed ({found.stderr.strip()[:200]}); is the SLURM controller up?")
        if partition and partition not in known:
            raise SweepError(
                f"SLURM has no partition {partition!r} (has {', '.join(known)}); "
                "set DYCO_SLURM_PARTITION or hydra.launcher.partition="
            )

    def _print_plan(self, sweep_id: str, planned: list[PlannedCell]) -> None:
        print(f"sweep {sweep_id}: {len(planned)} cells (dry run: nothing submitted), launcher {self._EXECUTOR}")
        for p in planned:
            print(p.cell.describe())

    # --- running ------------------------------------------------------------------------------

    def _executor(self, sweep_dir: Path):
        import submitit

        params = dict(self.params)
        params.pop("max_parallel", None)
        folder = str(sweep_dir / ".submitit" / "%j")
        params.pop("submitit_folder", None)
        init = (
            {f"{self._EXECUTOR}_max_num_timeout": params.pop("max_num_timeout")} if "max_num_timeout" in params else {}
        )
        executor = submitit.AutoExecutor(folder=folder, cluster=self._EXECUTOR, **init)
        generic = {
            "timeout_min",
            "cpus_per_task",
            "gpus_per_node",
            "tasks_per_node",
            "mem_gb",
            "nodes",
            "name",
            "stderr_to_stdout",
        }
        base = {k if k in generic else f"{self._EXECUTOR}_{k}": v for k, v in params.items() if v is not None}
        return executor, base

    def _parallel_limit(self, n: int) -> int:
        return max(1, int(self.params.get("max_parallel") or n))

    def _run(self, todo: list[PlannedCell], sweep_id: str, parent: str | None, first_idx: int, sweep_dir: Path):
        if not todo:
            return [], []
        sweep_dir.mkdir(parents=True, exist_ok=True)
        with open_dict(self.config):
            self.config.hydra.sweep.dir = str(sweep_dir)
        executor, base = self._executor(sweep_dir)
        limit = self._parallel_limit(len(todo))
        if self._EXECUTOR == "local":  # share the CPUs between the cells that run together
            os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // limit)))
        pending = interleave_models(list(enumerate(todo, start=first_idx)))
        running: list[tuple[Any, PlannedCell, float]] = []
        returns: list[Any] = []
        timings: list[dict[str, float]] = []
        ready: set[str] = set()  # models one of whose cells has ended: their one-time setup is done
        while pending or running:
            while pending and len(running) < limit:
                busy = {_model(e[1]) for e in running}
                idx, p = pending.pop(next_cell([_model(c) for _, c in pending], busy, ready))
                overrides = [*p.cell.overrides] + ([f"mlflow.parent_run_id={parent}"] if parent else [])
                resources = {k: v for k, v in p.cell.resources.items() if k in RESOURCE_KEYS}
                executor.update_parameters(**{**base, **resources, "name": f"dyco-{p.cell.name}"})
                try:
                    job = executor.submit(
                        self, overrides, "hydra.sweep.dir", idx, f"job_id_for_{idx}", Singleton.get_state()
                    )
                except Exception as err:  # noqa: BLE001 - e.g. sbatch refuses the account: that cell fails
                    reason = " ".join(str(err).split())[:300]
                    returns.append(f"{p.cell.name} (not submitted: {reason})")
                    continue
                print(f"submitted {p.cell.name} as job {job.job_id}")
                running.append((job, p, time.perf_counter()))
            time.sleep(0.5)
            for entry in [e for e in running if e[0].done()]:
                running.remove(entry)
                job, p, submitted = entry
                ready.add(_model(p))
                try:
                    ret = job.result()
                    outcome = ret.return_value
                    wall = time.perf_counter() - submitted
                    timings.append(
                        {
                            "cell": p.cell.name,
                            "wall_s": wall,
                            "own_s": outcome.record.seconds,
                            "logging_s": outcome.logging_seconds,
                        }
                    )
                    returns.append(ret)
                except Exception as err:  # noqa: BLE001 - one failed cell does not stop the others
                    returns.append(
                        f"{p.cell.name} ({str(err).strip().splitlines()[-1][:300]}; log: {job.paths.stdout})"
                    )
        return returns, timings


def interleave_models(cells: list[tuple[int, PlannedCell]]) -> list[tuple[int, PlannedCell]]:
    """Cells in turn by model (3B, 7B, 3B, ...), each model's cells in plan order: the cells that start together
    use different models, so each model's one-time setup (the tiny world's warm start, built on first use) runs
    side by side instead of one cell waiting for the other's build."""
    by_model: dict[str, list[tuple[int, PlannedCell]]] = {}
    for entry in cells:
        by_model.setdefault(_model(entry[1]), []).append(entry)
    queues = list(by_model.values())
    return [queue[i] for i in range(max(map(len, queues), default=0)) for queue in queues if i < len(queue)]


def next_cell(models: list[str], busy: set[str], ready: set[str]) -> int:
    """Index of the pending cell to start next, given each pending cell's model (in queue order), the models of
    the running cells and the models one of whose cells has ended.

    A cell whose model is `ready` (its one-time setup, such as the tiny world's warm start, is done) or has no
    running cell starts first; a second cell of a model whose first cell is still running would only wait for
    that setup while a core idles (the demo's 7B warm start: 70 s of one core). Otherwise the queue's head."""
    for i, model in enumerate(models):
        if model in ready or model not in busy:
            return i
    return 0


def _model(cell: PlannedCell) -> str:
    return str(cell.cfg.model.name)


def without_hydra(cfg: DictConfig) -> DictConfig:
    """A job's config as its task sees it (Hydra's own node resolves only inside a running job)."""
    cfg = cfg.copy()
    with open_dict(cfg):
        cfg.pop("hydra", None)
    return cfg


def _forget_empty_sweep_dir(sweep_dir: Path, output_root: Path) -> None:
    """Hydra's sweeper writes multirun.yaml before the launcher runs; a refused sweep leaves nothing."""
    if sweep_dir.is_dir() and {p.name for p in sweep_dir.iterdir()} <= {"multirun.yaml"}:
        shutil.rmtree(sweep_dir)
        for parent in sweep_dir.parents:  # the folders Hydra made for it, up to the output root
            if not parent.is_dir() or any(parent.iterdir()) or output_root not in (parent, *parent.parents):
                break
            parent.rmdir()


def describe(cells) -> dict[str, Any]:
    """The sweep's cells, as the sweep's run keeps them (sweep.json)."""
    return {"cells": [{"name": c.name, "hash": c.cell_hash, "kind": c.kind, "overrides": c.overrides} for c in cells]}
