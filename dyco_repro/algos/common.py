"""What every trainer family shares: the TRL config from the run's config, MLflow logging."""

from __future__ import annotations

import dataclasses
import typing
from contextlib import nullcontext
from pathlib import Path
from typing import Any
from unittest import mock

import mlflow
from transformers import TrainerCallback

from ..cli import KINDS, is_kind

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
    for name, value in fields.items():
        kind, optional = _field_kind(config_cls, name)
        if kind is not None and not (value is None and optional) and not is_kind(value, kind):
            raise TRLConfigError(
                f"{name}={'null' if value is None else value}: {config_cls.__name__}.{name} takes {KINDS[kind]} "
                f"(algo={algo}); fix it on the "
                "command line, in the profile's `train:` block or in algo.trl"
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


def _field_kind(config_cls: type, name: str) -> tuple[type | None, bool]:
    """(bool, int or float when the config class annotates field `name` as one of them, else None; whether
    the annotation allows None)."""
    try:
        hint = typing.get_type_hints(config_cls).get(name)
    except Exception:  # noqa: BLE001 - an annotation that does not resolve: leave the value to the class
        return None, True
    args = set(typing.get_args(hint))
    kinds = args - {type(None)} if args else {hint}
    kind = next(iter(kinds)) if len(kinds) == 1 and kinds <= {bool, int, float} else None
    return kind, type(None) in args


class ResumeWeights:
    """Trainer mixin: resuming from a checkpoint loads its weights through `from_pretrained`.

    The Trainer's own `_load_from_checkpoint` (transformers 5.x) reads the file's tensors straight into
    `load_state_dict(strict=False)`, but `save_pretrained` writes Qwen2.5-VL under its original key names
    (`model.layers.*`, `visual.*`) while the module is `model.language_model.*`, `model.visual.*`: all but
    `lm_head` were silently skipped, and a resumed run went on from its starting weights with its step count.
    `from_pretrained` maps the names; tensors the class does not know (PPO's `v_head`) are taken as saved,
    and every parameter of the model must be found (strict). DeepSpeed and FSDP resume through their own
    checkpoints and keep the Trainer's path."""

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: Any = None) -> None:
        from safetensors import safe_open

        model = self.model if model is None else model
        files = sorted(Path(resume_from_checkpoint).glob("*.safetensors"))
        if self.is_deepspeed_enabled or self.is_fsdp_enabled or not files:
            return super()._load_from_checkpoint(resume_from_checkpoint, model)
        own = model.state_dict()
        loaded = type(model).from_pretrained(resume_from_checkpoint, dtype=next(model.parameters()).dtype)
        state = {k: v for k, v in loaded.state_dict().items() if k in own}
        for path in files:
            with safe_open(str(path), framework="pt") as f:
                state |= {k: f.get_tensor(k) for k in f.keys() if k in own and k not in state}
        model.load_state_dict(state, strict=True)
        return None


class MlflowMetrics(TrainerCallback):
    """The trainer's numeric logs as MLflow metrics, on the main process."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs or mlflow.active_run() is None:
            return
        numeric = {k: float(v) for k, v in logs.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        if numeric:
            mlflow.log_metrics(numeric, step=state.global_step)
