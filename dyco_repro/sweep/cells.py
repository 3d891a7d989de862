"""A sweep cell: what one job computes (its identity), what it needs (resources) and the commands it runs.

A training cell runs `dyco_repro.train` (through `accelerate launch` when its model asks for more
than one GPU) and then `dyco_repro.evaluate` on the final checkpoint (through `accelerate launch`
too, data-parallel on the same GPUs); a zero-shot cell only evaluates the base model, so it is the
same cell whatever the algorithm axis says.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

ZERO_SHOT = "zero-shot"
ACCELERATE_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "accelerate" / "zero3.yaml"
# Evaluation shards items, not the model: plain data-parallel processes, one per GPU.
EVAL_ACCELERATE_CONFIG = ACCELERATE_CONFIG.with_name("ddp.yaml")
# Overrides that steer the sweep itself; a cell's own commands never see them.
SWEEP_ONLY = ("sweep_id", "dry_run", "launcher", "sweep", "+sweep", "force", "run_dir", "run_name", "output_root")


@dataclass
class Cell:
    overrides: list[str]  # the job's Hydra overrides (as the launcher gives them)
    kind: str  # "train" or "zero-shot"
    cell_hash: str
    algo: str | None
    model: str
    model_label: str
    method: str
    run_dir: Path
    resources: dict[str, Any]
    commands: list[list[str]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.run_dir.name

    def describe(self) -> str:
        res = ", ".join(f"{k}={v}" for k, v in self.resources.items())
        cmds = "\n".join("    $ " + shlex.join(c) for c in self.commands)
        return f"  {self.name}  [{self.kind}, {self.cell_hash}]  {res}\n{cmds}"


def cell_identity(resolved: dict[str, Any]) -> dict[str, Any]:
    """What a cell computes. Zero-shot: the base model and the evaluation only."""
    from ..tracking import NOT_IDENTITY  # here, not at import: Hydra imports this module scanning plugins

    if resolved["method"]["name"] == ZERO_SHOT:
        keys = ("model", "eval", "benchmarks", "judge", "method", "profile")
        return {k: resolved[k] for k in keys}
    return {k: v for k, v in resolved.items() if k not in NOT_IDENTITY and k not in ("checkpoint", "force")}


def identity_hash(identity: dict[str, Any]) -> str:
    model = dict(identity.get("model", {}))
    model.pop("resources", None)  # where a cell runs is not what it computes
    identity = identity | {"model": model}
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:12]


def model_label(cfg: DictConfig) -> str:
    label = str(cfg.model.label)
    return f"{label} (tiny-{cfg.model.tiny})" if cfg.model.tiny and cfg.model.name.startswith("qwen") else label


def cell_overrides(overrides: list[str]) -> list[str]:
    """The job's overrides minus the sweep's own settings."""
    return [o for o in overrides if o.split("=", 1)[0].lstrip("+~") not in SWEEP_ONLY and not o.startswith("hydra.")]


def plan_cell(cfg: DictConfig, overrides: list[str], parent_run_id: str | None) -> Cell:
    """The cell of a composed job config (validated by the caller)."""
    resolved = OmegaConf.to_container(cfg, resolve=True)
    kind = ZERO_SHOT if cfg.method.name == ZERO_SHOT else "train"
    cell_hash = identity_hash(cell_identity(resolved))
    run_dir = Path(str(cfg.run_dir)).resolve()
    resources = dict(resolved["model"].get("resources") or {})
    cell = Cell(
        overrides=list(overrides),
        kind=kind,
        cell_hash=cell_hash,
        algo=None if kind == ZERO_SHOT else cfg.algo.name,
        model=cfg.model.name,
        model_label=model_label(cfg),
        method=cfg.method.name,
        run_dir=run_dir,
        resources=resources,
    )
    cell.commands = commands(cfg, cell, parent_run_id)
    return cell


def commands(cfg: DictConfig, cell: Cell, parent_run_id: str | None) -> list[list[str]]:
    common = [
        *cell_overrides(cell.overrides),
        f"output_root={Path(str(cfg.output_root)).resolve()}",
        f"run_dir={cell.run_dir}",
        f"run_name={cell.run_dir.name}",
        f"mlflow.sweep_id={cfg.sweep_id}",
        f"mlflow.cell_hash={cell.cell_hash}",
    ]
    if cfg.mlflow.tracking_uri:
        common.append(f"mlflow.tracking_uri={cfg.mlflow.tracking_uri}")
    if parent_run_id:
        common.append(f"mlflow.parent_run_id={parent_run_id}")
    force = ["force=true"] if cfg.force else []
    gpus = int(cell.resources.get("gpus_per_node") or 0)
    evaluate = [
        *(_launch(EVAL_ACCELERATE_CONFIG, gpus) if gpus > 1 else [sys.executable]),
        "-m",
        "dyco_repro.evaluate",
        *common,
        f"eval.output_dir={cell.run_dir / 'eval'}",
        *force,
    ]
    if cell.kind == ZERO_SHOT:
        return [[*evaluate, "checkpoint=base"]]
    if gpus > 1:
        train = [*_launch(ACCELERATE_CONFIG, gpus), "-m", "dyco_repro.train"]
    else:
        train = [sys.executable, "-m", "dyco_repro.train"]
    train += [*common, "resume=never" if cfg.force else "resume=auto"]
    return [train, [*evaluate, f"checkpoint={cell.run_dir / 'final'}"]]


def _launch(config: Path, gpus: int) -> list[str]:
    return ["accelerate", "launch", "--config_file", str(config), "--num_processes", str(gpus)]
