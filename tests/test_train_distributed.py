"""profile=tiny as 2 CPU processes (gloo) through `accelerate launch`: it finishes, and the run
is tracked once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
from run_helpers import logged_runs

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_two_cpu_processes_train_and_log_once(tmp_path):
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", str(REPO / "configs" / "accelerate" / "cpu_gloo.yaml"),
        "-m", "dyco_repro.train", "profile=tiny", f"output_root={tmp_path}", "train.max_steps=2",
        "train.steps_per_generation=1",  # one generation per step: rewards logged at steps 1 and 2
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("final model:") == 1

    (run,) = logged_runs(tmp_path)
    assert run.data.tags["world_size"] == "2"
    assert [m.step for m in mlflow.MlflowClient().get_metric_history(run.info.run_id, "reward")] == [1, 2]
    final = tmp_path / "runs" / "tiny" / "grpo-qwen2_5_vl_3b-dyco-seed0" / "final"
    assert (final / "model.safetensors").is_file()
    assert not list(final.parent.glob(".final*")), "no half-written final model left behind"
