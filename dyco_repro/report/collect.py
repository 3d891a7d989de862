"""A sweep's cell records, read (never written): from MLflow (the finished child runs), or from the
cell.json files on disk when the store is unreachable. Also the training curves for the plots."""

from __future__ import annotations

from pathlib import Path

from ..records import ZERO_SHOT, CellRecord, Store, records_on_disk
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
    scores = {k: Score(v.score, v.judge, v.official) for k, v in record.scores.items()}
    return CellResult(
        model=record.model_label,
        method=record.method,
        algo=None if record.method == ZERO_SHOT else record.algo,
        scores=scores,
    )


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
