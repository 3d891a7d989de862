"""python -m dyco_repro.train: the GRPO family x baseline/DyCo on the tiny world, MLflow, resume,
bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import mlflow
import pytest
from run_helpers import logged_runs as runs
from run_helpers import tiny_config as config

from dyco_repro.train import ConfigError, plan_run, run


@pytest.mark.parametrize(
    "overrides,message",
    [
        (["train.num_generations=3"], "must divide the global batch"),
        (["train.num_generations=1"], "at least 2"),
        (["data.path=/nonexistent/train.jsonl"], "set data.path="),
        (["model.tiny=null"], "set model.path="),
        (["dyco.variant=tokens"], "dyco.variant"),
        (["dyco.alpha=-1"], "alpha"),
        (["rewards=[accuracy,speed]"], "unknown reward"),
        (["resume=maybe"], "resume=auto"),
        (["model.freeze_vision=maybe"], "model.freeze_vision=true or false"),
        (["model.freeze_vision=1"], "model.freeze_vision=true or false"),
        # command-line values arrive untyped: each used to fail later, with a traceback and a half-written run
        (["train.max_steps=ten"], "train.max_steps=ten: use train.max_steps=<a whole number>"),
        (["train.max_steps=0"], "train.max_steps=0: set a number of steps >= 1"),
        (["train.learning_rate=-1"], "train.learning_rate=-1: set a learning rate >= 0"),
        (["seed=abc"], "seed=abc: use seed=<a whole number>"),
        (["dry_run=no"], "dry_run=no: use dry_run=<true or false>"),  # bool("no") is True
        (["train.num_generations=four"], "train.num_generations=four: use"),
        (["data.synthetic_n=-5"], "data.synthetic_n=-5: must be at least 1"),
        (["data.synthetic_n=abc"], "data.synthetic_n=abc: use"),
        (["train.save_steps=abc"], "save_steps=abc: GRPOConfig.save_steps takes a number"),
        (["train.bf16=maybe"], "bf16=maybe: GRPOConfig.bf16 takes true or false"),
        (["algo.trl.beta=x"], "beta=x: GRPOConfig.beta takes a number"),
        (["train.temperature=null"], "temperature=null: GRPOConfig.temperature takes a number"),  # not Optional
    ],
)
def test_bad_settings_fail_before_anything_is_written(tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        plan_run(config(tmp_path / "out", *overrides))
    assert not (tmp_path / "out").exists()


def test_model_without_weights_is_refused(tmp_path):
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "config.json").write_text("{}")
    with pytest.raises(ConfigError, match="no weights"):
        plan_run(config(tmp_path / "out", "model=qwen2_5_vl_3b", f"model.path={tmp_path / 'ckpt'}"))


@pytest.mark.parametrize("freeze", [True, False])
def test_freeze_vision_leaves_only_the_vision_tower_out_of_training(tmp_path, freeze):
    """profile=tiny freezes the vision tower and merger (model.freeze_vision); the language model still trains."""
    from dyco_repro.train import build_trainer, load_data

    plan = plan_run(config(tmp_path, "model.warm_start=false", f"model.freeze_vision={freeze}"))
    trainer, _ = build_trainer(plan, load_data(plan))
    params = dict(trainer.model.named_parameters())
    vision = [p.requires_grad for name, p in params.items() if ".visual." in f".{name}"]
    text = [p.requires_grad for name, p in params.items() if ".visual." not in f".{name}"]
    assert vision and text and all(text)
    assert not any(vision) if freeze else all(vision)


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["grpo", "dapo", "gspo", "sapo", "cispo"])
@pytest.mark.parametrize("method", ["baseline", "dyco"])
def test_every_grpo_family_algo_trains_and_logs(tmp_path, algo, method):
    # The random tiny model never stops within max_completion_length; masking would drop every token.
    unmask = ["algo.trl.mask_truncated_completions=false"]
    final = run(plan_run(config(tmp_path, f"algo={algo}", f"method={method}", "train.max_steps=2", *unmask)))
    assert (final / "config.json").is_file() and (final / "model.safetensors").is_file()
    assert (final / "preprocessor_config.json").is_file() or (final / "processor_config.json").is_file()
    (logged,) = runs(tmp_path)
    assert logged.data.tags["algo"] == algo and logged.data.tags["method"] == method
    assert logged.data.params["algo.trl.loss_type"] and logged.data.params["dyco.alpha"] == (
        "0.0" if method == "baseline" else "0.2"
    )
    history = mlflow.MlflowClient().get_metric_history(logged.info.run_id, "reward")
    assert [m.step for m in history] == [1, 2]
    has_dyco = "dyco/visual_frac" in logged.data.metrics
    assert has_dyco == (method == "dyco")


@pytest.mark.slow
def test_resume_continues_from_the_last_checkpoint(tmp_path):
    first = plan_run(config(tmp_path, "train.max_steps=2", "train.save_steps=2"))
    run(first)
    run_id = (first.run_dir / "mlflow_run_id").read_text()
    second = plan_run(config(tmp_path, "train.max_steps=4", "train.save_steps=2"))
    run(second)
    state = json.loads((second.run_dir / "checkpoints" / "checkpoint-4" / "trainer_state.json").read_text())
    steps = [entry["step"] for entry in state["log_history"] if "loss" in entry]
    assert steps == [1, 2, 3, 4]  # steps 1-2 carried over from the first run's checkpoint, not retrained
    (logged,) = runs(tmp_path)
    assert logged.info.run_id == run_id
    assert [m.step for m in mlflow.MlflowClient().get_metric_history(run_id, "reward")] == [1, 2, 3, 4]
    assert json.loads((second.run_dir / "done.json").read_text())["steps"] == 4


@pytest.mark.slow
@pytest.mark.parametrize(
    "override,message",
    [
        ("train.num_generations=3", "error: train.num_generations=3"),
        ("algo=ppo2", "error: unknown algo 'ppo2'; choose from"),
        ("model=qwen3", "error: unknown model 'qwen3'; choose from"),
        ("method=dyco2", "error: unknown method 'dyco2'; choose from"),
        # Hydra's answer was five to seven lines, and for a typo it advised +train.max_step=5 (silently unused)
        ("train.max_step=5", "error: train.max_step is not a setting; check its spelling"),
        ("algo", "error: 'algo' is not key=value"),
        ("+dyco.alphaa=0.1", "error: dyco.alphaa is not a DyCo setting; use one of dyco.alpha,"),
    ],
)
def test_cli_bad_input_is_one_line(tmp_path, override, message):
    cmd = [sys.executable, "-m", "dyco_repro.train", "profile=tiny", f"output_root={tmp_path / 'out'}", override]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and result.stderr.startswith(message), result.stderr
    assert not (tmp_path / "out").exists()


def test_resume_skips_a_checkpoint_cut_short_by_a_kill(tmp_path):
    from dyco_repro.train import last_complete_checkpoint

    checkpoints = tmp_path / "checkpoints"
    assert last_complete_checkpoint(checkpoints) is None
    for step, complete in ((2, True), (4, True), (6, False), (10, False)):
        (checkpoints / f"checkpoint-{step}").mkdir(parents=True)
        (checkpoints / f"checkpoint-{step}" / "model.safetensors").write_bytes(b"x")
        if complete:
            (checkpoints / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    assert last_complete_checkpoint(checkpoints) == str(checkpoints / "checkpoint-4")


@pytest.mark.slow
def test_a_finished_run_is_not_trained_again(tmp_path, capsys):
    """Running the same command again on a finished run trains nothing (it used to train one more step and
    rewrite final/); resume=never trains it again from scratch."""
    overrides = ("train.max_steps=2", "train.save_steps=1")
    first = plan_run(config(tmp_path, *overrides))
    final = run(first)
    weights = (final / "model.safetensors").stat().st_mtime_ns
    assert run(plan_run(config(tmp_path, *overrides))) == final
    assert "already trained" in capsys.readouterr().out
    assert (final / "model.safetensors").stat().st_mtime_ns == weights
    assert json.loads((first.run_dir / "done.json").read_text())["steps"] == 2
    assert sorted(p.name for p in (first.run_dir / "checkpoints").glob("checkpoint-*")) == [
        "checkpoint-1",
        "checkpoint-2",
    ]
    again = run(plan_run(config(tmp_path, *overrides, "resume=never", "train.max_steps=1")))
    assert json.loads((first.run_dir / "done.json").read_text())["steps"] == 1
    assert [p.name for p in (first.run_dir / "checkpoints").glob("checkpoint-*")] == ["checkpoint-1"] and again == final


def test_a_run_directory_of_another_config_is_not_resumed(tmp_path):
    """Same run name, other settings: refused before anything is written (resuming would mix two configs)."""
    plan = plan_run(config(tmp_path, "train.max_steps=2"))
    plan.run_dir.mkdir(parents=True)
    (plan.run_dir / "config.json").write_text(json.dumps(plan.cfg))
    plan_run(config(tmp_path, "train.max_steps=9"))  # a longer run resumes
    with pytest.raises(ConfigError, match="holds a run of another config.*resume=never"):
        plan_run(config(tmp_path, "dyco.alpha=0.5"))
    assert sorted(p.name for p in plan.run_dir.iterdir()) == ["config.json"]
    plan_run(config(tmp_path, "dyco.alpha=0.5", "resume=never"))
    (plan.run_dir / "config.json").write_text("not json")  # unreadable: nothing to compare, resumes
    plan_run(config(tmp_path, "dyco.alpha=0.5"))


def test_an_output_root_under_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a file, not a directory; set output_root="):
        plan_run(config(tmp_path / "file" / "out"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["grpo", "ppo"])
def test_resume_loads_the_checkpoints_weights(tmp_path, algo):
    """A resumed run goes on from the checkpoint's weights (the Trainer's own loading skipped every renamed
    Qwen2.5-VL tensor but lm_head, so a resume silently restarted from the warm start); PPO's value head too."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForImageTextToText

    from dyco_repro.train import build_trainer, load_data

    plan = plan_run(config(tmp_path, f"algo={algo}", "train.max_steps=2", "train.save_steps=2"))
    run(plan)
    checkpoint = plan.run_dir / "checkpoints" / "checkpoint-2"
    saved = AutoModelForImageTextToText.from_pretrained(checkpoint).state_dict()
    saved |= {k: v for k, v in load_file(checkpoint / "model.safetensors").items() if k.startswith("v_head.")}
    trainer, _ = build_trainer(plan, load_data(plan))  # a fresh trainer: the warm start's weights
    before = trainer.model.state_dict()
    changed = [k for k in before if k in saved and not torch.equal(before[k], saved[k])]
    assert any(".language_model." in k for k in changed)  # RL moved them: the check below can fail
    trainer._load_from_checkpoint(str(checkpoint))
    after = trainer.model.state_dict()
    assert all(torch.equal(after[k], saved[k]) for k in changed)
    assert (algo == "ppo") == any(k.startswith("v_head.") for k in changed)
