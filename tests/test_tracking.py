"""MLflow tracking: never someone else's run, never a secret, never a credential."""

from __future__ import annotations

import logging

import mlflow
import pytest

from dyco_repro import tracking
from dyco_repro.tracking import flatten, is_secret_key, mask_credentials


@pytest.fixture
def store(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("other")
    yield uri
    while mlflow.active_run():
        mlflow.end_run()


def start(tmp_path, uri, name="mine"):
    run_dir = tmp_path / name
    run_dir.mkdir(exist_ok=True)
    return tracking.start_run(run_dir, uri, "dyco-repro", name, {"algo": {"name": "grpo"}}, {"algo": "grpo"})


@pytest.mark.parametrize("resume", [False, True])  # ours: a resumed run is not taken over either
def test_leftover_run_id_never_hijacks_a_run(tmp_path, store, monkeypatch, capsys, resume):
    """The issue: a leftover MLFLOW_RUN_ID made training log into, rename and add params to that run."""
    with mlflow.start_run(run_name="someone-else") as other:
        mlflow.log_param("theirs", 1)
    if resume:
        with start(tmp_path, store) as first:
            own = first.info.run_id
    monkeypatch.setenv("MLFLOW_RUN_ID", other.info.run_id)
    with start(tmp_path, store) as run:
        mlflow.log_metric("reward", 1.0)
    assert run.info.run_id != other.info.run_id
    assert not resume or run.info.run_id == own
    untouched = mlflow.get_run(other.info.run_id)
    assert untouched.data.tags["mlflow.runName"] == "someone-else"
    assert untouched.data.params == {"theirs": "1"} and untouched.data.metrics == {}
    assert mlflow.get_run(run.info.run_id).data.metrics == {"reward": 1.0}
    note = capsys.readouterr().err
    assert f"ignoring MLFLOW_RUN_ID={other.info.run_id}" in note
    assert ("resuming this run's own MLflow run" if resume else "starting a new MLflow run") in note
    import os

    assert "MLFLOW_RUN_ID" not in os.environ  # processes started from here do not inherit it


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("min_completion_tokens", False),  # the issue: dropped as if it were a secret
        ("max_new_tokens", False),  # the issue
        ("tokenizer", False),  # ours
        ("openai_api_key", True),
        ("hf_token", True),
        ("password", True),
        ("apiKey", True),  # ours
        ("client_secret", True),
    ],
)
def test_secret_filter_drops_secrets_not_token_counts(key, secret):
    assert is_secret_key(key) is secret


def test_params_keep_token_counts_and_drop_secrets():
    flat = flatten(
        {"dyco": {"min_completion_tokens": 60}, "eval": {"max_new_tokens": 2048}, "judge": {"api_key": "sk-x"}}
    )
    assert flat == {"dyco.min_completion_tokens": "60", "eval.max_new_tokens": "2048"}


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("https://user:pass@host:5000", "https://***@host:5000"),  # the issue
        ("http://127.0.0.1:8000/v1/chat/completions", "http://127.0.0.1:8000/v1/chat/completions"),
        (
            "mlflow.tracking_uri=https://tok3n@mlflow.example.org/x y",
            "mlflow.tracking_uri=https://***@mlflow.example.org/x y",
        ),
        ("sqlite:////tmp/mlflow.db", "sqlite:////tmp/mlflow.db"),
        ("postgresql://admin:s3cr%40t@db:5432/mlflow", "postgresql://***@db:5432/mlflow"),  # ours
    ],
)
def test_credentials_in_urls_are_masked(text, masked):
    assert mask_credentials(text) == masked


def test_credentials_are_masked_in_params(tmp_path, store):
    with start(tmp_path, store) as run:
        pass
    resolved = {"mlflow": {"tracking_uri": "https://user:pass@host"}, "x": [f"{store}"]}
    assert flatten(resolved)["mlflow.tracking_uri"] == "https://***@host"
    assert "pass" not in str(mlflow.get_run(run.info.run_id).data.params)


def test_unreachable_store_warning_masks_credentials(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # fail at once, not after minutes of backoff
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    resolved = {
        "mlflow": {"tracking_uri": "http://user:hunter2@127.0.0.1:9", "experiment": "x"},
        "output_root": str(tmp_path),
        "run_name": "r",
    }
    with tracking.start_run_or_warn(tmp_path, resolved, {}) as run:
        assert run is None
    err = capsys.readouterr().err
    assert "warning: MLflow unavailable" in err and "hunter2" not in err


def test_cell_command_lines_are_shown_masked(tmp_path):
    from dyco_repro.sweep.cells import Cell, Step

    cell = Cell(
        overrides=[], kind="train", cell_hash="abc", algo="grpo", model="m", model_label="M", method="dyco",
        run_dir=tmp_path / "cell", resources={},
        steps=[Step("dyco_repro.train", ["mlflow.tracking_uri=https://u:p@h"])],
    )  # fmt: skip
    text = cell.describe()
    assert "https://***@h" in text and "u:p" not in text


def test_judge_endpoint_and_vlmeval_log_are_masked(monkeypatch):
    from dyco_repro.evaluation.judge import openai_endpoint
    from dyco_repro.evaluation.scoring import RedactKey

    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    monkeypatch.setenv("OPENAI_API_BASE", "https://me:pw@judge.local/v1/chat/completions")
    assert openai_endpoint() == "https://***@judge.local/v1/chat/completions"
    record = logging.LogRecord("vlmeval.api.gpt", logging.INFO, "", 0, "Using API Base: %s; API Key: %s", None, None)
    record.args = ("https://me:pw@judge.local/v1", "sk-secret")
    RedactKey().filter(record)
    assert record.getMessage() == "Using API Base: https://***@judge.local/v1; API Key: ***"
