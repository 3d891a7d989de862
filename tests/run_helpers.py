"""A training config composed as the CLI would compose it, and the MLflow runs a test run logged."""

from pathlib import Path

import mlflow
from hydra import compose, initialize_config_dir

CONF = str(Path(__file__).resolve().parents[1] / "conf")


def tiny_config(tmp_path, *overrides):
    """profile=tiny, one generation per optimizer step (the demo's profile reuses each for two), so a run of
    N steps logs rewards at steps 1..N."""
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose(
            "config", overrides=["profile=tiny", f"output_root={tmp_path}", "train.steps_per_generation=1", *overrides]
        )


def logged_runs(tmp_path):
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    return mlflow.search_runs(experiment_names=["dyco-repro"], output_format="list")


def cell_record(run_dir, algo, method, scores, **fields):
    """A finished CellRecord of sweep `s-1` on the 3B model (tiny-s), for the record and report tests."""
    from dyco_repro.records import ZERO_SHOT, CellRecord

    defaults = {
        "sweep_id": "s-1",
        "cell_hash": Path(run_dir).name,
        "kind": ZERO_SHOT if method == ZERO_SHOT else "train",
        "model": "qwen2_5_vl_3b",
        "model_label": "tiny-s",
        "seconds": 1.0,
        "train_steps": None,
    }
    return CellRecord(algo=algo, method=method, run_dir=str(run_dir), scores=scores, **(defaults | fields))
