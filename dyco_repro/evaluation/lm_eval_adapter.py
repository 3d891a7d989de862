"""lm-evaluation-harness tasks on the same checkpoint (text only), to check RL kept language reasoning."""

from __future__ import annotations

import functools
import math
import time
from pathlib import Path
from typing import Any

from .suite import EvalError


@functools.lru_cache(maxsize=4)
def task_manager(include_path: str | None):
    """lm-eval's task index (slow: it reads every task YAML), built once per folder."""
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=include_path)


def check_tasks(tasks: list[str], include_path: str | None):
    """The task manager, once every task is known; raises EvalError naming the fix."""
    if include_path and not Path(include_path).exists():
        raise EvalError(f"eval.lm_eval.include_path={include_path} does not exist; point it at your task YAML folder")
    manager = task_manager(str(include_path) if include_path else None)
    unknown = [t for t in tasks if not manager.match_tasks([t])]
    if unknown:
        raise EvalError(
            f"lm-eval has no task {', '.join(unknown)}; list them with `lm-eval ls tasks` "
            f"or add a task YAML under eval.lm_eval.include_path"
        )
    return manager


def run_lm_eval(
    model, tokenizer, tasks: list[str], include_path: str | None, limit: int | None, batch_size: int
) -> dict[str, Any]:
    """{task: {metric: value}} plus settings, from lm-eval's simple_evaluate on the loaded model."""
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM

    manager = check_tasks(tasks, include_path)
    start = time.perf_counter()
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size)
    out = simple_evaluate(model=lm, tasks=list(tasks), task_manager=manager, limit=limit, log_samples=False)
    results = {
        task: {k: _number(v) for k, v in metrics.items() if k != "alias" and _number(v) is not None}
        for task, metrics in out["results"].items()
    }
    return {
        "tasks": results,
        "n": {task: int(v.get("effective", v.get("original", 0))) for task, v in out.get("n-samples", {}).items()},
        "limit": limit,
        "seconds": time.perf_counter() - start,
    }


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number
