"""MLflow for one run: a run per run directory (resumed, never duplicated), the resolved config as
params, identifying tags; a store that is down never stops the work.

Never someone else's run: a leftover ``MLFLOW_RUN_ID`` in the environment (which ``mlflow.start_run`` would
silently resume, renaming it and adding our params) is dropped with a message. Never a secret: keys that
name a secret are not logged, and credentials inside URLs (``https://user:pass@host``) are masked in params
and messages (`mask_credentials`)."""

from __future__ import annotations

import json
import os
import re
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow

RUN_ID_FILE = "mlflow_run_id"
# The user's override, read once: mlflow.set_tracking_uri writes this variable itself.
_USER_TRACKING_URI = os.environ.get("MLFLOW_TRACKING_URI")
# Words (of a key split at `_`, `.`, `-` and case changes) that name a secret: `api_key`, `hf_token`,
# `password`; not `max_new_tokens` or `min_completion_tokens` (tokens are counts, not credentials).
SECRET_WORDS = frozenset(
    {"key", "apikey", "token", "secret", "password", "passwd", "pwd", "credential", "credentials", "auth"}
)
# scheme://user:password@host or scheme://token@host -> scheme://***@host
_URL_CREDENTIALS = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^\s/@]+)@")
MASK = "***"
# MLflow's experiment-kind tag (mlflow 3.x UI): an experiment without it may open on the GenAI overview;
# "custom_model_development" opens it on the training runs. Values from mlflow's UI (ExperimentKind).
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
TRAINING_KIND = "custom_model_development"


def tracking_uri(configured: str | None, output_root: str | Path) -> str:
    """configured, else $MLFLOW_TRACKING_URI, else a SQLite store under the output root."""
    if configured:
        return configured
    if _USER_TRACKING_URI:
        return _USER_TRACKING_URI
    root = Path(output_root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{root / 'mlflow.db'}"


def config_hash(resolved: dict[str, Any]) -> str:
    """Identity of a run's configuration: the config's `not_identity` keys left out (dyco_repro/identity.py)."""
    from .identity import identity_hash

    return identity_hash(resolved)


def is_secret_key(key: str) -> bool:
    """Whether a config key names a secret: one of its words is in SECRET_WORDS (`openai_api_key`, `hf_token`)."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", str(key)).lower()
    return any(word in SECRET_WORDS for word in re.split(r"[^a-z0-9]+", spaced) if word)


def mask_credentials(text: str) -> str:
    """`text` with the user and password of every URL replaced by ***: https://u:p@host/x -> https://***@host/x."""
    return _URL_CREDENTIALS.sub(lambda m: f"{m.group('scheme')}{MASK}@", str(text))


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Dotted params; secrets dropped, credentials in URLs masked."""
    flat: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if is_secret_key(key):
            continue
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = mask_credentials(json.dumps(value) if isinstance(value, list) else str(value))
    return flat


def drop_foreign_run_id(own_run_id: str | None) -> str | None:
    """Remove a leftover MLFLOW_RUN_ID from the environment (mlflow.start_run would resume that run, and
    every process started from here would inherit it); returns the dropped id when it was not ours."""
    leftover = os.environ.pop("MLFLOW_RUN_ID", None)
    return leftover if leftover and leftover != own_run_id else None


def use_experiment(name: str):
    """`mlflow.set_experiment(name)`, tagged as a training experiment (EXPERIMENT_KIND_TAG) unless the user
    chose another kind; returns the experiment."""
    experiment = mlflow.set_experiment(name)
    if EXPERIMENT_KIND_TAG not in experiment.tags:
        mlflow.set_experiment_tag(EXPERIMENT_KIND_TAG, TRAINING_KIND)
    return experiment


def start_run(run_dir: Path, uri: str, experiment: str, run_name: str, resolved: dict, tags: dict[str, str]):
    """Start (or resume, via the id kept in the run directory) this run's MLflow run."""
    mlflow.set_tracking_uri(uri)
    use_experiment(experiment)
    id_file = run_dir / RUN_ID_FILE
    run_id = id_file.read_text().strip() if id_file.exists() else None
    if foreign := drop_foreign_run_id(run_id):
        what = f"resuming this run's own MLflow run {run_id}" if run_id else "starting a new MLflow run for it"
        print(f"note: ignoring MLFLOW_RUN_ID={foreign} from the environment (not this run's); {what}", file=sys.stderr)
    run = mlflow.start_run(run_id=run_id, run_name=None if run_id else run_name, tags=tags)
    if run_id is None:
        mlflow.log_params(flatten(resolved))
        id_file.write_text(run.info.run_id)
    return run


def sweep_tags(mlflow_cfg: dict) -> dict[str, str]:
    """Tags that make a run a sweep cell: a child of the sweep's run, findable by cell hash."""
    if not mlflow_cfg.get("parent_run_id"):
        return {}
    return {
        "mlflow.parentRunId": mlflow_cfg["parent_run_id"],
        "dyco.sweep_id": str(mlflow_cfg["sweep_id"]),
        "dyco.cell_hash": str(mlflow_cfg["cell_hash"]),
        "dyco.role": "cell",
    }


@contextmanager
def start_run_or_warn(run_dir: Path, resolved: dict, tags: dict[str, str]):
    """The run's MLflow run; if the store is unreachable, say so and go on untracked (results stay
    on disk; `python -m dyco_repro.report` logs a sweep's cells later)."""
    try:
        uri = tracking_uri(resolved["mlflow"]["tracking_uri"], resolved["output_root"])
        run = start_run(run_dir, uri, resolved["mlflow"]["experiment"], resolved["run_name"], resolved, tags)
    except Exception as err:  # noqa: BLE001 - any store failure: the run must not depend on it
        reason = mask_credentials(str(err).splitlines()[0])[:200]
        print(
            f"warning: MLflow unavailable ({reason}); results stay in {run_dir}",
            file=sys.stderr,
        )
        yield None
        return
    with run:
        yield run
