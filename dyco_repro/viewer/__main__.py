"""python -m dyco_repro.viewer <run dir | MLflow run id> [--out PAGE] [--tracking-uri URI]

Writes one self-contained HTML page of a DyCo run's role samples (every recorded step): from
`<run dir>/roles/step_*.json`, or from the `roles/` artifacts of an MLflow run (store: --tracking-uri,
else $MLFLOW_TRACKING_URI, else sqlite:///outputs/mlflow.db). Default page: `<run dir>/roles/viewer.html`,
or `roles_<run id>.html` here. Bad input (no such directory or run, a run without samples, --out a
directory): one line, exit 2, nothing written.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from pathlib import Path

from ..atomic import write_text_atomic
from .files import SAMPLES_DIR
from .page import load_steps, render_page

RUN_ID = re.compile(r"^[0-9a-f]{32}$")


class ViewerError(ValueError):
    """Bad input, reported as one line."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m dyco_repro.viewer", description=__doc__.splitlines()[2])
    p.add_argument("run", help="a run directory (holding roles/) or an MLflow run id")
    p.add_argument("--out", type=Path, default=None, help="the page to write")
    p.add_argument("--tracking-uri", default=None, help="the MLflow store of a run id")
    return p


def steps_of_dir(run_dir: Path) -> list[dict]:
    roles = run_dir / SAMPLES_DIR
    steps = load_steps(roles) if roles.is_dir() else []
    if not steps:
        raise ViewerError(
            f"{run_dir} has no role samples ({SAMPLES_DIR}/step_*.json); only DyCo training (dyco.alpha > 0) "
            "records them"
        )
    return steps


def steps_of_run(run_id: str, tracking_uri: str | None) -> list[dict]:
    import mlflow
    from mlflow.exceptions import MlflowException

    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path('outputs').resolve()}/mlflow.db"
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        raise ViewerError(f"no MLflow store at {uri}; pass --tracking-uri (or a run directory)")
    mlflow.set_tracking_uri(uri)
    try:
        mlflow.get_run(run_id)
    except MlflowException:
        raise ViewerError(f"no MLflow run {run_id} in {uri}; check the id or pass --tracking-uri") from None
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=SAMPLES_DIR, dst_path=tmp)
        except (MlflowException, OSError):
            local = None
        steps = load_steps(Path(local)) if local else []
    if not steps:
        raise ViewerError(f"MLflow run {run_id} has no role samples ({SAMPLES_DIR}/); only DyCo training records them")
    return steps


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.out is not None and args.out.is_dir():
            raise ViewerError(f"--out {args.out} is a directory; give a file path such as {args.out / 'viewer.html'}")
        run_dir = Path(args.run)
        if run_dir.is_dir():
            steps, title = steps_of_dir(run_dir), run_dir.resolve().name
            out = args.out or run_dir / SAMPLES_DIR / "viewer.html"
        elif RUN_ID.match(args.run):
            steps, title = steps_of_run(args.run, args.tracking_uri), args.run
            out = args.out or Path(f"roles_{args.run}.html")
        else:
            raise ViewerError(f"{args.run!r} is neither a run directory nor an MLflow run id (32 hex digits)")
        if not out.parent.is_dir():
            raise ViewerError(f"--out {out}: no directory {out.parent}")
    except ViewerError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    run_name = next((s["run"] for s in steps if s["run"]), None) or title
    write_text_atomic(out, render_page(steps, f"DyCo token roles: {run_name}"))
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
