"""python -m dyco_repro.train algo=grpo model=qwen2_5_vl_3b method=dyco data=thinklite [profile=tiny] [dry_run=true]

One training run: validate everything, then train -> checkpoint -> final HF model, tracked in
MLflow. `resume=auto` (default) continues the run directory's last checkpoint. Bad input stops
with one line and exit code 2 before anything is written. `dry_run=true` prints
`{"trainer": <TRL class>, "args": <every field of its config>, "dyco": <every DyCoConfig field>}` as
one JSON line and exits, without loading (or needing) weights or data.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from .atomic import write_text_atomic
from .cli import (
    ConfigError,
    check_output_dir,
    check_setting,
    model_dir_problem,
    one_line_errors,
    resolve_model_dir,
    run_main,
)
from .dyco import DyCoConfig
from .records import ZERO_SHOT


@dataclass
class RunPlan:
    cfg: dict[str, Any]  # resolved config
    args: Any  # the trainer family's TRL config (GRPOConfig, RLOOConfig, PPOConfig)
    model_path: Path | None  # None only when planned with build=False and the tiny world is not built, or dry_run
    data_path: Path | None  # likewise
    image_root: Path | None
    dyco: DyCoConfig
    run_dir: Path


def plan_run(cfg: DictConfig, build: bool = True) -> RunPlan:
    """Resolve paths and check every setting; raises ConfigError. Writes nothing but, once every check
    passed and only when `build`, the tiny world's cached model and data the config names. With
    `dry_run=true` the model and data are neither checked nor built (nothing is loaded)."""
    from .data import check_settings, get_reward_functions

    _check_values(cfg)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    if cfg.method.name == ZERO_SHOT:
        raise ConfigError(
            "method=zero_shot trains nothing; evaluate the base model: python -m dyco_repro.evaluate checkpoint=base"
        )
    if cfg.resume not in ("auto", "never"):
        raise ConfigError(f"resume={cfg.resume} is not valid; use resume=auto or resume=never")
    if not isinstance(cfg.model.freeze_vision, bool):
        raise ConfigError(f"model.freeze_vision={cfg.model.freeze_vision}: use model.freeze_vision=true or false")
    names = [f.name for f in dataclasses.fields(DyCoConfig)]
    if unknown := sorted(set(resolved["dyco"]) - set(names)):
        raise ConfigError(f"dyco.{unknown[0]} is not a DyCo setting; use one of dyco.{', dyco.'.join(names)}")
    try:
        dyco = DyCoConfig(**resolved["dyco"])
        get_reward_functions(list(cfg.rewards))
        check_settings(cfg.data.on_error, cfg.data.limit)
    except (TypeError, ValueError) as err:
        raise ConfigError(str(err).splitlines()[0]) from err
    _check_sizes(cfg.train, dyco)
    if not cfg.dry_run:
        _check_run_dir(resolved, Path(cfg.run_dir))
    # The hardware is checked only where the run will train: a dry run, or a sweep planning on a login
    # node without the cell's GPUs (build=False), builds the config as the target machine would.
    args = trl_args(resolved, check_device=build and not cfg.dry_run)
    if not cfg.dry_run:
        resolve_model_dir(cfg, build=False)  # every check first: nothing is built for a config that fails one
        _data_path(cfg, build=False)
    return RunPlan(
        cfg=resolved,
        args=args,
        model_path=None if cfg.dry_run else resolve_model_dir(cfg, build=build),
        data_path=None if cfg.dry_run else _data_path(cfg, build=build),
        image_root=Path(cfg.data.image_root) if cfg.data.image_root else None,
        dyco=dyco,
        run_dir=Path(cfg.run_dir),
    )


def trainer_family(cfg: dict[str, Any]):
    """(trainer class, TRL config class) of the run's `algo.trainer`."""
    from .algos import FAMILIES

    algo = cfg["algo"]
    if algo["trainer"] not in FAMILIES:
        raise ConfigError(f"algo={algo['name']} uses trainer family {algo['trainer']!r}, not one of {sorted(FAMILIES)}")
    return FAMILIES[algo["trainer"]]


def trl_args(cfg: dict[str, Any], check_device: bool = True):
    """The TRL config the trainer gets: the profile's `train` block and `algo.trl`, as is (algos.common)."""
    from .algos.common import TRLConfigError, trl_config, trl_fields

    _, config_cls = trainer_family(cfg)
    fields = trl_fields(cfg, str(Path(cfg["run_dir"]) / "checkpoints"))
    try:
        return trl_config(config_cls, fields, cfg["algo"]["name"], check_device=check_device)
    except TRLConfigError as err:
        raise ConfigError(str(err)) from err


def dry_run_record(plan: RunPlan) -> dict[str, Any]:
    """What `dry_run=true` prints: the TRL trainer class, every field of its config, every DyCo field."""
    trainer_cls, _ = trainer_family(plan.cfg)
    trl_base = next(c for c in trainer_cls.__mro__ if c.__module__.startswith("trl."))
    return {"trainer": trl_base.__name__, "args": plan.args.to_dict(), "dyco": dataclasses.asdict(plan.dyco)}


def _check_values(cfg: DictConfig) -> None:
    """Each setting the run computes with has its type and range (command-line values arrive untyped);
    every other `train.*` field is typed by its TRL config class when that is built (`algos.common`)."""
    check_setting(cfg, "dry_run", bool)
    check_setting(cfg, "seed", int, minimum=0)
    for key in ("per_device_train_batch_size", "gradient_accumulation_steps", "num_generations"):
        check_setting(cfg, f"train.{key}", int, minimum=1)
    check_setting(cfg, "train.max_completion_length", int, minimum=1)
    check_setting(cfg, "train.max_steps", int, minimum=-1)
    if cfg.train.max_steps == 0:
        raise ConfigError("train.max_steps=0: set a number of steps >= 1 (or -1: train.num_train_epochs decides)")
    check_setting(cfg, "train.learning_rate", float)
    if not cfg.train.learning_rate >= 0:  # 0 is allowed: the step-cost benchmark trains without moving weights
        raise ConfigError(f"train.learning_rate={cfg.train.learning_rate}: set a learning rate >= 0")
    if cfg.data.path is None:
        check_setting(cfg, "data.synthetic_n", int, minimum=1, none_ok=True)


def _check_sizes(train: DictConfig, dyco: DyCoConfig) -> None:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    batch = train.per_device_train_batch_size * train.gradient_accumulation_steps * world
    if train.num_generations < 2:
        raise ConfigError(f"train.num_generations={train.num_generations}: group-relative advantages need at least 2")
    if train.per_device_train_batch_size < 1 or train.gradient_accumulation_steps < 1:
        raise ConfigError("train.per_device_train_batch_size and train.gradient_accumulation_steps must be >= 1")
    if batch % train.num_generations:
        raise ConfigError(
            f"train.num_generations={train.num_generations} must divide the global batch {batch} "
            f"(per_device_train_batch_size {train.per_device_train_batch_size} x gradient_accumulation_steps "
            f"{train.gradient_accumulation_steps} x {world} processes); change one of them"
        )
    if dyco.alpha != 0 and train.per_device_train_batch_size % train.num_generations:
        raise ConfigError(
            f"DyCo z-scores within prompt groups: train.per_device_train_batch_size "
            f"({train.per_device_train_batch_size}) must be a multiple of train.num_generations "
            f"({train.num_generations}) so that a loss micro-batch holds whole groups"
        )


def _check_run_dir(resolved: dict[str, Any], run_dir: Path) -> None:
    """Refuse to resume a run directory that holds a run of another config (its `config.json`): resuming
    would mix two configs in one run. Only `train.max_steps` may differ (a run extended further resumes);
    `resume=never` starts that directory over."""
    check_output_dir("output_root", resolved["output_root"])
    check_output_dir("run_dir", run_dir)
    if resolved["resume"] != "auto":
        return
    previous = previous_config(run_dir)
    if previous is not None and _resumable_hash(previous) != _resumable_hash(resolved):
        raise ConfigError(
            f"{run_dir} holds a run of another config (config.json there differs from this one in more than "
            "train.max_steps); set output_root= for a new run, or resume=never (a sweep: force=true) to start it over"
        )


def _resumable_hash(resolved: dict[str, Any]) -> str:
    """The config's identity (`tracking.config_hash`) less `train.max_steps`, which a resumed run may raise."""
    from .tracking import config_hash

    train = {k: v for k, v in (resolved.get("train") or {}).items() if k != "max_steps"}
    return config_hash({**resolved, "train": train})


def previous_config(run_dir: Path) -> dict[str, Any] | None:
    """The resolved config a run directory was trained with (its `config.json`), or None."""
    try:
        found = json.loads((run_dir / "config.json").read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def finished_final(plan: RunPlan) -> Path | None:
    """The final model of this very run when it has already finished (`done.json` written after `final/`,
    same config), so that running the command again retrains nothing; None otherwise."""
    final = plan.run_dir / "final"
    done, previous = plan.run_dir / "done.json", previous_config(plan.run_dir)
    if plan.cfg["resume"] != "auto" or not done.is_file() or previous is None or model_dir_problem(final):
        return None
    from .tracking import config_hash

    return final if config_hash(previous) == config_hash(plan.cfg) else None


def _data_path(cfg: DictConfig, build: bool) -> Path | None:
    if cfg.data.path is None and cfg.data.synthetic_n:
        if not build:
            return None
        from .tiny import write_dataset
        from .tiny.model import cache_dir

        return write_dataset(cache_dir() / f"synthetic_n{cfg.data.synthetic_n}", cfg.data.synthetic_n) / "train.jsonl"
    path = Path(str(cfg.data.path))
    if not path.is_file():
        raise ConfigError(f"data {cfg.data.name}: no file at {path}; set data.path=/path/to/train.jsonl")
    return path


def build_trainer(plan: RunPlan, data, callbacks=()):
    """The configured TRL trainer (DyCo switched by plan.dyco) and its processor."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from .data import get_reward_functions

    cfg = plan.cfg
    train = cfg["train"]
    processor = AutoProcessor.from_pretrained(
        plan.model_path, min_pixels=train["min_pixels"], max_pixels=train["max_pixels"], padding_side="left"
    )
    model = AutoModelForImageTextToText.from_pretrained(
        plan.model_path, dtype=cfg["model"]["dtype"], attn_implementation=cfg["model"]["attn_implementation"]
    )
    if cfg["model"]["freeze_vision"]:
        model.model.visual.requires_grad_(False)  # Qwen2.5-VL's vision tower and merger
    trainer_cls, _ = trainer_family(cfg)
    trainer = trainer_cls(
        model=model,
        reward_funcs=get_reward_functions(cfg["rewards"]),
        args=plan.args,
        train_dataset=data.dataset,
        processing_class=processor,
        callbacks=list(callbacks),
        dyco=plan.dyco,
    )
    return trainer, processor


def load_data(plan: RunPlan):
    from .data import load_jsonl

    data_cfg = plan.cfg["data"]
    return load_jsonl(plan.data_path, plan.image_root, on_error=data_cfg["on_error"], limit=data_cfg["limit"])


def run(plan: RunPlan) -> Path:
    """Train, checkpointing as configured; returns the final model directory."""
    import mlflow

    from . import tracking
    from .algos.common import MlflowMetrics

    cfg = plan.cfg
    algo = cfg["algo"]
    finished = finished_final(plan)
    if finished is not None:
        print(f"already trained: {finished} (done.json); resume=never trains it again")
        return finished
    data = load_data(plan)
    if cfg["resume"] == "never" and int(os.environ.get("RANK", "0")) == 0:
        # start over: no checkpoint or result of an earlier run stays to be mixed in
        for stale in ("checkpoints", "final", "done.json"):
            path = plan.run_dir / stale
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    plan.run_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(plan.run_dir / "config.json", json.dumps(cfg, indent=2))
    trainer, processor = build_trainer(plan, data, callbacks=[MlflowMetrics()])
    checkpoints = plan.run_dir / "checkpoints"
    last = last_complete_checkpoint(checkpoints) if cfg["resume"] == "auto" else None

    tags = {
        "algo": algo["name"],
        "model": cfg["model"]["name"],
        "method": cfg["method"]["name"],
        "profile": cfg["profile"]["name"],
        "config_hash": tracking.config_hash(cfg),
    } | tracking.sweep_tags(cfg["mlflow"])
    main_process = trainer.accelerator.is_main_process
    tracked = tracking.start_run_or_warn(plan.run_dir, cfg, tags) if main_process else nullcontext()
    with tracked:
        if main_process and mlflow.active_run():
            mlflow.set_tag("world_size", trainer.accelerator.num_processes)
            if last:
                mlflow.set_tag("resumed_from", Path(last).name)
            if data.skipped:
                mlflow.log_metric("data/skipped_rows", data.skipped)
        if last and main_process:
            print(f"resuming from {last}")
        trainer.train(resume_from_checkpoint=last)
        final = plan.run_dir / "final"
        _save_final(trainer, processor, final)
        if main_process:
            write_text_atomic(
                plan.run_dir / "done.json", json.dumps({"final": str(final), "steps": trainer.state.global_step})
            )
    return final


def last_complete_checkpoint(checkpoints: Path) -> str | None:
    """The newest checkpoint the Trainer finished writing (trainer_state.json is its last file): a
    process killed mid-save leaves a partial checkpoint-N that must not be resumed from."""
    if not checkpoints.is_dir():
        return None
    steps = sorted(
        (int(p.name.split("-")[1]) for p in checkpoints.glob("checkpoint-*") if p.name.split("-")[1].isdigit()),
        reverse=True,
    )
    for step in steps:
        if (checkpoints / f"checkpoint-{step}" / "trainer_state.json").is_file():
            return str(checkpoints / f"checkpoint-{step}")
    return None


def _save_final(trainer, processor, final: Path) -> None:
    """The final model in HF format, atomically (written aside, renamed into place).

    Every process takes part (ZeRO-3 gathers the sharded weights); the main one writes.
    """
    accelerator = trainer.accelerator
    tmp = final.with_name(f".{final.name}.tmp")
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
    accelerator.wait_for_everyone()
    trainer.save_model(str(tmp))
    if accelerator.is_main_process:
        processor.save_pretrained(str(tmp))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    accelerator.wait_for_everyone()


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from .data import DataError

    with one_line_errors(DataError):
        plan = plan_run(cfg)
        if cfg.dry_run:
            print(json.dumps(dry_run_record(plan), default=str))
            return
        final = run(plan)
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"final model: {final}")


if __name__ == "__main__":
    run_main(main)
