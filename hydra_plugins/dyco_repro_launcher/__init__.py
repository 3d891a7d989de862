"""Hydra accepts launchers only from the `hydra_plugins` namespace: the sweep launchers are declared
here; what they do lives in dyco_repro.sweep.launcher."""

from hydra_plugins.hydra_submitit_launcher.submitit_launcher import LocalLauncher, SlurmLauncher

from dyco_repro.sweep.launcher import SweepLauncherMixin


class LocalSweepLauncher(SweepLauncherMixin, LocalLauncher):
    """Cells as local processes (submitit), at most max_parallel at a time."""


class SlurmSweepLauncher(SweepLauncherMixin, SlurmLauncher):
    """Cells as SLURM jobs (submitit), each with its model's resources."""
