"""What every trainer family shares: the profile's `train` block as trainer arguments."""

from __future__ import annotations

from typing import Any

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

    `report_to` is empty: MLflow logging goes through `tracking.MlflowMetrics`.
    """
    return {
        "output_dir": output_dir,
        "run_name": run_name,
        "seed": seed,
        "report_to": [],
        "save_strategy": "steps",
        **{key: train[key] for key in TRAINER_KEYS},
    }
