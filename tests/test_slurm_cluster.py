"""The local one-node SLURM cluster (scripts/slurm/up.sh) runs jobs, runs two side by side, requeues.

Skipped where SLURM is not running, except in CI, where tests/slurm.py starts it or fails.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest
from slurm import PARTITION, require_slurm

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _slurm():
    require_slurm()


@pytest.fixture
def jobs():
    """Job ids submitted by a test; whatever is left is cancelled afterwards."""
    ids: list[str] = []
    yield ids
    if ids:
        subprocess.run(["scancel", *ids], capture_output=True, timeout=30)


def _run(*cmd: str, timeout: float = 30) -> str:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{' '.join(cmd)} -> {out.returncode}: {out.stderr}"
    return out.stdout


def _job_fields(job_id: str) -> dict[str, str]:
    """`scontrol show job` as a dict (no sacct: the cluster has no accounting daemon)."""
    text = _run("scontrol", "show", "job", "--oneliner", job_id)
    return dict(f.split("=", 1) for f in text.split() if "=" in f)


def _wait_for(cond, timeout: float, what: str, poll: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := cond():
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_sbatch_wait_runs_a_job_and_needs_no_sacct(tmp_path, jobs):
    result = tmp_path / "result.txt"
    out = _run(
        "sbatch",
        "--wait",
        "--parsable",
        f"--partition={PARTITION}",
        "--cpus-per-task=1",
        f"--output={tmp_path}/slurm-%j.out",
        f"--wrap=echo hello from $SLURM_JOB_ID > {result}",
        timeout=45,
    )
    job_id = out.strip().split(";")[0]
    jobs.append(job_id)
    assert result.read_text() == f"hello from {job_id}\n"
    # The outcome is known from slurmctld alone: no accounting storage, so no sacct needed.
    fields = _job_fields(job_id)
    assert (fields["JobState"], fields["ExitCode"]) == ("COMPLETED", "0:0")
    config = _run("scontrol", "show", "config")
    assert re.search(r"^AccountingStorageType\s*=\s*accounting_storage/none$", config, re.M), config


def test_two_one_cpu_jobs_run_concurrently(tmp_path, jobs):
    """Each job marks itself started, then waits (up to 20 s) for the other's mark: both succeed
    only if both were RUNNING at the same time (two cells side by side on a 2-core node)."""
    script = (
        "touch {me}; for i in $(seq 100); do [ -e {other} ] && exit 0; sleep 0.2; done; "
        "echo 'never saw {other}' >&2; exit 1"
    )
    a, b = tmp_path / "a.started", tmp_path / "b.started"
    for me, other in ((a, b), (b, a)):
        out = _run(
            "sbatch", "--parsable", f"--partition={PARTITION}", "--cpus-per-task=1",
            f"--output={tmp_path}/slurm-%j.out", f"--wrap={script.format(me=me, other=other)}",
        )  # fmt: skip
        jobs.append(out.strip().split(";")[0])

    # Poll slurmctld rather than `sbatch --wait`, whose own poll backs off to several seconds.
    def finished():
        states = {j: _job_fields(j) for j in jobs}
        done = all(f["JobState"] not in ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING") for f in states.values())
        return done and states

    states = _wait_for(finished, 40, "both jobs to finish")
    logs = {f.name: f.read_text() for f in tmp_path.glob("slurm-*.out")}
    assert [(f["JobState"], f["ExitCode"]) for f in states.values()] == [("COMPLETED", "0:0")] * 2, (states, logs)
    assert a.exists() and b.exists()


def test_requeued_job_runs_again_with_restart_count(tmp_path, jobs):
    log = tmp_path / "runs.log"
    out = _run(
        "sbatch",
        "--parsable",
        "--requeue",
        f"--partition={PARTITION}",
        "--cpus-per-task=1",
        f"--output={tmp_path}/slurm-%j.out",
        f"--wrap=echo run ${{SLURM_RESTART_COUNT-unset}} >> {log}; exec sleep 300",
    )
    job_id = out.strip().split(";")[0]
    jobs.append(job_id)
    _wait_for(lambda: len(_lines(log)) >= 1, 20, "the first run")

    _run("scontrol", "requeue", job_id)

    # A requeued job is held PENDING (reason BeginTime) for AuthInfo=cred_expire + 1 s: 11 s with
    # up.sh's cred_expire=10 (120 s by SLURM's default). Setting its StartTime to now releases it
    # at the next scheduling pass (sched_interval=2 in up.sh).
    def second_run():
        if len(_lines(log)) >= 2:
            return True
        fields = _job_fields(job_id)
        if fields["JobState"] == "PENDING":  # reason BeginTime, or not yet scheduled
            subprocess.run(["scontrol", "update", f"jobid={job_id}", "StartTime=now"], capture_output=True)
        return False

    # generous: on a loaded 2-core machine the controller's passes and the job's restart lag
    _wait_for(second_run, 90, "the requeued job's second run", poll=0.5)
    assert _lines(log) == ["run unset", "run 1"]
    assert _job_fields(job_id)["Restarts"] == "1"


def test_submitit_runs_a_function_on_the_cluster(tmp_path):
    """submitit (the sweep launcher's backend) submits, and reads the result back. Without
    accounting its sacct calls fail (a warning, job state UNKNOWN), but it finds the result file."""
    import submitit

    executor = submitit.AutoExecutor(folder=tmp_path, cluster="slurm")
    executor.update_parameters(slurm_partition=PARTITION, timeout_min=5, cpus_per_task=1, nodes=1)
    job = executor.submit(pow, 2, 10)
    try:
        _wait_for(job.done, 45, f"submitit job {job.job_id}", poll=0.5)
        assert job.result() == 1024
    finally:
        subprocess.run(["scancel", str(job.job_id)], capture_output=True, timeout=30)
