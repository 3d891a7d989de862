"""MLflow's UI opens the project's experiment on its training runs: the experiment-kind tag."""

from __future__ import annotations

import mlflow

from dyco_repro import tracking
from dyco_repro.records import Store


def kind(name: str) -> str | None:
    return mlflow.get_experiment_by_name(name).tags.get(tracking.EXPERIMENT_KIND_TAG)


def test_runs_and_the_store_tag_the_experiment_as_training(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with tracking.start_run(run_dir, uri, "exp-a", "r", {"a": 1}, {}):
        pass
    assert tracking.EXPERIMENT_KIND_TAG == "mlflow.experimentKind"
    assert kind("exp-a") == "custom_model_development"
    Store(uri, str(tmp_path), "exp-b").connect()
    assert kind("exp-b") == "custom_model_development"


def test_a_kind_the_user_chose_is_kept(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.create_experiment("mine", tags={tracking.EXPERIMENT_KIND_TAG: "genai_development"})
    tracking.use_experiment("mine")
    assert kind("mine") == "genai_development"
