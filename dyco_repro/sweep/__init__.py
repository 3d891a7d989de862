"""Sweeps: a Hydra multirun over the config groups, one job per cell, through submitit (local or SLURM).

Named matrices are the `matrix` config group (conf/matrix/*.yaml, default null): `matrix=table1`.
"""

from __future__ import annotations

from omegaconf import OmegaConf


def register() -> None:
    """Our launchers (submitit's, plus `max_parallel`) as hydra/launcher dyco_local and dyco_slurm, and
    the `dyco_sweep_id` resolver conf/sweep.yaml names the sweep with. Call before Hydra composes."""
    from dataclasses import dataclass

    from hydra.core.config_store import ConfigStore
    from hydra_plugins.hydra_submitit_launcher.config import LocalQueueConf, SlurmQueueConf

    from .plan import sweep_identity

    @dataclass
    class DycoLocalConf(LocalQueueConf):
        _target_: str = "hydra_plugins.dyco_repro_launcher.LocalSweepLauncher"
        max_parallel: int = 2

    @dataclass
    class DycoSlurmConf(SlurmQueueConf):
        _target_: str = "hydra_plugins.dyco_repro_launcher.SlurmSweepLauncher"

    OmegaConf.register_new_resolver("dyco_sweep_id", sweep_identity, replace=True)
    store = ConfigStore.instance()
    store.store(group="hydra/launcher", name="dyco_local", node=DycoLocalConf, provider="dyco_repro")
    store.store(group="hydra/launcher", name="dyco_slurm", node=DycoSlurmConf, provider="dyco_repro")
