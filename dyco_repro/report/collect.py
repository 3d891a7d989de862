"""A sweep's cell records, read (never written): from MLflow (the finished child runs), or from the
cell.json files on disk when the store is unreachable. Also the training curves for the plots and the
per-item scores for the paired statistics."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from ..records import TRAIN, ZERO_SHOT, CellRecord, Store, items_artifact, records_on_disk
from .table import CellResult, Score

ROLE_METRICS = {"visual": "dyco/visual_frac", "textual": "dyco/textual_frac", "neutral": "dyco/neutral_frac"}


def sweep_records(store: Store, sweep_dir: Path, sweep_id: str) -> tuple[list[CellRecord], bool]:
    """(the sweep's finished records, whether they came from MLflow). MLflow first: it also holds the
    curves; the disk when the store is unreachable."""
    records = store.finished_records(sweep_id)
    if records is None:
        return records_on_disk(sweep_dir), False
    return records, True


def to_cell_result(record: CellRecord) -> CellResult:
    scores = {k: Score(v.score, v.judge, v.official, v.official_data) for k, v in record.scores.items()}
    return CellResult(
        model=record.model_label,
        method=record.method,
        algo=None if record.method == ZERO_SHOT else record.algo,
        scores=scores,
        seed=record.seed,
    )


def item_scores(records: list[CellRecord]) -> pd.DataFrame:
    """The per-item frame of the trained cells (``stats.ITEM_COLUMNS``; model is the table's label), read
    from each benchmark's ``items.csv`` on disk, else from its cell run's MLflow artifact. A benchmark
    without per-item scores (not judged, or a record from before they were kept) is left out, with a
    warning naming it; so is one whose file cannot be read."""
    from ..evaluation.items import read_items

    frames, missing = [], []
    for record in records:
        if record.kind != TRAIN or record.seed is None:
            continue
        for key, score in record.scores.items():
            if score.score is None:
                continue
            try:
                items = _items_of(record, key, score.items, read_items)
            except (OSError, ValueError) as err:
                print(f"warning: {row_label(record)} {key}: per-item scores unreadable ({err})", file=sys.stderr)
                items = None
            if items is None:
                missing.append(f"{row_label(record)} seed {record.seed} {key}")
                continue
            frames.append(
                items.assign(
                    model=record.model_label, algo=record.algo, method=record.method, seed=record.seed, benchmark=key
                )
            )
    if missing:
        print(f"warning: no per-item scores for {', '.join(missing)}: left out of comparisons.csv", file=sys.stderr)
    columns = ["model", "algo", "method", "seed", "benchmark", "item", "cluster", "score"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def _items_of(record: CellRecord, key: str, path: str | None, read_items) -> pd.DataFrame | None:
    if path and Path(path).is_file():
        return read_items(path)
    if record.run_id is None:
        return None
    import tempfile

    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(
                run_id=record.run_id, artifact_path=items_artifact(key), dst_path=tmp
            )
        except Exception:  # noqa: BLE001 - a run logged before per-item scores were kept has none
            return None
        return read_items(local)


def row_label(record: CellRecord) -> str:
    """The record's run as a plot legend names it: `<model> <algo> <method>`, or `<model> zero-shot`."""
    return " ".join(part for part in (record.model_label, record.algo, record.method) if part)


def columns_of(records: list[CellRecord]) -> list[tuple[str, list[str]]]:
    """Column groups of the benchmarks the cells ran: the suite's own grouping (`column_groups`, in the
    suite file's order); a benchmark the suite does not know follows, sorted, under the group its
    record names (else "Other")."""
    from ..evaluation.suite import all_benchmarks, column_groups

    present = {key: s.group for r in records for key, s in r.scores.items()}
    known = all_benchmarks()
    groups = dict(column_groups([bench for key, bench in known.items() if key in present]))
    for key in sorted(k for k in present if k not in known):
        groups.setdefault(present[key] or "Other", []).append(key)
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
