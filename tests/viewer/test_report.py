"""The sweep report's roles.html: each DyCo cell's completions from early and late in training."""

from __future__ import annotations

import re

from run_helpers import cell_record
from steps import step_data, write_steps

from dyco_repro.records import ZERO_SHOT, BenchmarkScore, Store
from dyco_repro.report.build import build_sweep_report
from dyco_repro.viewer.report import PER_END, early_and_late, write_roles_page

ROW = [["visual", "textual", "neutral"]]


def cell(sweep_dir, algo, method):
    name = f"{ZERO_SHOT}-m" if method == ZERO_SHOT else f"{algo}-{method}"
    scores = {"Synth_MCQ": BenchmarkScore(30.0, "exact_matching", True, "Visual-Centric Reasoning", 24, None)}
    return cell_record(sweep_dir / "runs" / name, algo, method, scores, train_steps=4)


def test_early_and_late_keep_the_first_and_last_step():
    steps = [{"step": s, "run": None, "samples": [{"n": k} for k in range(4)]} for s in (1, 5, 10)]
    chosen = early_and_late(steps)
    assert [s["step"] for s in chosen] == [1, 10] and all(len(s["samples"]) == PER_END for s in chosen)
    assert [s["step"] for s in early_and_late(steps[:1])] == [1] and early_and_late([]) == []


def test_the_report_links_a_roles_page_of_its_dyco_cells(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    sweep_dir = tmp_path / "sweeps" / "s-1"
    records = [
        cell(sweep_dir, None, ZERO_SHOT),
        cell(sweep_dir, "grpo", "baseline"),
        cell(sweep_dir, "grpo", "dyco"),
        cell(sweep_dir, "rloo", "dyco"),
    ]
    for record in records:
        record.write()
    write_steps(records[2].run_dir, [step_data(s, ROW * 3) for s in (1, 2, 3)])  # rloo-dyco recorded none
    down = Store("http://127.0.0.1:9", str(tmp_path), "x")
    report = build_sweep_report(down, sweep_dir, "s-1", reference=None)
    page = sweep_dir / "report" / "roles.html"
    assert page in report.files
    text = page.read_text()
    assert re.findall(r"<h2>(.*?)</h2>", text) == ["tiny-s grpo dyco", "tiny-s rloo dyco"]
    assert re.findall(r"<h3>(.*?)</h3>", text) == ["step 1", "step 3"]
    assert text.count('data-role="visual"') == 2 * PER_END and "No role samples recorded." in text


def test_a_sweep_without_dyco_cells_has_no_roles_page(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    sweep_dir = tmp_path / "sweeps" / "s-1"
    for record in (cell(sweep_dir, None, ZERO_SHOT), cell(sweep_dir, "grpo", "baseline")):
        record.write()
    report = build_sweep_report(Store("http://127.0.0.1:9", str(tmp_path), "x"), sweep_dir, "s-1", reference=None)
    assert report is not None and not (sweep_dir / "report" / "roles.html").exists()
    assert write_roles_page([("a cell", tmp_path / "nothing")], tmp_path / "r.html").read_text().count("<h2>") == 1
