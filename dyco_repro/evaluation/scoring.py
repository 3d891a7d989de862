"""Scores from VLMEvalKit's own `evaluate`, read off its result and put on Table 1's 0-100 scale."""

from __future__ import annotations

import logging
import math
import os
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from .judge import NOT_JUDGED, RULE, Judge, rule_score
from .suite import Benchmark, EvalError, ScoreSpec


def as_frame(result: Any) -> pd.DataFrame:
    if isinstance(result, pd.DataFrame):
        return result
    if isinstance(result, dict):
        return pd.DataFrame({k: v if isinstance(v, list) else [v] for k, v in result.items()})
    raise EvalError(f"VLMEvalKit returned {type(result).__name__}, not a table; check the benchmark's class")


def as_number(value: Any) -> float:
    if isinstance(value, str):
        value = value.strip()
        return float(value[:-1]) if value.endswith("%") else float(value)
    return float(value)


def read_score(result: Any, spec: ScoreSpec, key: str) -> float:
    """The normalised (0-100) score the spec names in VLMEvalKit's result."""
    frame = as_frame(result)
    for column, value in spec.row.items():
        if column not in frame:
            raise EvalError(f"{key}: VLMEvalKit's result has no column {column!r} (has {list(frame.columns)})")
        frame = frame[frame[column].astype(str) == str(value)]
    missing = [c for c in spec.columns if c not in frame]
    if frame.empty or missing:
        raise EvalError(f"{key}: no {spec.row or ''} {list(spec.columns)} in VLMEvalKit's result; fix benchmarks.yaml")
    rows = range(len(frame)) if spec.reduce == "mean" else range(1)
    total = sum(as_number(frame.iloc[i][c]) for i in rows for c in spec.columns) / len(rows)
    return total / spec.max * 100.0


def jsonable(result: Any) -> Any:
    """VLMEvalKit's raw result for the results JSON (NaN -> None)."""
    records = as_frame(result).to_dict(orient="records")
    return [{str(k): _plain(v) for k, v in row.items()} for row in records]


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value if isinstance(value, (int, float, str, bool)) or value is None else str(value)


class RedactKey(logging.Filter):
    """VLMEvalKit's OpenAIWrapper logs "Using API Base: ...; API Key: <the key>" at INFO, which our
    stdout logging shows: the key, and credentials inside the base URL, are masked in its log records."""

    def filter(self, record: logging.LogRecord) -> bool:
        from ..tracking import mask_credentials

        key = os.environ.get("OPENAI_API_KEY")
        message = record.getMessage()
        masked = mask_credentials(message.replace(key, "***") if key else message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def redact_judge_key() -> None:
    logger = logging.getLogger("vlmeval.api.gpt")
    if not any(isinstance(f, RedactKey) for f in logger.filters):
        logger.addFilter(RedactKey())


def committed_predictions(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    """The predictions VLMEvalKit's exact matching scores (the prediction file holds them).

    A multiple-choice or yes/no answer that VLMEvalKit's own reader (``can_infer`` / ``YOrN_Extraction``,
    ms-vlmeval 0.0.20) cannot place, but that commits to one option ("The correct answer is B because ...",
    "**Yes**", "答案：C"), is replaced by that option (our `answers` extractor); everything else is left as
    written. Other dataset kinds are returned unchanged."""
    if kind not in ("MCQ", "Y/N") or "prediction" not in frame:
        return frame
    from vlmeval.dataset.utils.yorn import YOrN_Extraction
    from vlmeval.utils import can_infer

    from ..data.answers import LETTERS, choice_letter, yes_no

    frame = frame.copy()
    out = []
    for _, row in frame.iterrows():
        text = str(row["prediction"])
        if kind == "MCQ":
            choices = {c: row[c] for c in LETTERS if c in row and isinstance(row[c], str) and row[c].strip()}
            if not can_infer(text, dict(choices)) and (letter := choice_letter(text)) in choices:
                text = letter
        elif YOrN_Extraction(text) == "Unknown" and (word := yes_no(text)) is not None:
            text = word.capitalize()
        out.append(text)
    frame["prediction"] = out
    return frame


def score(dataset, bench: Benchmark, judge: Judge, prediction_file: Path, fresh: bool) -> tuple[float | None, Any]:
    """(normalised score or None when not judged, raw result). Scoring runs in its own folder per
    judge, next to a copy of the prediction file; `fresh` clears it (new predictions, or force)."""
    if judge.name == NOT_JUDGED:
        return None, None
    if judge.name == RULE:
        from .inference import read_prediction_file
        from .items import rule_items, write_items

        items, raw = rule_items(read_prediction_file(prediction_file), bench.dataset, rule_score)  # hits per item
        write_items(items, prediction_file.parent / f"score-{RULE}")
        return raw["Overall"], [raw]
    folder = prediction_file.parent / f"score-{judge.name}"
    if fresh:
        shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / prediction_file.name
    if not target.exists():
        shutil.copyfile(prediction_file, target)
    redact_judge_key()
    try:
        result = dataset.evaluate(str(target), **dict(judge.kwargs))
    except AssertionError as err:  # VLMEvalKit asserts a working judge
        raise EvalError(f"{bench.key}: the judge {judge.name} at {judge.endpoint} did not answer ({err})") from err
    return read_score(result, bench.score, bench.key), jsonable(result)
