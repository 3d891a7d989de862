"""The job of one sweep cell, as Hydra runs it inside a submitit job (local process or SLURM)."""

from __future__ import annotations

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from ..cli import CONF_DIR
from ..records import Store
from .cells import plan_cell
from .job import CellOutcome, run_cell


@hydra.main(config_path=str(CONF_DIR), config_name="sweep", version_base="1.3")
def main(cfg: DictConfig) -> CellOutcome:
    overrides = list(HydraConfig.get().overrides.task)
    parent = cfg.mlflow.parent_run_id
    cell = plan_cell(cfg, overrides, parent)
    return run_cell(cell, Store.of(OmegaConf.to_container(cfg, resolve=True)), str(cfg.sweep_id), parent)
