"""python -m dyco_repro.viewer: a page from a run directory or an MLflow run; bad input is one line, exit 2."""

from __future__ import annotations

import subprocess
import sys

import pytest
from steps import step_data, write_steps

from dyco_repro.viewer.__main__ import main

ROLES = [["neutral", "visual", "textual"]]


def test_a_run_directory_gives_one_page_of_every_step(tmp_path, capsys):
    write_steps(tmp_path / "run", [step_data(1, ROLES), step_data(5, ROLES)])
    assert main([str(tmp_path / "run")]) == 0
    page = tmp_path / "run" / "roles" / "viewer.html"
    assert capsys.readouterr().out.strip() == str(page)
    text = page.read_text()
    assert "<h3>step 1</h3>" in text and "<h3>step 5</h3>" in text and "DyCo token roles: unit-run" in text


def test_an_mlflow_run_id_reads_its_roles_artifacts(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a SQLite store keeps its artifacts under the working directory
    import mlflow

    roles = write_steps(tmp_path / "run", [step_data(2, ROLES)])
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("viewer-test")  # not an experiment id another test left behind
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(roles), artifact_path="roles")
    with mlflow.start_run() as bare:
        pass
    out = tmp_path / "page.html"
    assert main([run.info.run_id, "--tracking-uri", uri, "--out", str(out)]) == 0
    assert "<h3>step 2</h3>" in out.read_text()
    assert main([bare.info.run_id, "--tracking-uri", uri, "--out", str(tmp_path / "none.html")]) == 2
    assert main(["0" * 32, "--tracking-uri", uri, "--out", str(tmp_path / "none.html")]) == 2
    assert not (tmp_path / "none.html").exists()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: str(p / "missing"), "neither a run directory nor an MLflow run id"),
        (lambda p: (p / "empty").mkdir() or str(p / "empty"), "has no role samples"),
        (lambda p: "f" * 32, "no MLflow store at"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys, make, message):
    monkeypatch.chdir(tmp_path)
    assert main([make(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err
    assert not list(tmp_path.rglob("*.html"))


def test_an_out_that_is_a_directory_is_refused_with_the_fix(tmp_path, capsys):
    write_steps(tmp_path / "run", [step_data(1, ROLES)])
    (tmp_path / "pages").mkdir()
    assert main([str(tmp_path / "run"), "--out", str(tmp_path / "pages")]) == 2
    err = capsys.readouterr().err
    fix = f"give a file path such as {tmp_path / 'pages' / 'viewer.html'}"
    assert err == f"error: --out {tmp_path / 'pages'} is a directory; {fix}\n"
    assert not list(tmp_path.rglob("*.html")) and not list((tmp_path / "pages").iterdir())


def test_the_module_runs_and_answers_bad_input_with_exit_2(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "dyco_repro.viewer", str(tmp_path / "nope")], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1
