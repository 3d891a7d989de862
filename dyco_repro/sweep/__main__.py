"""python -m dyco_repro.sweep -m algo=grpo,dapo model=... method=baseline,dyco [+sweep=table1] [profile=tiny]
[launcher=slurm] [dry_run=true] [force=true]

Every override is checked before Hydra starts, so a typo costs one line, not a traceback.
"""

from __future__ import annotations

import sys

from . import register_sweeps
from .preflight import PreflightError, preflight

if __name__ == "__main__":
    names = register_sweeps()
    try:
        preflight(sys.argv[1:], names)
    except PreflightError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    from .task import main

    main()
