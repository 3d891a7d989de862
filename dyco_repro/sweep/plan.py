"""The sweep's identity and the per-cell validation that runs before anything is dispatched."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable

from omegaconf import DictConfig, OmegaConf, open_dict

# Overrides that do not change which cells a sweep holds or what they compute.
NOT_MATRIX = ("sweep_id", "dry_run", "force", "launcher", "mlflow", "hydra", "resume")


class SweepError(ValueError):
    """A cell that cannot run, named with its problem in one line."""


def sweep_identity(overrides: Iterable[str] | DictConfig) -> str:
    """<sweep name>-<hash of the matrix overrides>: the same command names the same sweep."""
    if isinstance(overrides, DictConfig):  # the sweep's config: its command-line overrides
        overrides = overrides.hydra.overrides.task
    kept = sorted(str(o) for o in overrides if str(o).split("=", 1)[0].lstrip("+~").split(".")[0] not in NOT_MATRIX)
    name = next((o.split("=", 1)[1] for o in kept if o.lstrip("+").startswith("sweep=")), "sweep")
    return f"{name}-{hashlib.sha256(' '.join(kept).encode()).hexdigest()[:8]}"


def validate_cell(cfg: DictConfig) -> list[str]:
    """Everything a cell needs, checked now: its overrides resolve, its model and data paths exist,
    its batch sizes fit its processes, its benchmarks, TSVs and judge are in place. Returns the
    benchmarks it will leave not judged (no LLM judge configured)."""
    from ..evaluate import check_eval_config, resolve_checkpoint
    from ..evaluation.suite import EvalError
    from ..train import ConfigError, plan_run

    try:
        OmegaConf.to_container(cfg, resolve=True)
    except Exception as err:  # noqa: BLE001 - an interpolation that does not resolve
        raise SweepError(f"the config does not resolve: {str(err).splitlines()[0]}") from None
    resources = cfg.model.get("resources") or {}
    world = max(1, int(resources.get("gpus_per_node") or 1)) * max(1, int(resources.get("nodes") or 1))
    previous = os.environ.get("WORLD_SIZE")
    os.environ["WORLD_SIZE"] = str(world)
    try:
        if cfg.method.name == "zero-shot":
            with open_dict(cfg):
                probe = cfg.copy()
                probe.checkpoint = "base"
            resolve_checkpoint(probe)
        else:
            plan_run(cfg)
        _, _, judges = check_eval_config(cfg)
    except (ConfigError, EvalError) as err:
        raise SweepError(str(err).splitlines()[0]) from None
    finally:
        if previous is None:
            os.environ.pop("WORLD_SIZE", None)
        else:
            os.environ["WORLD_SIZE"] = previous
    return [key for key, judge in judges.items() if judge.name == "none"]
