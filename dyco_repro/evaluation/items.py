"""Per-item scores of one evaluated benchmark, taken from what its scoring wrote, as `items.csv`.

The paired statistics of the report (``report/stats.py``) compare DyCo and baseline item by item, so
every scored benchmark leaves one small file next to its predictions::

    <eval dir>/<benchmark>/items.csv    columns: item (VLMEvalKit's ``index``), cluster, score (0-1)

``cluster`` is the benchmark's own unit of dependence (``report.stats.vlmeval_clusters``: MME's image pair,
HallusionBench's set, MMBench's circular group). Where the scores come from (ms-vlmeval 0.0.20; the files
sit in the ``score-<judge>`` folder beside a copy of the prediction file ``<stem>.tsv``):

* yes/no (``ImageYORNDataset``: MME, HallusionBench): ``<stem>_auxmatch.xlsx``, column ``score``.
* multiple choice (``ImageMCQDataset``): ``<stem>_<judge>_result.xlsx``, column ``hit``; one row per
  circular group for MMBench (its passes are scored together), so the item is the group.
* MathVerse: ``<stem>_<judge>_score.xlsx``, column ``score``; LogicVista and WeMath: ``<stem>_<judge>.xlsx``,
  column ``hit``; MathVision: ``<stem>_<judge>.xlsx`` holds the judge's extracted answer (``res``) and each
  item is re-checked with VLMEvalKit's own ``post_check``, which is what ``MATH_V_acc`` counts.
* our rule judge (``judge=rule``): its per-item hits (``rule_items``), which VLMEvalKit never sees.

A benchmark whose scoring left no per-item file (not judged, an unknown class) gets no ``items.csv``
(`write_items` returns None) and the report leaves it out of the paired statistics.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from ..atomic import write_text_atomic
from .suite import Benchmark

ITEMS_FILE = "items.csv"
ITEM_COLUMNS = ("item", "cluster", "score")

# VLMEvalKit class -> (suffix after the prediction file's stem, with {judge}; the per-item column).
SOURCES: dict[str, tuple[str, str]] = {
    "ImageYORNDataset": ("_auxmatch.xlsx", "score"),
    "ImageMCQDataset": ("_{judge}_result.xlsx", "hit"),
    "MathVerse": ("_{judge}_score.xlsx", "score"),
    "LogicVista": ("_{judge}.xlsx", "hit"),
    "WeMath": ("_{judge}.xlsx", "hit"),
    "MathVision": ("_{judge}.xlsx", "res"),  # the judge's extraction; scored by post_check
}


def clusters(frame: pd.DataFrame, dataset: str) -> pd.Series:
    """The benchmark's unit of dependence per row (the rule the paired statistics use)."""
    from ..report.stats import vlmeval_clusters

    return vlmeval_clusters(frame, dataset)


def as_items(frame: pd.DataFrame, dataset: str, column: str) -> pd.DataFrame:
    """``item, cluster, score`` from a VLMEvalKit frame with ``index`` and a 0/1 (True/False) column.

    Raises ValueError when a column is missing or a score is not a number in [0, 1]."""
    for name in ("index", column):
        if name not in frame:
            raise ValueError(f"no {name!r} column (has {list(frame.columns)})")
    scores = pd.to_numeric(frame[column].map(_number), errors="coerce")
    bad = scores.isna() | (scores < 0) | (scores > 1)
    if bad.any():
        raise ValueError(
            f"{int(bad.sum())} {column!r} values are not scores in [0, 1] (first: index "
            f"{frame.loc[bad, 'index'].iloc[0]})"
        )
    return pd.DataFrame(
        {
            "item": frame["index"].astype(str).to_numpy(),
            "cluster": clusters(frame, dataset).astype(str).to_numpy(),
            "score": scores.astype(float).to_numpy(),
        }
    )


def _number(value):
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return value


def source_file(bench: Benchmark, judge: str, prediction_file: Path) -> tuple[Path, str] | None:
    """(the scoring's per-item file, its score column) for a benchmark scored by VLMEvalKit, or None."""
    source = SOURCES.get(bench.vlmeval_class)
    if source is None:
        return None
    suffix, column = source
    folder = prediction_file.parent / f"score-{judge}"
    return folder / f"{prediction_file.stem}{suffix.format(judge=judge)}", column


def scored_items(bench: Benchmark, judge: str, prediction_file: Path) -> pd.DataFrame | None:
    """The per-item frame from the files VLMEvalKit's scoring wrote; None where it wrote none."""
    found = source_file(bench, judge, prediction_file)
    if found is None or not found[0].is_file():
        return None
    path, column = found
    frame = pd.read_excel(path)
    if bench.vlmeval_class == "MathVision":
        frame = frame.assign(hit=[_mathv_hit(row) for _, row in frame.iterrows()])
        column = "hit"
    return as_items(frame, bench.dataset, column)


def _mathv_hit(row: pd.Series) -> float:
    """MATH_V_acc's own per-item check (VLMEvalKit imported through compat, as the scoring imported it)."""
    from ..compat import import_vlmeval_datasets

    import_vlmeval_datasets()
    from vlmeval.dataset.utils.mathv import post_check

    return float(bool(post_check(row, prefetch=False)))


def rule_items(predictions: pd.DataFrame, dataset: str, score_one) -> tuple[pd.DataFrame, dict]:
    """(per-item frame, the rule judge's raw result) of a prediction frame.

    ``score_one(frame) -> {"hit": hits, ...}`` is the rule judge (``judge.rule_score``), run on each row
    alone so the per-item hits are the judge's own; the raw result (``Overall`` 0-100, ``hit``, ``tot``) is
    the one ``rule_score`` gives the whole frame."""
    hits = [float(score_one(predictions.iloc[[i]])["hit"]) for i in range(len(predictions))]
    frame = predictions.assign(hit=hits)
    raw = {"Overall": 100.0 * sum(hits) / len(hits) if hits else 0.0, "hit": int(sum(hits)), "tot": len(hits)}
    return as_items(frame, dataset, "hit"), raw


def write_items(items: pd.DataFrame | None, folder: Path) -> str | None:
    """Write ``<folder>/items.csv`` atomically; returns its path (str) or None when there are no items."""
    if items is None or items.empty:
        return None
    path = Path(folder) / ITEMS_FILE
    write_text_atomic(path, items.loc[:, list(ITEM_COLUMNS)].to_csv(index=False, lineterminator="\n"))
    return str(path.resolve())


def record_items(bench: Benchmark, judge: str, prediction_file: Path) -> str | None:
    """After scoring: the benchmark's ``items.csv`` (path) beside its predictions, or None where its
    scoring kept no per-item scores. A per-item file that cannot be read is reported, never fatal: the
    benchmark's score stands, only its paired statistics are missing."""
    folder = prediction_file.parent
    rule = folder / f"score-{judge}" / ITEMS_FILE
    try:
        if rule.is_file():  # the rule judge wrote its hits while scoring
            return write_items(read_items(rule), folder)
        return write_items(scored_items(bench, judge, prediction_file), folder)
    except (OSError, ValueError, KeyError) as err:
        print(f"warning: {bench.key}: no per-item scores ({str(err).splitlines()[0][:200]})", file=sys.stderr)
        return None


def read_items(path: str | Path) -> pd.DataFrame:
    """An ``items.csv`` as written here (item and cluster as str, score float); raises ValueError when it
    lacks a column or holds a score outside [0, 1]."""
    frame = pd.read_csv(path, dtype={"item": str, "cluster": str}, keep_default_na=False)
    missing = [c for c in ITEM_COLUMNS if c not in frame]
    if missing:
        raise ValueError(f"{path}: no {missing} column(s); expected {', '.join(ITEM_COLUMNS)}")
    score = pd.to_numeric(frame["score"], errors="coerce")
    if (score.isna() | (score < 0) | (score > 1)).any():
        raise ValueError(f"{path}: scores must be numbers in [0, 1]")
    return frame.assign(score=score.astype(float)).loc[:, list(ITEM_COLUMNS)]
