"""python -m dyco_repro.sweep -m algo=grpo,dapo model=... method=baseline,dyco [matrix=table1] [profile=tiny]
[launcher=slurm] [dry_run=true] [force=true]

Every override is checked before Hydra starts, so a typo costs one line, not a traceback.
"""

from __future__ import annotations

import sys

from ..cli import one_line_errors
from . import register
from .preflight import PreflightError, preflight

if __name__ == "__main__":
    register()
    with one_line_errors(PreflightError):
        preflight(sys.argv[1:])
    from .task import main

    main()
