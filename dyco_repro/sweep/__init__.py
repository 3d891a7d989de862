"""Sweeps: a Hydra multirun over the config groups, one job per cell, through submitit (local or SLURM).

Named matrices are the YAML files in `sweeps/`, registered as the `sweep` config group
(`+sweep=table1`).
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

SWEEPS_DIR = Path(__file__).resolve().parents[2] / "sweeps"


def register_sweeps() -> list[str]:
    """Put sweeps/*.yaml into Hydra's config store as the `sweep` group (package _global_), and our
    launchers (submitit's, plus `max_parallel`) as hydra/launcher dyco_local and dyco_slurm."""
    from dataclasses import dataclass

    from hydra.core.config_store import ConfigStore
    from hydra_plugins.hydra_submitit_launcher.config import LocalQueueConf, SlurmQueueConf

    @dataclass
    class DycoLocalConf(LocalQueueConf):
        _target_: str = "hydra_plugins.dyco_repro_launcher.LocalSweepLauncher"
        max_parallel: int = 2

    @dataclass
    class DycoSlurmConf(SlurmQueueConf):
        _target_: str = "hydra_plugins.dyco_repro_launcher.SlurmSweepLauncher"

    from .plan import sweep_identity

    OmegaConf.register_new_resolver("dyco_sweep_id", sweep_identity, replace=True)
    store = ConfigStore.instance()
    store.store(group="hydra/launcher", name="dyco_local", node=DycoLocalConf, provider="dyco_repro")
    store.store(group="hydra/launcher", name="dyco_slurm", node=DycoSlurmConf, provider="dyco_repro")
    names = []
    for path in sorted(SWEEPS_DIR.glob("*.yaml")):
        store.store(group="sweep", name=path.stem, node=OmegaConf.load(path), package="_global_")
        names.append(path.stem)
    return names
