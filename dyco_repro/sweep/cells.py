"""A sweep cell: what one job computes (its identity), what it needs (resources) and the steps it runs.

A training cell runs `dyco_repro.train` (through `accelerate launch` when its model asks for more
than one GPU) and then `dyco_repro.evaluate` on the final checkpoint (through `accelerate launch`
too, data-parallel on the same GPUs); a zero-shot cell only
evaluates the base model, so it is the same cell whatever the algorithm axis says. Each step is one
list of overrides (`Step.overrides`): the command line when the step runs as a command, and the
config composed in-process (`dyco_repro.cli.compose`) when the job runs it itself.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ..identity import identity_hash
from ..records import TRAIN, ZERO_SHOT

ACCELERATE_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "accelerate" / "zero3.yaml"
# Evaluation shards items, not the model: plain data-parallel processes, one per GPU.
EVAL_ACCELERATE_CONFIG = ACCELERATE_CONFIG.with_name("ddp.yaml")
# Overrides that steer the sweep itself (conf/sweep.yaml's keys and groups) or that every step sets
# itself: a step's own overrides never carry them from the sweep's command line.
SWEEP_ONLY = ("sweep_id", "dry_run", "launcher", "matrix", "force", "run_dir", "run_name", "output_root")


@dataclass
class Step:
    entry_point: str  # "dyco_repro.train" or "dyco_repro.evaluate"
    overrides: list[str]


@dataclass
class Cell:
    overrides: list[str]  # the job's Hydra overrides (as the launcher gives them)
    kind: str  # TRAIN or ZERO_SHOT
    cell_hash: str
    algo: str | None
    model: str
    model_label: str
    method: str
    run_dir: Path
    resources: dict[str, Any]
    steps: list[Step] = field(default_factory=list)
    seed: int | None = None  # the training seed (None: zero-shot); cells of different seeds share all else

    @property
    def name(self) -> str:
        return self.run_dir.name

    @property
    def processes(self) -> int:
        return int(self.resources.get("gpus_per_node") or 0)

    @property
    def commands(self) -> list[list[str]]:
        """The steps as command lines (multi-GPU steps through `accelerate launch`: training with ZeRO-3,
        evaluation data-parallel, one process per GPU)."""
        commands = []
        for step in self.steps:
            if self.processes > 1:
                config = ACCELERATE_CONFIG if step.entry_point == "dyco_repro.train" else EVAL_ACCELERATE_CONFIG
                launch = ["accelerate", "launch", "--config_file", str(config)]
                start = [*launch, "--num_processes", str(self.processes), "-m"]
            else:
                start = [sys.executable, "-m"]
            commands.append([*start, step.entry_point, *step.overrides])
        return commands

    def describe(self) -> str:
        from ..tracking import mask_credentials

        res = ", ".join(f"{k}={v}" for k, v in self.resources.items())
        cmds = "\n".join("    $ " + mask_credentials(shlex.join(c)) for c in self.commands)
        return f"  {self.name}  [{self.kind}, {self.cell_hash}]  {res}\n{cmds}"


def model_label(cfg: DictConfig) -> str:
    label = str(cfg.model.label)
    return f"{label} (tiny-{cfg.model.tiny})" if cfg.model.tiny and cfg.model.name.startswith("qwen") else label


def cell_overrides(overrides: list[str]) -> list[str]:
    """The job's overrides minus the sweep's own settings."""
    return [o for o in overrides if o.split("=", 1)[0].lstrip("+~") not in SWEEP_ONLY and not o.startswith("hydra.")]


def plan_cell(cfg: DictConfig, overrides: list[str], parent_run_id: str | None) -> Cell:
    """The cell of a composed job config (validated by the caller)."""
    resolved = OmegaConf.to_container(cfg, resolve=True)
    kind = ZERO_SHOT if cfg.method.name == ZERO_SHOT else TRAIN
    cell = Cell(
        overrides=list(overrides),
        kind=kind,
        cell_hash=identity_hash(resolved),
        algo=None if kind == ZERO_SHOT else cfg.algo.name,
        model=cfg.model.name,
        model_label=model_label(cfg),
        method=cfg.method.name,
        run_dir=Path(str(cfg.run_dir)).resolve(),
        resources=dict(resolved["model"].get("resources") or {}),
        seed=None if kind == ZERO_SHOT else int(cfg.seed),
    )
    cell.steps = steps(cfg, cell, parent_run_id)
    return cell


def steps(cfg: DictConfig, cell: Cell, parent_run_id: str | None) -> list[Step]:
    """Train (unless zero-shot), then evaluate: each as the overrides of its entry point."""
    sets = {
        "output_root": str(Path(str(cfg.output_root)).resolve()),
        "run_dir": str(cell.run_dir),
        "run_name": cell.run_dir.name,
        "mlflow.sweep_id": str(cfg.sweep_id),
        "mlflow.cell_hash": cell.cell_hash,
        "mlflow.tracking_uri": cfg.mlflow.tracking_uri,
        "mlflow.parent_run_id": parent_run_id,
    }
    common = [o for o in cell_overrides(cell.overrides) if o.split("=", 1)[0].lstrip("+~") not in sets]
    common += [f"{k}={v}" for k, v in sets.items() if v is not None]
    force = ["force=true"] if cfg.force else []
    evaluate = [*common, f"eval.output_dir={cell.run_dir / 'eval'}", *force]
    if cell.kind == ZERO_SHOT:
        return [Step("dyco_repro.evaluate", [*evaluate, "checkpoint=base"])]
    return [
        Step("dyco_repro.train", [*common, "resume=never" if cfg.force else "resume=auto"]),
        Step("dyco_repro.evaluate", [*evaluate, f"checkpoint={cell.run_dir / 'final'}"]),
    ]
