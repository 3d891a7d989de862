"""A sweep cell's result of record: one `CellRecord`, written to its run directory (`cell.json`) and
mirrored into MLflow (tags and metrics to search and compare, the record itself as the `cell.json`
artifact to read back exactly). Below both the sweep (which writes records) and the report (which
only reads them).

Every MLflow call here tolerates an unreachable store (returns None/False and warns): results live
on disk first; the launcher and `python -m dyco_repro.report` log later what only the disk has.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .atomic import write_text_atomic

ZERO_SHOT = "zero-shot"  # the method name of an untrained base model (conf/method/zero_shot.yaml), Table 1's row
TRAIN = "train"  # the kind of a cell that trains, then evaluates its final checkpoint
CELL_FILE = "cell.json"
FINISHED = "finished"
SWEEP_ROLE, CELL_ROLE = "sweep", "cell"


@dataclass(frozen=True)
class BenchmarkScore:
    """One benchmark of one cell, as the evaluation's results file holds it."""

    score: float | None  # 0-100; None: ran but not judged
    judge: str  # e.g. "exact_matching", "gpt-4o-mini", "rule", "none"
    official: bool  # scored as the paper's pipeline scores it
    group: str | None  # the Table 1 column group
    n: int | None = None  # samples evaluated
    samples_per_s: float | None = None  # generation throughput (None: nothing generated)
    official_data: bool = True  # False: a local TSV, not VLMEvalKit's official file (md5 differs)
    metrics: dict[str, float | None] = field(default_factory=dict)  # every sub-metric (benchmarks.yaml), 0-100
    items: str | None = None  # the per-item scores file on disk (evaluation/items.py); MLflow: items/<key>.csv

    @classmethod
    def from_result(cls, entry: dict[str, Any]) -> BenchmarkScore:
        """From one `benchmarks` entry of an evaluation results file (evaluation/results.py)."""
        return cls(
            entry["score"],
            entry["judge"],
            entry["official"],
            entry["group"],
            entry["n"],
            entry["samples_per_s"],
            entry.get("official_data", True),
            dict(entry.get("metrics") or {}),
            entry.get("items"),
        )


@dataclass(frozen=True)
class CellRecord:
    """What one finished cell computed and scored. `run_id` is set only on records read from MLflow."""

    sweep_id: str
    cell_hash: str
    kind: str  # TRAIN or ZERO_SHOT
    algo: str | None  # None for a zero-shot cell
    model: str  # the config's model name, e.g. "qwen2_5_vl_3b"
    model_label: str  # as shown in the table, e.g. "Qwen2.5-VL-3B (tiny-s)"
    method: str  # "baseline", "dyco" or ZERO_SHOT
    run_dir: str
    seconds: float  # the cell's own train + evaluate time
    train_steps: int | None
    scores: dict[str, BenchmarkScore]
    lm_eval: dict[str, dict[str, float]] | None = None
    seed: int | None = None  # the training seed; None for a zero-shot cell (one per model, whatever the seed)
    run_id: str | None = field(default=None, compare=False)

    # --- cell.json -------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("run_id")
        return {"status": FINISHED, **data}

    @classmethod
    def from_json(cls, data: Any, run_id: str | None = None) -> CellRecord | None:
        """The record a `to_json` dict holds; None when it is not a finished, well-formed record."""
        if not isinstance(data, dict) or data.get("status") != FINISHED:
            return None
        try:
            fields = {k: v for k, v in data.items() if k != "status"}
            scores = {str(k): BenchmarkScore(**v) for k, v in fields.pop("scores").items()}
            record = cls(**fields, scores=scores, run_id=run_id)
        except (TypeError, AttributeError, KeyError):
            return None
        return record

    def write(self) -> Path:
        """`<run_dir>/cell.json`, atomically: the cell's result of record."""
        path = Path(self.run_dir) / CELL_FILE
        write_text_atomic(path, json.dumps(self.to_json(), indent=2))
        return path

    @classmethod
    def read(cls, run_dir: str | Path) -> CellRecord | None:
        """A finished cell's record, or None (absent, partial or damaged: the cell is redone)."""
        try:
            data = json.loads((Path(run_dir) / CELL_FILE).read_text())
        except (OSError, ValueError):
            return None
        return cls.from_json(data)

    # --- MLflow ----------------------------------------------------------------------------------

    def tags(self, parent_run_id: str | None = None) -> dict[str, str]:
        """Tags to find and compare the cell's run; a zero-shot cell has no `algo` tag."""
        tags = {
            "dyco.role": CELL_ROLE,
            "dyco.sweep_id": self.sweep_id,
            "dyco.cell_hash": self.cell_hash,
            "dyco.kind": self.kind,
            "dyco.model_label": self.model_label,
            "model": self.model,
            "method": self.method,
        }
        for key, score in self.scores.items():
            tags |= {f"eval.judge/{key}": score.judge, f"eval.official/{key}": str(score.official).lower()}
            tags[f"eval.official_data/{key}"] = str(score.official_data).lower()
            if score.group is not None:
                tags[f"eval.group/{key}"] = score.group
        if self.algo is not None:
            tags["algo"] = self.algo
        if self.seed is not None:
            tags["seed"] = str(self.seed)
        if parent_run_id:
            tags["mlflow.parentRunId"] = parent_run_id
        return tags

    @classmethod
    def from_run(cls, run) -> CellRecord | None:
        """The record an MLflow cell run holds (its `cell.json` artifact), with the run's id."""
        import mlflow

        try:
            data = mlflow.artifacts.load_dict(f"{run.info.artifact_uri.rstrip('/')}/{CELL_FILE}")
        except Exception as err:  # noqa: BLE001 - a run without the artifact is not a finished cell
            _warn(f"reading {CELL_FILE} of run {run.info.run_id}", err)
            return None
        return cls.from_json(data, run_id=run.info.run_id)


def items_artifact(benchmark: str) -> str:
    """Where a cell run keeps a benchmark's per-item scores among its MLflow artifacts."""
    return f"items/{benchmark}.csv"


def records_on_disk(sweep_dir: Path) -> list[CellRecord]:
    """Finished cells' records under `<sweep_dir>/runs/*/cell.json`; damaged ones count as not finished."""
    records = [CellRecord.read(run_dir) for run_dir in sorted((Path(sweep_dir) / "runs").glob("*"))]
    return [r for r in records if r is not None]


@dataclass(frozen=True)
class Store:
    """Where a sweep's runs are tracked: the config's `mlflow.tracking_uri` (null: $MLFLOW_TRACKING_URI,
    else SQLite under `output_root`) and `mlflow.experiment`."""

    tracking_uri: str | None
    output_root: str
    experiment: str

    @classmethod
    def of(cls, resolved: dict[str, Any]) -> Store:
        """From a resolved run or sweep config."""
        mlflow_cfg = resolved["mlflow"]
        return cls(mlflow_cfg.get("tracking_uri"), str(resolved["output_root"]), mlflow_cfg["experiment"])

    def connect(self) -> None:
        import mlflow

        from . import tracking

        mlflow.set_tracking_uri(tracking.tracking_uri(self.tracking_uri, self.output_root))
        tracking.use_experiment(self.experiment)

    def _search(self, filter_string: str) -> list:
        import mlflow

        self.connect()
        return mlflow.search_runs(filter_string=filter_string, output_format="list", search_all_experiments=True)

    def sweep_run(self, sweep_id: str, description: dict[str, Any]) -> str | None:
        """The sweep's parent run id, created once per sweep id (None: store unreachable)."""
        import mlflow

        from . import tracking

        try:
            found = self._search(f"tags.`dyco.sweep_id` = '{sweep_id}' and tags.`dyco.role` = '{SWEEP_ROLE}'")
            if found:
                return found[0].info.run_id
            tags = {"dyco.sweep_id": sweep_id, "dyco.role": SWEEP_ROLE}
            tracking.drop_foreign_run_id(None)  # a leftover MLFLOW_RUN_ID would be resumed as the sweep's run
            with mlflow.start_run(run_name=sweep_id, tags=tags) as run:
                mlflow.log_dict(description, "sweep.json")
                return run.info.run_id
        except Exception as err:  # noqa: BLE001
            _warn("creating the sweep's run", err)
            return None

    def _finished_runs(self, sweep_id: str) -> list:
        return self._search(
            f"tags.`dyco.sweep_id` = '{sweep_id}' and tags.`dyco.role` = '{CELL_ROLE}' "
            f"and tags.`dyco.status` = '{FINISHED}'"
        )

    def finished_hashes(self, sweep_id: str) -> set[str] | None:
        """Cell hashes of this sweep with a finished MLflow run (None: store unreachable)."""
        try:
            return {r.data.tags["dyco.cell_hash"] for r in self._finished_runs(sweep_id)}
        except Exception as err:  # noqa: BLE001
            _warn("looking up finished cells", err)
            return None

    def finished_records(self, sweep_id: str) -> list[CellRecord] | None:
        """The records of this sweep's finished cell runs (None: store unreachable)."""
        try:
            runs = self._finished_runs(sweep_id)
        except Exception as err:  # noqa: BLE001
            _warn("reading the sweep's cells", err)
            return None
        return [r for r in (CellRecord.from_run(run) for run in runs) if r is not None]

    def log(self, record: CellRecord, parent_run_id: str | None) -> bool:
        """Log a finished cell into its run (the run training opened, found by the id kept in the run
        directory, or a new one): tags, eval/* metrics, the results file and the record. True when logged."""
        import mlflow

        from . import tracking

        run_dir = Path(record.run_dir)
        tags = record.tags(parent_run_id)
        config_file = run_dir / "config.json"  # the trained run's resolved config: the params of a new run
        params = json.loads(config_file.read_text()) if config_file.exists() else {"cell": record.to_json()}
        try:
            self.connect()
            with tracking.start_run(run_dir, mlflow.get_tracking_uri(), self.experiment, run_dir.name, params, tags):
                mlflow.set_tags(tags)
                for key, score in record.scores.items():
                    if score.score is not None:
                        mlflow.log_metric(f"eval/{key}", score.score)
                    # every sub-metric VLMEvalKit returned (benchmarks.yaml `metrics`), to compare any of them
                    mlflow.log_metrics({f"eval/{key}/{m}": v for m, v in score.metrics.items() if v is not None})
                for task, metrics in (record.lm_eval or {}).items():
                    mlflow.log_metrics({f"lm_eval/{task}/{k.replace(',', '_')}": v for k, v in metrics.items()})
                mlflow.log_metric("cell_seconds", record.seconds)
                results = run_dir / "eval" / "results.json"
                if results.exists():
                    mlflow.log_artifact(str(results))
                for key, score in record.scores.items():  # the per-item scores, for the report's statistics
                    if score.items and Path(score.items).is_file():
                        mlflow.log_text(Path(score.items).read_text(), items_artifact(key))
                mlflow.log_dict(record.to_json(), CELL_FILE)
                mlflow.set_tag("dyco.status", FINISHED)  # last: a run is finished only with everything logged
            return True
        except Exception as err:  # noqa: BLE001
            _warn(f"logging {run_dir.name}", err)
            if mlflow.active_run():  # started but not entered: never leave it open for the next cell
                mlflow.end_run("FAILED")
            return False

    def log_missing(self, records: list[CellRecord], sweep_id: str, parent_run_id: str | None) -> int | None:
        """Log the records MLflow has no finished run for (cells that finished while it was away).
        Returns how many were logged (None: store unreachable)."""
        finished = self.finished_hashes(sweep_id)
        if finished is None:
            return None
        missing = [r for r in records if r.cell_hash not in finished]
        return sum(self.log(r, parent_run_id) for r in missing)

    def attach(self, parent_run_id: str, files: list[Path], artifact_path: str = "report") -> bool:
        """Attach files (the sweep's report) to the sweep's run."""
        import mlflow

        try:
            self.connect()
            with mlflow.start_run(run_id=parent_run_id):
                for path in files:
                    mlflow.log_artifact(str(path), artifact_path=artifact_path)
            return True
        except Exception as err:  # noqa: BLE001
            _warn(f"attaching the {artifact_path}", err)
            return False


def _warn(what: str, err: Exception) -> None:
    from .tracking import mask_credentials

    reason = mask_credentials(str(err).splitlines()[0])[:200]
    print(f"warning: MLflow unavailable while {what} ({reason})", file=sys.stderr)
