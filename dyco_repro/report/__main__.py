"""python -m dyco_repro.report sweep=<id> [output_root=outputs] [mlflow.tracking_uri=...] [reference=none|<csv>]
python -m dyco_repro.report power --delta 1.5 --benchmark MMBench --from <comparisons.csv or items.csv> [...]

Rebuild a sweep's Table 1 (md, tex, csv) and figures, after logging to MLflow any finished cell the
store does not have yet (a cell that finished while the store was down); the report is attached to
the sweep's run. Prints the Markdown. `power` plans a sweep's size from an earlier one's paired
statistics (see `report/power.py`). Bad arguments, or a sweep with no finished cell: one line, exit 2.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..records import Store, records_on_disk
from .build import PAPER_REFERENCE, build_sweep_report

KEYS = ("sweep", "output_root", "mlflow.tracking_uri", "mlflow.experiment", "reference")


def parse(argv: list[str]) -> dict[str, str]:
    args = {"output_root": "outputs", "mlflow.experiment": "dyco-repro", "reference": str(PAPER_REFERENCE)}
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep or key not in KEYS:
            raise ValueError(f"{arg!r} is not one of {', '.join(k + '=' for k in KEYS)}")
        args[key] = value
    return args


def main(argv: list[str]) -> int:
    if argv[:1] == ["power"]:
        from .power import main as power_main

        return power_main(argv[1:])
    try:
        args = parse(argv)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    sweeps = Path(args["output_root"]) / "sweeps"
    known = sorted(p.name for p in sweeps.iterdir() if p.is_dir()) if sweeps.is_dir() else []
    if args.get("sweep") not in known:
        listed = ", ".join(known) if known else f"none under {sweeps}"
        given = f"no sweep {args['sweep']!r}" if args.get("sweep") else "which sweep?"
        print(f"error: {given}; use sweep=<id> with one of: {listed} (or set output_root=)", file=sys.stderr)
        return 2
    reference = None if args["reference"] in ("none", "") else Path(args["reference"])
    if reference is not None and not reference.is_file():
        print(f"error: reference={reference} does not exist; give the paper CSV or reference=none", file=sys.stderr)
        return 2
    sweep_id, sweep_dir = args["sweep"], (sweeps / args["sweep"]).resolve()
    store = Store(args.get("mlflow.tracking_uri") or None, args["output_root"], args["mlflow.experiment"])
    on_disk, in_mlflow = records_on_disk(sweep_dir), store.finished_hashes(sweep_id)
    if not on_disk and not in_mlflow:  # before the sweep's MLflow run is made or a report folder written
        print(
            f"error: sweep {sweep_id} has no finished cell yet; wait for a cell to finish, or run the sweep "
            "(python -m dyco_repro.sweep -m ... with its overrides), then rerun the report",
            file=sys.stderr,
        )
        return 2
    parent = None
    if in_mlflow is not None:  # reachable: log what only the disk has
        parent = store.sweep_run(sweep_id, {"cells": [r.run_dir for r in on_disk]})
        store.log_missing(on_disk, sweep_id, parent)
    report = build_sweep_report(store, sweep_dir, sweep_id, reference=reference)
    if report is None:
        return 1
    if parent is not None:
        store.attach(parent, report.files)
    print(report.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
