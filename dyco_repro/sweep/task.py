"""The job of one sweep cell, as Hydra runs it inside a submitit job (local process or SLURM)."""

from __future__ import annotations

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from .cells import plan_cell
from .job import run_cell
from .preflight import CONF_DIR


@hydra.main(config_path=str(CONF_DIR), config_name="sweep", version_base="1.3")
def main(cfg: DictConfig) -> dict:
    overrides = list(HydraConfig.get().overrides.task)
    cell = plan_cell(cfg, overrides, cfg.mlflow.parent_run_id)
    return run_cell(cell, cfg, cfg.sweep_id)
