"""Sweeps through the real SLURM launcher on the local one-node cluster (make slurm-up).

Locally these skip when SLURM is not running; in CI they must run (tests/slurm.py)."""

import json
import subprocess
import time

import pytest
from slurm import require_slurm
from sweep_helpers import OFFLINE, cell_runs, clean_env, run, sweep_command, sweep_id_of

pytestmark = pytest.mark.slow
SLURM = ("launcher=slurm", "hydra.launcher.partition=debug")


@pytest.fixture(autouse=True)
def _slurm():
    require_slurm()


def test_a_two_cell_tiny_sweep_runs_as_slurm_jobs(tmp_path):
    out = tmp_path / "out"
    done = run(
        sweep_command("algo=grpo", "method=baseline,zero_shot", "profile=tiny", *SLURM, f"output_root={out}"),
        cwd=tmp_path,
        **OFFLINE,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    sweep_id = sweep_id_of(done.stdout)
    cells, (parent,) = cell_runs(out, sweep_id)
    assert sorted(r.info.run_name for r in cells) == ["grpo-qwen2_5_vl_3b-baseline-seed0", "zero-shot-qwen2_5_vl_3b"]
    assert all(r.data.tags["dyco.status"] == "finished" for r in cells)
    assert all(r.data.tags["mlflow.parentRunId"] == parent.info.run_id for r in cells)
    # each cell ran as a SLURM job: submitit's logs carry the SLURM job ids it printed
    job_ids = [line.split()[-1] for line in done.stdout.splitlines() if line.startswith("submitted ")]
    assert len(job_ids) == 2 and all(j.isdigit() for j in job_ids)
    md = (out / "sweeps" / sweep_id / "report" / "table1.md").read_text()
    assert "| Zero-Shot |" in md and "| GRPO |" in md and md.strip() in done.stdout


def test_a_requeued_cell_resumes_from_its_checkpoint_as_one_finished_run(tmp_path):
    out = tmp_path / "out"
    args = sweep_command(
        "algo=grpo",
        "method=dyco",
        "profile=tiny",
        "train.max_steps=12",
        "train.save_steps=2",
        *SLURM,
        f"output_root={out}",
    )
    log = open(tmp_path / "sweep.log", "w")
    proc = subprocess.Popen(args, cwd=tmp_path, env=clean_env(**OFFLINE), stdout=log, stderr=subprocess.STDOUT)
    run_dir = None
    deadline = time.time() + 300
    while time.time() < deadline:
        found = list((out / "sweeps").glob("*/runs/grpo-qwen2_5_vl_3b-dyco-seed0"))
        if found and (found[0] / "checkpoints" / "checkpoint-2").exists():
            run_dir = found[0]
            break
        time.sleep(0.5)
    assert run_dir is not None, (tmp_path / "sweep.log").read_text()[-3000:]
    queued = subprocess.run(
        ["squeue", "-h", "-n", "dyco-grpo-qwen2_5_vl_3b-dyco-seed0", "-o", "%i"], capture_output=True, text=True
    ).stdout.split()
    assert queued, (
        "the cell's job left the queue before it could be requeued:\n" + (tmp_path / "sweep.log").read_text()[-3000:]
    )
    job_id = queued[0]
    subprocess.run(["scontrol", "requeue", job_id], check=True)
    time.sleep(1)
    # a requeued job waits for its credential to expire; start it as soon as SLURM allows
    for _ in range(20):
        if (
            subprocess.run(["scontrol", "update", f"jobid={job_id}", "StartTime=now"], capture_output=True).returncode
            == 0
        ):
            break
        time.sleep(0.5)
    assert proc.wait(timeout=600) == 0, (tmp_path / "sweep.log").read_text()[-3000:]
    restarts = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True).stdout
    assert "Restarts=1" in restarts
    sweep_id = sweep_id_of((tmp_path / "sweep.log").read_text())
    (cell,), _ = cell_runs(out, sweep_id)
    assert cell.data.tags["dyco.status"] == "finished"
    assert cell.data.tags["resumed_from"].startswith("checkpoint-")
    assert json.loads((run_dir / "done.json").read_text())["steps"] == 12
    record = json.loads((run_dir / "cell.json").read_text())
    assert set(record["scores"]) == {"Synth_Math", "Synth_MCQ", "Synth_MME"}


def test_an_unknown_partition_is_one_line_before_anything_is_submitted(tmp_path):
    out = tmp_path / "out"
    done = run(
        sweep_command(
            "algo=grpo",
            "method=zero_shot",
            "profile=tiny",
            "launcher=slurm",
            "hydra.launcher.partition=nopart",
            f"output_root={out}",
        ),
        cwd=tmp_path,
        **OFFLINE,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "error: SLURM has no partition 'nopart' (has debug); set DYCO_SLURM_PARTITION or hydra.launcher.partition="
    )
    assert not out.exists()
