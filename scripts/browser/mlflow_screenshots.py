"""Screenshots of the MLflow UI as a researcher opens it, in headless Chromium (scripts/browser/up.sh).

    python scripts/browser/mlflow_screenshots.py --store outputs/mlflow.db --out screens/ [--experiment dyco-repro]

Starts `mlflow ui` on 127.0.0.1 on a free port (stopped again at the end, bounded in time), then writes
  experiment.png   the experiment as it opens in a fresh browser (the UI's default view),
  experiment_training.png  the same with the UI's "Model training" switch (?workflowType=machine_learning),
  sweep_run.png    the sweep's parent run, its report/table1.md artifact open,
  sweep_plot.png   the same run, report/reward_curves.png open,
  cell_roles.png   a DyCo cell's run, its roles/index.html (the token-role viewer) open.
Not part of the default tests (it needs a store with a finished sweep and a browser; see tests/viewer for
what is tested). Exit 2 with one line when the store or the browser is missing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

WAIT_S = 60  # for the server to answer
# mlflow 3.17's UI picks the experiment page from its GenAI / Model training switch (kept per browser,
# default GenAI); this URL parameter selects Model training. The experiment-kind tag is not read by it.
TRAINING_VIEW = "workflowType=machine_learning"
RENDER_MS = 15000  # virtual time Chromium gives the single-page app to fetch and draw


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def shoot(chromium: str, url: str, out: Path, profile: Path) -> None:
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", f"--user-data-dir={profile}",
         "--window-size=1600,1000", f"--virtual-time-budget={RENDER_MS}", f"--screenshot={out}", url],
        check=True, capture_output=True, timeout=180,
    )  # fmt: skip
    print(out)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store", type=Path, required=True, help="the SQLite store (outputs/mlflow.db)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--experiment", default="dyco-repro")
    args = p.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not args.store.is_file() or chromium is None:
        print(f"error: need {args.store} and chromium (make browser-up)", file=sys.stderr)
        return 2
    import mlflow

    uri = f"sqlite:///{args.store.resolve()}"
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.get_experiment_by_name(args.experiment)
    if experiment is None:
        print(f"error: no experiment {args.experiment!r} in {uri}", file=sys.stderr)
        return 2
    runs = mlflow.search_runs([experiment.experiment_id], output_format="list")
    sweep = next((r for r in runs if r.data.tags.get("dyco.role") == "sweep"), None)
    cell = next((r for r in runs if r.data.tags.get("dyco.method") == "dyco" or "dyco" in r.info.run_name), None)
    args.out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        cwd=args.store.resolve().parent,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + WAIT_S
        while True:
            try:
                urllib.request.urlopen(f"{base}/health", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    print(f"error: mlflow ui did not answer on {base} within {WAIT_S} s", file=sys.stderr)
                    return 1
                time.sleep(1)
        with tempfile.TemporaryDirectory() as profile:
            eid = experiment.experiment_id
            shoot(chromium, f"{base}/#/experiments/{eid}", args.out / "experiment.png", Path(profile))
            training = f"{base}/#/experiments/{eid}?{TRAINING_VIEW}"
            shoot(chromium, training, args.out / "experiment_training.png", Path(profile))
            if sweep is not None:
                run = f"{base}/#/experiments/{eid}/runs/{sweep.info.run_id}/artifactPath"
                shoot(chromium, f"{run}/report/table1.md", args.out / "sweep_run.png", Path(profile))
                shoot(chromium, f"{run}/report/reward_curves.png", args.out / "sweep_plot.png", Path(profile))
            if cell is not None:
                run = f"{base}/#/experiments/{eid}/runs/{cell.info.run_id}/artifactPath"
                shoot(chromium, f"{run}/roles/index.html", args.out / "cell_roles.png", Path(profile))
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server we started and its workers
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
