"""The sweep's identity and the per-cell validation that runs before anything is dispatched."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable

from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

from ..identity import matrix_overrides
from ..records import ZERO_SHOT


class SweepError(ValueError):
    """A cell that cannot run, named with its problem in one line."""


def sweep_identity(overrides: Iterable[str], not_identity: Iterable[str] | ListConfig) -> str:
    """<matrix name>-<hash of the identity overrides>: the same matrix names the same sweep, however it
    is run (config.yaml's `not_identity` overrides are left out). Without `matrix=` the name is `sweep`."""
    kept = matrix_overrides(overrides, list(not_identity))
    name = next((o.split("=", 1)[1] for o in kept if o.lstrip("+").startswith("matrix=")), "sweep")
    return f"{name}-{hashlib.sha256(' '.join(kept).encode()).hexdigest()[:8]}"


def validate_cell(cfg: DictConfig) -> list[str]:
    """Everything a cell needs, checked now and without building anything: its overrides resolve, its
    model and data paths exist, its batch sizes fit its processes, its benchmarks, TSVs and judge are
    in place. Returns the benchmarks it will leave not judged (no LLM judge configured)."""
    from ..cli import ConfigError
    from ..evaluate import check_eval_config, resolve_checkpoint
    from ..evaluation.suite import EvalError
    from ..train import plan_run

    try:
        OmegaConf.to_container(cfg, resolve=True)
    except Exception as err:  # noqa: BLE001 - an interpolation that does not resolve
        raise SweepError(f"the config does not resolve: {str(err).splitlines()[0]}") from None
    resources = cfg.model.get("resources") or {}
    world = max(1, int(resources.get("gpus_per_node") or 1)) * max(1, int(resources.get("nodes") or 1))
    previous = os.environ.get("WORLD_SIZE")
    os.environ["WORLD_SIZE"] = str(world)
    try:
        if cfg.method.name == ZERO_SHOT:
            with open_dict(cfg):
                probe = cfg.copy()
                probe.checkpoint = "base"
            resolve_checkpoint(probe, build=False)
        else:
            plan_run(cfg, build=False)
        _, _, judges = check_eval_config(cfg, build=False)
    except (ConfigError, EvalError) as err:
        raise SweepError(str(err).splitlines()[0]) from None
    finally:
        if previous is None:
            os.environ.pop("WORLD_SIZE", None)
        else:
            os.environ["WORLD_SIZE"] = previous
    return [key for key, judge in judges.items() if judge.name == "none"]
