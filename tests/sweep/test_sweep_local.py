"""A tiny sweep through the local submitit launcher, end to end: train -> evaluate -> MLflow -> table."""

import json
import os
import signal
import subprocess
import time

import pytest
from sweep_helpers import OFFLINE, cell_runs, clean_env, run, sweep_command, sweep_id_of

pytestmark = pytest.mark.slow

MATRIX = ("algo=grpo", "method=baseline,dyco,zero_shot", "profile=tiny")


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    first = run(sweep_command(*MATRIX, f"output_root={root / 'out'}"), cwd=root)
    assert first.returncode == 0, first.stderr[-3000:]
    return root, first


def test_every_cell_is_a_finished_child_run_of_the_sweep(swept):
    root, first = swept
    sweep_id = sweep_id_of(first.stdout)
    cells, parents = cell_runs(root / "out", sweep_id)
    (parent,) = parents
    assert sorted(r.info.run_name for r in cells) == [
        "grpo-qwen2_5_vl_3b-baseline-seed0",
        "grpo-qwen2_5_vl_3b-dyco-seed0",
        "zero-shot-qwen2_5_vl_3b",
    ]
    for r in cells:
        assert r.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert r.data.tags["dyco.status"] == "finished"
        assert {"eval/Synth_MCQ", "eval/Synth_MME", "eval/Synth_Math"} <= set(r.data.metrics)
        assert r.data.tags["eval.judge/Synth_Math"] == "rule" and r.data.tags["eval.official/Synth_Math"] == "false"
    trained = [r for r in cells if r.data.tags["dyco.kind"] == "train"]
    assert all("reward" in r.data.metrics for r in trained)  # the training curve is in the same run


def test_the_table_is_printed_and_matches_the_results_on_disk(swept):
    root, first = swept
    sweep_dir = root / "out" / "sweeps" / sweep_id_of(first.stdout)
    md = (sweep_dir / "report" / "table1.md").read_text()
    assert md.strip() in first.stdout
    rows = {line.split("|")[1].strip(): line for line in md.splitlines() if line.startswith("| ")}
    assert {"Zero-Shot", "GRPO", "+ DyCo-RL"} <= set(rows)
    results = json.loads((sweep_dir / "runs" / "zero-shot-qwen2_5_vl_3b" / "eval" / "results.json").read_text())
    mcq = results["benchmarks"]["Synth_MCQ"]["score"]
    assert f"{mcq:.1f}" in rows["Zero-Shot"].split("|")[3]
    for name in ("table1.tex", "table1.csv", "pair_bars.png", "reward_curves.png", "timing.json"):
        assert (sweep_dir / "report" / name).stat().st_size > 0
    assert "orchestration overhead:" in first.stdout


def test_the_report_is_an_artifact_of_the_sweep_run(swept):
    import mlflow

    root, first = swept
    _, (parent,) = cell_runs(root / "out", sweep_id_of(first.stdout))
    names = {a.path for a in mlflow.MlflowClient().list_artifacts(parent.info.run_id, "report")}
    assert {"report/table1.md", "report/table1.tex", "report/table1.csv"} <= names


def test_rerunning_skips_finished_cells_without_duplicate_runs_and_redoes_a_damaged_one(swept):
    root, first = swept
    sweep_id = sweep_id_of(first.stdout)
    damaged = root / "out" / "sweeps" / sweep_id / "runs" / "zero-shot-qwen2_5_vl_3b" / "cell.json"
    damaged.write_text('{"status": "fini')  # cut short: must be redone, never trusted
    import mlflow

    cells, _ = cell_runs(root / "out", sweep_id)
    (zero,) = [r for r in cells if r.info.run_name.startswith("zero-shot")]
    mlflow.set_tracking_uri(f"sqlite:///{root / 'out' / 'mlflow.db'}")
    mlflow.MlflowClient().delete_tag(zero.info.run_id, "dyco.status")  # as if it never finished
    again = run(sweep_command(*MATRIX, f"output_root={root / 'out'}"), cwd=root)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("skip ") == 2 and "1 to run" in again.stdout
    cells, parents = cell_runs(root / "out", sweep_id)
    assert len(cells) == 3 and len(parents) == 1
    assert json.loads(damaged.read_text())["status"] == "finished"


def test_dry_run_prints_the_matrix_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    done = run(sweep_command("matrix=table1", "profile=tiny", "dry_run=true", f"output_root={out}"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "18 cells (dry run" in done.stdout  # 4 algos x 2 sizes x 2 methods + a zero-shot per size
    assert done.stdout.count("dyco_repro.train") == 16 and done.stdout.count("checkpoint=base") == 2
    assert "gpus_per_node=0, cpus_per_task=1" in done.stdout
    assert not out.exists()


def test_one_bad_cell_stops_the_sweep_before_anything_is_dispatched(tmp_path):
    out = tmp_path / "out"
    done = run(
        sweep_command(
            "algo=grpo,dapo",
            "profile=tiny",
            "model=qwen2_5_vl_3b,qwen2_5_vl_7b",
            "model.tiny=null",
            f"output_root={out}",
        ),
        cwd=tmp_path,
    )
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()[-1:]
    assert line.startswith("error: cell algo=grpo") and "model.path=" in line
    assert not out.exists()


@pytest.mark.parametrize(
    "override,message",
    [
        ("dry_run=no", "error: dry_run=no: use dry_run=<true or false>"),  # bool("no") ran a dry run
        ("seed=abc", "seed=abc: use seed=<a whole number>"),  # was a traceback, and multirun.yaml written
    ],
)
def test_untyped_sweep_settings_are_one_line_and_write_nothing(tmp_path, override, message):
    out = tmp_path / "out"
    done = run(
        sweep_command("algo=grpo", "method=baseline", "profile=tiny", override, f"output_root={out}"), cwd=tmp_path
    )
    assert done.returncode == 2, done.stderr[-2000:]
    (line,) = done.stderr.strip().splitlines()[-1:]
    assert line.startswith("error: ") and message in line, line
    assert not out.exists()


def test_a_killed_sweep_resumes_from_the_last_checkpoint_as_one_run(tmp_path):
    out = tmp_path / "out"
    args = sweep_command(
        "algo=grpo", "method=dyco", "profile=tiny", "train.max_steps=6", "train.save_steps=2", f"output_root={out}"
    )
    proc = subprocess.Popen(
        args,
        cwd=tmp_path,
        env=clean_env(**OFFLINE),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    checkpoints = list((out / "sweeps").glob("*/runs/grpo-qwen2_5_vl_3b-dyco-seed0/checkpoints"))
    deadline = time.time() + 300
    while time.time() < deadline and not any((c / "checkpoint-2").exists() for c in checkpoints):
        time.sleep(0.5)
        checkpoints = list((out / "sweeps").glob("*/runs/grpo-qwen2_5_vl_3b-dyco-seed0/checkpoints"))
    assert checkpoints and (checkpoints[0] / "checkpoint-2").exists(), "no checkpoint within 5 minutes"
    os.killpg(proc.pid, signal.SIGKILL)  # the sweep, its job and the training process
    proc.wait()
    assert not (checkpoints[0].parent / "cell.json").exists()
    again = run(args, cwd=tmp_path, **OFFLINE)
    assert again.returncode == 0, again.stderr[-3000:]
    sweep_id = sweep_id_of(again.stdout)
    (cell,), _ = cell_runs(out, sweep_id)
    assert cell.data.tags["dyco.status"] == "finished"
    assert cell.data.tags["resumed_from"].startswith("checkpoint-")
    assert json.loads((checkpoints[0].parent / "done.json").read_text())["steps"] == 6


def test_an_unreachable_mlflow_store_loses_nothing_and_the_report_logs_it_later(tmp_path):
    out = tmp_path / "out"
    down = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "2", **OFFLINE}
    done = run(
        sweep_command(
            "algo=grpo",
            "method=zero_shot",
            "profile=tiny",
            "mlflow.tracking_uri=http://127.0.0.1:9",
            f"output_root={out}",
        ),
        cwd=tmp_path,
        **down,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "MLflow unavailable" in done.stderr and "| Zero-Shot |" in done.stdout  # the table, from disk
    sweep_id = sweep_id_of(done.stdout)
    record = json.loads((out / "sweeps" / sweep_id / "runs" / "zero-shot-qwen2_5_vl_3b" / "cell.json").read_text())
    assert record["status"] == "finished" and record["scores"]["Synth_MCQ"]["score"] is not None
    report = run([*sweep_command()[:2], "dyco_repro.report", f"sweep={sweep_id}", f"output_root={out}"], cwd=tmp_path)
    assert report.returncode == 0, report.stderr[-3000:]
    (cell,), (parent,) = cell_runs(out, sweep_id)
    assert cell.data.tags["dyco.status"] == "finished"
    assert cell.data.metrics["eval/Synth_MCQ"] == pytest.approx(record["scores"]["Synth_MCQ"]["score"])
    assert cell.data.tags["mlflow.parentRunId"] == parent.info.run_id
