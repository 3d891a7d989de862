"""What every trainer family shares: the profile's `train` block as trainer arguments."""

from __future__ import annotations

from typing import Any

import mlflow
from transformers import TrainerCallback

# The profile's `train` keys that are TrainingArguments fields by the same name (the pixel bounds
# go to the processor instead).
TRAINER_KEYS = (
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "num_generations",
    "max_completion_length",
    "temperature",
    "learning_rate",
    "num_train_epochs",
    "max_steps",
    "bf16",
    "gradient_checkpointing",
    "logging_steps",
    "save_steps",
    "save_total_limit",
    "use_cpu",
)


def trainer_kwargs(train: dict[str, Any], output_dir: str, seed: int, run_name: str) -> dict[str, Any]:
    """Keyword arguments for a TRL config: run identity, checkpointing, the profile's sizes.

    `report_to` is empty: MLflow logging goes through `MlflowMetrics`.
    """
    return {
        "output_dir": output_dir,
        "run_name": run_name,
        "seed": seed,
        "report_to": [],
        "save_strategy": "steps",
        **{key: train[key] for key in TRAINER_KEYS},
    }


class MlflowMetrics(TrainerCallback):
    """The trainer's numeric logs as MLflow metrics, on the main process."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs or mlflow.active_run() is None:
            return
        numeric = {k: float(v) for k, v in logs.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        if numeric:
            mlflow.log_metrics(numeric, step=state.global_step)
