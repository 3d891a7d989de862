"""The job of one sweep cell, as Hydra runs it inside a submitit job (local process or SLURM)."""

from __future__ import annotations

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from .cells import plan_cell
from .preflight import CONF_DIR
from .job import run_cell


@hydra.main(config_path=str(CONF_DIR), config_name="sweep", version_base="1.3")
def main(cfg: DictConfig) -> dict:
    overrides = list(HydraConfig.get().overrides.task)
    cell = plan_cell(cfg, overrides, cfg.mlflow.parent_run_id)
    return run_cell(cell, cfg.sweep_id, OmegaConf.to_container(cfg, resolve=True))
