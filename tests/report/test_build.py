"""A sweep's report from its records: read only, from MLflow or (store unreachable) from disk."""

import ast
from pathlib import Path

import pytest

from dyco_repro.records import ZERO_SHOT, BenchmarkScore, CellRecord, Store
from dyco_repro.report.build import build_sweep_report

REPORT = Path(__file__).resolve().parents[2] / "dyco_repro" / "report"


def cell(sweep_dir, algo, method, mcq):
    name = f"{ZERO_SHOT}-m" if method == ZERO_SHOT else f"{algo}-{method}"
    return CellRecord(
        sweep_id="s-1",
        cell_hash=name,
        kind=ZERO_SHOT if method == ZERO_SHOT else "train",
        algo=algo,
        model="qwen2_5_vl_3b",
        model_label="tiny-s",
        method=method,
        run_dir=str(sweep_dir / "runs" / name),
        seconds=1.0,
        train_steps=None,
        scores={"Synth_MCQ": BenchmarkScore(mcq, "exact_matching", True, "Visual-Centric Reasoning", 24, None)},
    )


def records(sweep_dir):
    return [
        cell(sweep_dir, None, ZERO_SHOT, 20.0),
        cell(sweep_dir, "cispo", "baseline", 30.0),
        cell(sweep_dir, "cispo", "dyco", 35.0),
        cell(sweep_dir, "grpo", "baseline", 25.0),
    ]


def rows(markdown):
    return [
        line.split("|")[1].strip()
        for line in markdown.splitlines()
        if line.startswith("| ") and not line.startswith("| **")
    ]


def test_a_sweep_with_an_unknown_algo_reports_its_rows_from_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    sweep_dir = tmp_path / "sweeps" / "s-1"
    for record in records(sweep_dir):
        record.write()
    down = Store("http://127.0.0.1:9", str(tmp_path), "x")
    report = build_sweep_report(down, sweep_dir, "s-1", reference=None)
    assert rows(report.markdown) == ["Method", "Zero-Shot", "GRPO", "+ DyCo-RL", "CISPO", "+ DyCo-RL"]
    assert {p.name for p in report.files} >= {"table1.md", "table1.tex", "table1.csv"}
    assert all(p.parent == sweep_dir / "report" for p in report.files)


def test_the_report_reads_mlflow_and_writes_nothing_there(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # MLflow puts a SQLite store's artifacts under the working directory
    import mlflow

    sweep_dir = tmp_path / "sweeps" / "s-1"
    store = Store(None, str(tmp_path), "report-test")
    for record in records(sweep_dir):
        record.write()
        assert store.log(record, None)
    before = {
        r.info.run_id: dict(r.data.tags) for r in mlflow.search_runs(search_all_experiments=True, output_format="list")
    }
    report = build_sweep_report(store, sweep_dir, "s-1", reference=None)
    assert "| CISPO |" in report.markdown and "30.0" in report.markdown
    after = {
        r.info.run_id: dict(r.data.tags) for r in mlflow.search_runs(search_all_experiments=True, output_format="list")
    }
    assert after == before


def test_a_sweep_without_a_finished_cell_has_no_report(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # MLflow puts a SQLite store's artifacts under the working directory
    assert build_sweep_report(Store(None, str(tmp_path), "empty"), tmp_path / "sweeps" / "s", "s") is None


@pytest.mark.parametrize("module", sorted(p.name for p in REPORT.glob("*.py")))
def test_the_report_never_imports_the_sweep(module):
    tree = ast.parse((REPORT / module).read_text())
    imported = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    imported += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    assert not [name for name in imported if "sweep" in name.split(".")], imported
