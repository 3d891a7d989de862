"""Cell identity, commands and the sweep's preflight, without running anything."""

import pytest
from hydra import compose, initialize_config_dir

from dyco_repro.sweep import register_sweeps
from dyco_repro.sweep.cells import cell_identity, cell_overrides, identity_hash, plan_cell
from dyco_repro.sweep.plan import SweepError, sweep_identity, validate_cell
from dyco_repro.sweep.preflight import CONF_DIR, PreflightError, preflight, split_values

SWEEPS = register_sweeps()


def cell(*overrides, tmp_path=None):
    from omegaconf import OmegaConf

    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("sweep", overrides=["sweep_id=test", f"output_root={tmp_path or '/tmp/x'}", *overrides])
    return cfg, OmegaConf.to_container(cfg, resolve=True)


def test_sweep_id_is_the_matrix_not_how_it_is_run():
    base = sweep_identity(["+sweep=table1", "profile=tiny"])
    assert base.startswith("table1-")
    assert sweep_identity(["profile=tiny", "+sweep=table1", "dry_run=true", "force=true", "launcher=slurm"]) == base
    assert sweep_identity(["+sweep=table1", "profile=tiny", "mlflow.tracking_uri=http://x"]) == base
    assert sweep_identity(["+sweep=table1", "profile=paper"]) != base
    assert sweep_identity(["algo=grpo,dapo"]).startswith("sweep-")


def test_zero_shot_cells_are_one_per_model_whatever_the_algorithm():
    _, grpo = cell("algo=grpo", "method=zero_shot", "profile=tiny")
    _, dapo = cell("algo=dapo", "method=zero_shot", "profile=tiny")
    _, other_model = cell("algo=grpo", "method=zero_shot", "profile=tiny", "model=qwen2_5_vl_7b")
    assert identity_hash(cell_identity(grpo)) == identity_hash(cell_identity(dapo))
    assert identity_hash(cell_identity(grpo)) != identity_hash(cell_identity(other_model))


def test_training_cells_differ_by_what_they_compute_not_where_they_run():
    _, a = cell("algo=grpo", "method=dyco", "profile=tiny")
    _, b = cell("algo=grpo", "method=dyco", "profile=tiny", "output_root=/elsewhere", "resume=never")
    _, c = cell("algo=grpo", "method=dyco", "profile=tiny", "model.resources.cpus_per_task=4")
    _, d = cell("algo=grpo", "method=dyco", "profile=tiny", "dyco.alpha=0.3")
    assert identity_hash(cell_identity(a)) == identity_hash(cell_identity(b)) == identity_hash(cell_identity(c))
    assert identity_hash(cell_identity(a)) != identity_hash(cell_identity(d))


def test_commands_train_then_evaluate_the_final_checkpoint(tmp_path):
    overrides = ["algo=grpo", "method=dyco", "profile=tiny", "dry_run=true", "+sweep=table1", "sweep_id=test"]
    cfg, _ = cell(*overrides, tmp_path=tmp_path)
    c = plan_cell(cfg, overrides, parent_run_id="abc")
    train, evaluate = c.commands
    assert train[1:3] == ["-m", "dyco_repro.train"] and "resume=auto" in train
    assert evaluate[1:3] == ["-m", "dyco_repro.evaluate"] and f"checkpoint={c.run_dir / 'final'}" in evaluate
    for command in c.commands:
        assert "mlflow.parent_run_id=abc" in command and f"mlflow.cell_hash={c.cell_hash}" in command
        assert not any(a.startswith(("dry_run", "+sweep", "sweep_id")) for a in command)
    assert c.run_dir == (tmp_path / "sweeps" / "test" / "runs" / "grpo-qwen2_5_vl_3b-dyco-seed0").resolve()


def test_a_multi_gpu_cell_starts_through_accelerate_with_zero3():
    overrides = ["algo=grpo", "method=dyco", "model.resources.gpus_per_node=8"]
    cfg, _ = cell(*overrides)
    train = plan_cell(cfg, overrides, None).commands[0]
    assert train[:2] == ["accelerate", "launch"] and train[train.index("--num_processes") + 1] == "8"
    assert train[train.index("--config_file") + 1].endswith("configs/accelerate/zero3.yaml")


def test_zero_shot_cell_only_evaluates_the_base_model():
    overrides = ["algo=grpo", "method=zero_shot", "profile=tiny"]
    cfg, _ = cell(*overrides)
    (evaluate,) = plan_cell(cfg, overrides, None).commands
    assert "checkpoint=base" in evaluate and "dyco_repro.evaluate" in evaluate


def test_cell_overrides_drop_the_sweeps_own_settings():
    kept = cell_overrides(
        [
            "algo=grpo",
            "+sweep=table1",
            "dry_run=true",
            "sweep_id=x",
            "launcher=slurm",
            "hydra.x=1",
            "train.max_steps=2",
            "mlflow.experiment=e",
        ]
    )
    assert kept == ["algo=grpo", "train.max_steps=2", "mlflow.experiment=e"]


def test_paper_profile_cell_without_weights_is_refused_with_the_fix():
    cfg, _ = cell("algo=grpo", "method=dyco", "model.path=/nonexistent/Qwen2.5-VL-3B-Instruct")
    with pytest.raises(SweepError, match="model.path="):
        validate_cell(cfg)


def test_batch_sizes_are_checked_for_the_cells_own_process_count():
    # 8 GPUs x 4 x 2 = 64 completions: 3 generations do not divide it
    cfg, _ = cell(
        "algo=grpo", "method=dyco", "profile=tiny", "train.num_generations=3", "model.resources.gpus_per_node=8"
    )
    with pytest.raises(SweepError, match="8 processes"):
        validate_cell(cfg)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["algo=grpo"], "runs with -m"),
        (["-m", "algo=grpo,dapoo"], "unknown algo 'dapoo'"),
        (["-m", "+sweep=tabel1"], "unknown sweep 'tabel1'"),
        (["-m", "launcher=k8s"], "unknown launcher 'k8s'"),
        (["-m", "train.max_stepz=3"], "train.max_stepz"),
        (["-m", "algo"], "not key=value"),
    ],
)
def test_preflight_refuses_bad_command_lines_in_one_line(argv, message):
    with pytest.raises(PreflightError, match=message) as err:
        preflight(argv, SWEEPS)
    assert "\n" not in str(err.value)


def test_split_values_keeps_brackets_whole():
    assert split_values("grpo,dapo") == ["grpo", "dapo"]
    assert split_values("[a,b],[c]") == ["[a,b]", "[c]"]
