"""A sweep's report from its records: read only, from MLflow or (store unreachable) from disk."""

import ast
from pathlib import Path

import pytest
from run_helpers import cell_record

from dyco_repro.records import ZERO_SHOT, BenchmarkScore, CellRecord, Store
from dyco_repro.report.build import build_sweep_report

REPORT = Path(__file__).resolve().parents[2] / "dyco_repro" / "report"


def cell(sweep_dir, algo, method, mcq):
    name = f"{ZERO_SHOT}-m" if method == ZERO_SHOT else f"{algo}-{method}"
    scores = {"Synth_MCQ": BenchmarkScore(mcq, "exact_matching", True, "Visual-Centric Reasoning", 24, None)}
    return cell_record(sweep_dir / "runs" / name, algo, method, scores)


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


def test_the_command_refuses_a_sweep_without_a_finished_cell_and_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # MLflow puts a SQLite store's artifacts under the working directory
    import mlflow

    from dyco_repro.report.__main__ import main

    sweep_dir = tmp_path / "sweeps" / "s-1"
    (sweep_dir / "runs" / "grpo-dyco").mkdir(parents=True)  # started, no cell.json yet
    Store(None, str(tmp_path), "dyco-repro").sweep_run("s-1", {"cells": []})  # as the sweep made it
    runs = {r.info.run_id for r in mlflow.search_runs(search_all_experiments=True, output_format="list")}
    files = sorted(tmp_path.rglob("*"))
    capsys.readouterr()
    assert main(["sweep=s-1", f"output_root={tmp_path}"]) == 2
    fix = "wait for a cell to finish, or run the sweep (python -m dyco_repro.sweep -m ... with its overrides)"
    assert capsys.readouterr().err == f"error: sweep s-1 has no finished cell yet; {fix}, then rerun the report\n"
    assert sorted(tmp_path.rglob("*")) == files and not (sweep_dir / "report").exists()
    assert {r.info.run_id for r in mlflow.search_runs(search_all_experiments=True, output_format="list")} == runs


@pytest.mark.parametrize("module", sorted(p.name for p in REPORT.glob("*.py")))
def test_the_report_never_imports_the_sweep(module):
    tree = ast.parse((REPORT / module).read_text())
    imported = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    imported += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    assert not [name for name in imported if "sweep" in name.split(".")], imported


# ----------------------------------------------------------------------------- seeds and paired statistics


def seeded_cell(sweep_dir, method, seed, shift, n=40):
    """A trained cell of one seed whose per-item scores (items.csv) are on disk: DyCo gets `shift` more items right."""
    import numpy as np
    import pandas as pd

    from dyco_repro.evaluation.items import write_items

    name = f"grpo-{method}-seed{seed}"
    run_dir = sweep_dir / "runs" / name
    scores = {}
    for bench in ("Synth_MCQ", "Synth_MME"):
        rng = np.random.default_rng([seed, len(bench)])
        hits = (rng.random(n) < 0.5).astype(float)
        if method == "dyco":
            hits[np.flatnonzero(hits == 0)[:shift]] = 1.0
        items = pd.DataFrame({"item": [str(i) for i in range(n)], "cluster": [str(i // 2) for i in range(n)]})
        path = write_items(items.assign(score=hits), run_dir / "eval" / bench)
        scores[bench] = BenchmarkScore(
            100 * hits.mean(), "exact_matching", True, "Visual-Centric Reasoning", n, None, items=path
        )
    return CellRecord(
        sweep_id="s-2",
        cell_hash=name,
        kind="train",
        algo="grpo",
        model="qwen2_5_vl_3b",
        model_label="tiny-s",
        method=method,
        run_dir=str(run_dir),
        seconds=1.0,
        train_steps=2,
        scores=scores,
        seed=seed,
    )


def seeded_sweep(sweep_dir, seeds=(0, 1)):
    return [seeded_cell(sweep_dir, m, s, 12) for s in seeds for m in ("baseline", "dyco")]


def down_store(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    return Store("http://127.0.0.1:9", str(tmp_path), "x")


def test_two_seeds_give_comparisons_intervals_and_a_marked_table(tmp_path, monkeypatch):
    import pandas as pd

    from dyco_repro.report.stats import COMPARISON_COLUMNS

    sweep_dir = tmp_path / "sweeps" / "s-2"
    for record in seeded_sweep(sweep_dir):
        record.write()
    report = build_sweep_report(down_store(tmp_path, monkeypatch), sweep_dir, "s-2", reference=None)
    out = sweep_dir / "report"
    assert {"comparisons.csv", "forest.png", "items.csv"} <= {p.name for p in report.files}
    assert "improvement.csv" not in {p.name for p in report.files}  # needs three seeds
    comparisons = pd.read_csv(out / "comparisons.csv")
    assert tuple(comparisons.columns[: len(COMPARISON_COLUMNS)]) == COMPARISON_COLUMNS
    assert list(comparisons["benchmark"]) == ["Synth_MCQ", "Synth_MME", "Avg"]
    assert (comparisons["n_seeds"] == 2).all() and (comparisons["n_items"] == [40, 40, 80]).all()
    assert (comparisons["ci_low"] <= comparisons["delta"]).all() and (
        comparisons["delta"] <= comparisons["ci_high"]
    ).all()
    assert (comparisons["p_adjusted"] >= comparisons["p_value"]).all()
    assert comparisons["delta"].tolist() == pytest.approx([30.0, 30.0, 30.0])  # 12 of 40 items more, every seed
    assert (comparisons["p_adjusted"] < 0.05).all()
    table = pd.read_csv(out / "table1.csv").set_index("method")
    assert table.loc["dyco", "n_seeds"] == 2 and table.loc["dyco", "Synth_MCQ_ci_low"] < table.loc["dyco", "Synth_MCQ"]
    assert bool(table.loc["dyco", "significant_Synth_MCQ"]) and "‡" in report.markdown and " ± " in report.markdown
    items = pd.read_csv(out / "items.csv")
    assert len(items) == 4 * 2 * 40 and set(items["seed"]) == {0, 1}


def test_three_seeds_add_the_probability_of_improvement(tmp_path, monkeypatch):
    import pandas as pd

    sweep_dir = tmp_path / "sweeps" / "s-2"
    for record in seeded_sweep(sweep_dir, seeds=(0, 1, 2)):
        record.write()
    build_sweep_report(down_store(tmp_path, monkeypatch), sweep_dir, "s-2", reference=None)
    improvement = pd.read_csv(sweep_dir / "report" / "improvement.csv")
    assert set(improvement["benchmark"]) == {"Synth_MCQ", "Synth_MME", "Avg"}
    assert (improvement["prob_improvement"] == 1.0).all() and (improvement["n_seeds"] == 3).all()


def test_per_item_scores_come_from_mlflow_when_the_disk_lost_them(tmp_path, monkeypatch):
    import pandas as pd

    monkeypatch.chdir(tmp_path)  # MLflow puts a SQLite store's artifacts under the working directory
    sweep_dir = tmp_path / "sweeps" / "s-2"
    store = Store(None, str(tmp_path), "items-test")
    for record in seeded_sweep(sweep_dir):
        record.write()
        assert store.log(record, None)
    for path in (sweep_dir / "runs").glob("*/eval/*/items.csv"):
        path.unlink()
    build_sweep_report(store, sweep_dir, "s-2", reference=None)
    comparisons = pd.read_csv(sweep_dir / "report" / "comparisons.csv")
    assert comparisons["delta"].tolist() == pytest.approx([30.0, 30.0, 30.0])


def test_records_without_per_item_scores_still_make_a_table(tmp_path, monkeypatch, capsys):
    sweep_dir = tmp_path / "sweeps" / "s-1"
    for record in records(sweep_dir):  # written before per-item scores were kept: no items, no seed
        record.write()
    report = build_sweep_report(down_store(tmp_path, monkeypatch), sweep_dir, "s-1", reference=None)
    assert "comparisons.csv" not in {p.name for p in report.files} and "| CISPO |" in report.markdown


def test_report_power_dispatches_to_the_planner(tmp_path, monkeypatch, capsys):
    from dyco_repro.report.__main__ import main

    sweep_dir = tmp_path / "sweeps" / "s-2"
    for record in seeded_sweep(sweep_dir):
        record.write()
    build_sweep_report(down_store(tmp_path, monkeypatch), sweep_dir, "s-2", reference=None)
    capsys.readouterr()
    source = sweep_dir / "report" / "items.csv"
    assert main(["power", "--delta", "5", "--benchmark", "Synth_MCQ", "--from", str(source)]) == 0
    assert "Synth_MCQ: delta=5 points at 80% power" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        main(["power", "--delta", "-1", "--benchmark", "Synth_MCQ", "--from", str(source)])
    assert exit_.value.code == 2 and "--delta" in capsys.readouterr().err
