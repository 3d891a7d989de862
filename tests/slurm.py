"""Helpers for tests that need the local one-node SLURM cluster (scripts/slurm/up.sh).

Locally a test that needs SLURM is skipped when it is not running (starting it needs root). In CI
(env CI set) it must never be skipped: the cluster is started once if needed, and a cluster that
still does not come up fails the test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
UP_SCRIPT = REPO / "scripts" / "slurm" / "up.sh"
PARTITION = "debug"
# A node that takes jobs; "allocated" is a node busy with other jobs, still up.
_USABLE_STATES = {"idle", "mixed", "allocated", "completing"}
_tried_up: str | None = None  # the outcome of the one attempt at up.sh in this process
# With slurm.conf present but no slurmctld, sinfo retries for ~10 s: ask once per process, then
# skip the other tests at once.
_known_down = False


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "false", "0")


def slurm_available() -> bool:
    """sinfo answers and the `debug` partition has a node that takes jobs."""
    if shutil.which("sinfo") is None:
        return False
    try:
        out = subprocess.run(["sinfo", "-h", "-p", PARTITION, "-o", "%T"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and any(s.strip() in _USABLE_STATES for s in out.stdout.split())


def require_slurm() -> None:
    """Return if SLURM is up; in CI start it (once) or fail; elsewhere skip the test."""
    global _tried_up, _known_down
    if not _known_down and slurm_available():
        return None
    _known_down = True
    if not _in_ci():
        pytest.skip("SLURM is not running here: run `make slurm-up` (needs root)")
    if _tried_up is None:
        try:
            r = subprocess.run(["bash", str(UP_SCRIPT)], capture_output=True, text=True, timeout=600)
            _tried_up = (r.stdout + r.stderr).strip()[-2000:] or f"exit {r.returncode}"
        except subprocess.TimeoutExpired:
            _tried_up = "scripts/slurm/up.sh timed out"
        if slurm_available():
            _known_down = False
            return None
    pytest.fail(f"SLURM is not up in CI after scripts/slurm/up.sh:\n{_tried_up}")
