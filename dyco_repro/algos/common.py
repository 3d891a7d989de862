"""What every trainer family shares: the TRL config from the run's config, MLflow logging."""

from __future__ import annotations

import dataclasses
from contextlib import nullcontext
from typing import Any
from unittest import mock

import mlflow
from transformers import TrainerCallback

# Keys of the profile's `train` block that are ours (the processor's pixel bounds, the prompt
# instruction), not TRL config fields. Every other key goes to the TRL config as is.
OUR_TRAIN_KEYS = ("min_pixels", "max_pixels", "instruction")


class TRLConfigError(ValueError):
    """A setting the trainer's TRL config class does not have or refuses; one line naming the fix."""


def trl_fields(cfg: dict[str, Any], output_dir: str) -> dict[str, Any]:
    """The keyword arguments of the run's TRL config, from a resolved run config.

    Run identity and checkpointing first, then the profile's `train` block (less `OUR_TRAIN_KEYS`),
    then the algorithm's `trl:` block, which wins. `report_to` is empty: MLflow logging goes through
    `MlflowMetrics`.
    """
    train = {k: v for k, v in cfg["train"].items() if k not in OUR_TRAIN_KEYS}
    base = {
        "output_dir": output_dir,
        "run_name": cfg["run_name"],
        "seed": cfg["seed"],
        "report_to": [],
        "save_strategy": "steps",
    }
    return base | train | dict(cfg["algo"].get("trl") or {})


def trl_config(config_cls: type, fields: dict[str, Any], algo: str, check_device: bool = True):
    """`config_cls(**fields)`; an unknown field or a value TRL refuses raises `TRLConfigError` (one line).

    check_device False: build the config as the target machine would (bf16 is not checked against this
    machine's hardware), for `dry_run`.
    """
    known = {f.name for f in dataclasses.fields(config_cls) if f.init}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise TRLConfigError(
            f"{unknown[0]!r} is not a field of {config_cls.__name__} (algo={algo}); fix or remove it in "
            f"conf/algo/{algo}.yaml `trl:` or the profile's `train:` block"
        )
    device = (
        nullcontext()
        if check_device
        else mock.patch("transformers.training_args.is_torch_bf16_gpu_available", lambda: True)
    )
    try:
        with device:
            return config_cls(**fields)
    except (TypeError, ValueError) as err:
        raise TRLConfigError(f"{config_cls.__name__} (algo={algo}): {str(err).strip().splitlines()[0]}") from err


class MlflowMetrics(TrainerCallback):
    """The trainer's numeric logs as MLflow metrics, on the main process."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs or mlflow.active_run() is None:
            return
        numeric = {k: float(v) for k, v in logs.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        if numeric:
            mlflow.log_metrics(numeric, step=state.global_step)
