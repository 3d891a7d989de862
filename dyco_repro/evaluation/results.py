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


# Optional entry fields (older results files lack them): whether the TSV was VLMEvalKit's official file,
# and every named sub-metric of the benchmark (evaluation/benchmarks.yaml `metrics`), 0-100.
OPTIONAL_KEYS = {"official_data": bool, "metrics": dict}


def sub_metrics(raw: Any, bench) -> dict[str, float | None]:
    """Every metric benchmarks.yaml names for `bench`, read off VLMEvalKit's raw result (records or a frame);
    None where the result lacks it (e.g. judge=rule, which returns only its own accuracy)."""
    import pandas as pd

    from .scoring import read_score
    from .suite import EvalError

    if raw is None:
        return {}
    frame = pd.DataFrame(raw) if isinstance(raw, list) else raw
    found: dict[str, float | None] = {}
    for name, spec in bench.metrics.items():
        try:
            found[name] = read_score(frame, spec, bench.key)
        except (EvalError, ValueError, TypeError, KeyError):
            found[name] = None
    return found


def checkpoint_fingerprint(checkpoint: Path) -> str:
    """Changes when the weights change: names, sizes and mtimes of the checkpoint's files."""
    parts = sorted(
        f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}"
        for p in checkpoint.iterdir()
        if p.is_file() and (p.suffix in (".safetensors", ".bin") or p.name == "config.json")
    )
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def valid_entry(entry: Any) -> bool:
    return (
        isinstance(entry, dict)
        and all(isinstance(entry.get(k), t) for k, t in ENTRY_KEYS.items())
        and all(isinstance(entry[k], t) for k, t in OPTIONAL_KEYS.items() if k in entry)
    )


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
