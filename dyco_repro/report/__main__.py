"""python -m dyco_repro.report sweep=<id> [output_root=outputs] [mlflow.tracking_uri=...] [reference=none|<csv>]

Rebuild a sweep's Table 1 (md, tex, csv) and figures from MLflow, after logging any finished cell
the store does not have yet (a cell that finished while the store was down). Prints the Markdown.
"""

from __future__ import annotations

import sys
from pathlib import Path

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
    resolved = {
        "output_root": args["output_root"],
        "mlflow": {"tracking_uri": args.get("mlflow.tracking_uri"), "experiment": args["mlflow.experiment"]},
    }
    markdown = build_sweep_report(resolved, args["sweep"], reference=reference)
    if markdown is None:
        return 1
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
