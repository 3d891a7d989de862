"""What a run computes, as one hash: its resolved config minus what conf/config.yaml declares is not
identity (`not_identity`: where a run is written, how it is tracked, launched or resumed).

The one list serves the run's `config_hash` (MLflow tag), a sweep cell's hash (which finished cells
are skipped, which zero-shot cells are one) and the sweep id (which command-line overrides name the
matrix). An evaluation-only cell (zero-shot) also leaves out what only training reads
(`evaluation_ignores`), so it is one cell per model whatever the algorithm axis says.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable
from typing import Any

from .records import ZERO_SHOT


def declared(entries: Iterable[str], key: str) -> bool:
    """Whether the dotted config key (or an override's key, `+`/`~` stripped) falls under one of the
    declared entries: `mlflow` covers `mlflow.tracking_uri`, `model.resources` covers
    `model.resources.cpus_per_task`."""
    key = key.lstrip("+~")
    return any(key == entry or key.startswith(f"{entry}.") for entry in entries)


def _without(tree: dict[str, Any], entries: Iterable[str]) -> dict[str, Any]:
    tree = copy.deepcopy(tree)
    for entry in entries:
        *parents, last = entry.split(".")
        node = tree
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)
    return tree


def identity(resolved: dict[str, Any]) -> dict[str, Any]:
    """The part of a resolved config that decides what the run computes.

    Raises KeyError when the config declares no `not_identity` (it is in conf/config.yaml)."""
    ignored = list(resolved["not_identity"])
    if resolved.get("method", {}).get("name") == ZERO_SHOT:
        ignored += list(resolved["evaluation_ignores"])
    return _without(resolved, ignored)


def identity_hash(resolved: dict[str, Any]) -> str:
    """12 hex digits of sha256 over `identity(resolved)` (keys sorted)."""
    text = json.dumps(identity(resolved), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def matrix_overrides(overrides: Iterable[str], not_identity: Iterable[str]) -> list[str]:
    """The command-line overrides that name what a sweep computes, sorted: those not declared in `not_identity`."""
    return sorted(str(o) for o in overrides if not declared(not_identity, str(o).split("=", 1)[0]))
