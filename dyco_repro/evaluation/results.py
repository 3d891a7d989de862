"""One results JSON per checkpoint, written atomically; a damaged one is detected, never used."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from ..atomic import write_text_atomic

SCHEMA = 1
RESULTS_FILE = "results.json"
ENTRY_KEYS = {
    "benchmark": str,
    "dataset": str,
    "group": str,
    "score": (float, int, type(None)),
    "judge": str,
    "official": bool,
    "n": int,
    "seconds": (float, int),
    "samples_per_s": (float, int, type(None)),
    "generation": dict,
    "identity": dict,
}


def checkpoint_fingerprint(checkpoint: Path) -> str:
    """Changes when the weights change: names, sizes and mtimes of the checkpoint's files."""
    parts = sorted(
        f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}"
        for p in checkpoint.iterdir()
        if p.is_file() and (p.suffix in (".safetensors", ".bin") or p.name == "config.json")
    )
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def valid_entry(entry: Any) -> bool:
    return isinstance(entry, dict) and all(isinstance(entry.get(k), t) for k, t in ENTRY_KEYS.items())


def load_results(path: Path) -> dict[str, Any] | None:
    """The results file, or None when absent; a corrupted or partial file is reported and ignored."""
    if not path.exists():
        return None
    try:
        results = json.loads(path.read_text())
        ok = (
            isinstance(results, dict)
            and results.get("schema") == SCHEMA
            and isinstance(results.get("benchmarks"), dict)
            and all(valid_entry(e) for e in results["benchmarks"].values())
        )
    except (OSError, ValueError):
        ok = False
    if not ok:
        print(f"warning: {path} is damaged or incomplete; its results are recomputed", file=sys.stderr)
        return None
    return results


def save_results(path: Path, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(results, indent=2, sort_keys=False))
