"""Cell identity, commands and the sweep's preflight, without running anything."""

import pytest
from hydra import compose, initialize_config_dir

from dyco_repro.cli import CONF_DIR
from dyco_repro.identity import identity_hash
from dyco_repro.sweep import register
from dyco_repro.sweep.cells import cell_overrides, plan_cell
from dyco_repro.sweep.plan import SweepError, sweep_identity, validate_cell
from dyco_repro.sweep.preflight import PreflightError, preflight, split_values

register()


def not_identity() -> list[str]:
    from omegaconf import OmegaConf

    return list(OmegaConf.load(CONF_DIR / "config.yaml").not_identity)


def cell(*overrides, tmp_path=None):
    from omegaconf import OmegaConf

    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("sweep", overrides=["sweep_id=test", f"output_root={tmp_path or '/tmp/x'}", *overrides])
    return cfg, OmegaConf.to_container(cfg, resolve=True)


def test_sweep_id_is_the_matrix_not_how_it_is_run():
    keys = not_identity()
    base = sweep_identity(["matrix=table1", "profile=tiny"], keys)
    assert base.startswith("table1-")
    assert (
        sweep_identity(["profile=tiny", "matrix=table1", "dry_run=true", "force=true", "launcher=slurm"], keys) == base
    )
    assert sweep_identity(["matrix=table1", "profile=tiny", "mlflow.tracking_uri=http://x"], keys) == base
    assert sweep_identity(["matrix=table1", "profile=tiny", "output_root=/elsewhere", "resume=never"], keys) == base
    assert sweep_identity(["matrix=table1", "profile=tiny", "model.resources.cpus_per_task=4"], keys) == base
    assert sweep_identity(["matrix=table1", "profile=paper"], keys) != base
    assert sweep_identity(["algo=grpo,dapo"], keys).startswith("sweep-")


def test_zero_shot_cells_are_one_per_model_whatever_the_algorithm():
    _, grpo = cell("algo=grpo", "method=zero_shot", "profile=tiny")
    _, dapo = cell("algo=dapo", "method=zero_shot", "profile=tiny")
    _, other_model = cell("algo=grpo", "method=zero_shot", "profile=tiny", "model=qwen2_5_vl_7b")
    _, other_seed = cell("algo=grpo", "method=zero_shot", "profile=tiny", "seed=3", "train.max_steps=9")
    assert identity_hash(grpo) == identity_hash(dapo) == identity_hash(other_seed)
    assert identity_hash(grpo) != identity_hash(other_model)


def test_training_cells_differ_by_what_they_compute_not_where_they_run():
    _, a = cell("algo=grpo", "method=dyco", "profile=tiny")
    _, b = cell("algo=grpo", "method=dyco", "profile=tiny", "output_root=/elsewhere", "resume=never")
    _, c = cell("algo=grpo", "method=dyco", "profile=tiny", "model.resources.cpus_per_task=4")
    _, d = cell("algo=grpo", "method=dyco", "profile=tiny", "dyco.alpha=0.3")
    _, e = cell("algo=grpo", "method=dyco", "profile=tiny", "seed=1")
    assert identity_hash(a) == identity_hash(b) == identity_hash(c)
    assert identity_hash(a) != identity_hash(d) and identity_hash(a) != identity_hash(e)


def test_the_run_hash_the_cell_hash_and_the_sweep_id_read_one_declared_list():
    from dyco_repro.tracking import config_hash

    cfg, a = cell("algo=grpo", "method=dyco", "profile=tiny")
    assert config_hash(a) == identity_hash(a)  # the training run's MLflow tag is the cell's hash
    assert set(a["not_identity"]) == set(not_identity())
    declared = {k.split(".")[0] for k in a["not_identity"]}
    assert {"mlflow", "output_root", "resume", "checkpoint", "force"} <= declared


def test_commands_train_then_evaluate_the_final_checkpoint(tmp_path):
    overrides = ["algo=grpo", "method=dyco", "profile=tiny", "dry_run=true", "matrix=table1", "sweep_id=test"]
    cfg, _ = cell(*overrides, tmp_path=tmp_path)
    c = plan_cell(cfg, overrides, parent_run_id="abc")
    train, evaluate = c.commands
    assert train[1:3] == ["-m", "dyco_repro.train"] and "resume=auto" in train
    assert evaluate[1:3] == ["-m", "dyco_repro.evaluate"] and f"checkpoint={c.run_dir / 'final'}" in evaluate
    for command in c.commands:
        assert "mlflow.parent_run_id=abc" in command and f"mlflow.cell_hash={c.cell_hash}" in command
        assert not any(a.startswith(("dry_run", "matrix", "sweep_id")) for a in command)
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
            "matrix=table1",
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
        (["-m", "matrix=tabel1"], "unknown matrix 'tabel1'"),
        (["-m", "+matrix=table1"], "write matrix=table1"),
        (["-m", "+sweep=table1"], "write matrix=table1"),
        (["-m", "launcher=k8s"], "unknown launcher 'k8s'"),
        (["-m", "train.max_stepz=3"], "train.max_stepz"),
        (["-m", "algo"], "not key=value"),
        (
            ["-m", "algo=grpo", "output_root=/etc/hostname"],
            "/etc/hostname is a file, not a directory; set output_root=",
        ),
    ],
)
def test_preflight_refuses_bad_command_lines_in_one_line(argv, message):
    with pytest.raises(PreflightError, match=message) as err:
        preflight(argv)
    assert "\n" not in str(err.value)


def test_split_values_keeps_brackets_whole():
    assert split_values("grpo,dapo") == ["grpo", "dapo"]
    assert split_values("[a,b],[c]") == ["[a,b]", "[c]"]


def test_a_step_runs_in_process_from_the_config_its_command_line_composes(tmp_path):
    from dyco_repro.cli import compose

    overrides = ["algo=grpo", "method=dyco", "profile=tiny", "matrix=table1", "sweep_id=test", "force=true"]
    cfg, _ = cell(*overrides, tmp_path=tmp_path)
    c = plan_cell(cfg, overrides, parent_run_id="abc")
    for step, command in zip(c.steps, c.commands, strict=True):
        assert command[command.index(step.entry_point) + 1 :] == step.overrides  # one override list
    train, evaluate = (compose(step.overrides) for step in c.steps)
    assert train.run_dir == str(c.run_dir) and train.resume == "never" and train.mlflow.parent_run_id == "abc"
    assert train.mlflow.cell_hash == c.cell_hash and train.checkpoint is None
    assert evaluate.checkpoint == str(c.run_dir / "final") and evaluate.eval.output_dir == str(c.run_dir / "eval")
    assert evaluate.force is True


def test_validating_a_tiny_cell_builds_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("DYCO_REPRO_CACHE", str(tmp_path / "cache"))
    for method in ("dyco", "zero_shot"):
        cfg, _ = cell("algo=grpo", f"method={method}", "profile=tiny", tmp_path=tmp_path / "out")
        assert validate_cell(cfg) == []
    assert not (tmp_path / "cache").exists() and not (tmp_path / "out").exists()


def test_a_named_matrix_is_a_config_group_that_defaults_to_none():
    cfg, _ = cell("profile=tiny")
    assert "matrix" not in cfg  # package _global_: it only sets the sweeper's axes
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        from hydra import compose

        plain = compose("sweep", overrides=["sweep_id=x"], return_hydra_config=True)
        table1 = compose("sweep", overrides=["sweep_id=x", "matrix=table1"], return_hydra_config=True)
    assert not plain.hydra.sweeper.params
    assert table1.hydra.sweeper.params == {
        "algo": "grpo,dapo,sapo,gspo",
        "model": "qwen2_5_vl_3b,qwen2_5_vl_7b",
        "method": "baseline,dyco,zero_shot",
        "seed": "0",  # one seed, as the paper; seed=0,1,2 on the command line replaces it
    }


def test_cells_start_in_turn_by_model():
    """The first cells to start use different models, so each tiny warm start builds beside the other."""
    from types import SimpleNamespace

    from dyco_repro.sweep.launcher import interleave_models

    def planned(model, name):
        return SimpleNamespace(cfg=SimpleNamespace(model=SimpleNamespace(name=model)), name=name)

    names = ["a3", "b3", "z3", "a7", "b7", "z7", "c3"]
    cells = [(i, planned(f"m{n[-1]}", n)) for i, n in enumerate(names)]
    order = [p.name for _, p in interleave_models(cells)]
    assert order == ["a3", "a7", "b3", "b7", "z3", "z7", "c3"]
    assert sorted(i for i, _ in interleave_models(cells)) == list(range(len(names)))  # job indices kept
    assert interleave_models([]) == []


def test_next_cell_waits_for_a_models_setup_only_when_other_work_exists():
    """A model's second cell does not start while its first (which builds the warm start) runs, if another
    model's cell can; once a cell of the model has ended it starts in queue order."""
    from dyco_repro.sweep.launcher import next_cell

    queue = ["7b", "3b", "7b", "3b"]
    assert next_cell(queue, busy={"7b"}, ready=set()) == 1  # 7B still building: start the 3B cell
    assert next_cell(queue, busy={"7b"}, ready={"3b"}) == 1
    assert next_cell(queue, busy={"7b"}, ready={"7b"}) == 0  # 7B's setup is done
    assert next_cell(queue, busy=set(), ready=set()) == 0
    assert next_cell(["7b", "7b"], busy={"7b"}, ready=set()) == 0  # nothing else to run: the head waits
    assert next_cell(["3b", "7b"], busy={"3b", "7b"}, ready=set()) == 0
