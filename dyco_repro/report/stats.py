"""Paired DyCo - baseline statistics over per-item scores: intervals, p-values, seeds, power inputs.

Pure pandas / numpy / scipy / statsmodels (no torch, no sweep or MLflow imports), so the report can feed it
whatever it extracts from the evaluation's prediction files.

Input: the per-item frame (``ITEM_COLUMNS``), one row per scored item of one evaluated cell and seed::

    model      str    model label as in Table 1 ("Qwen2.5-VL-3B", "tiny-s")
    algo       str    "grpo", "dapo", ... ("" or NaN for zero-shot, which is never paired)
    method     str    "baseline" or "dyco" (any two labels: see ``baseline`` / ``treatment`` arguments)
    seed       int    the cell's training seed; baseline and DyCo cells of one seed are paired
    benchmark  str    the Table 1 column key ("MMBench", "Synth_MME", ...)
    item       str    VLMEvalKit's ``index`` of the row (the same item in every cell)
    cluster    str    the benchmark's own unit of dependence (see ``vlmeval_clusters``); NaN -> the item itself
    score      float  the item's score on a 0-1 scale: 1/0 for a hit (VLMEvalKit's ``hit`` / ``score`` column),
                      or a fraction for partial credit

The statistics are on the benchmark's mean per-item score in points (x ``SCALE``), the plain accuracy Table 1
reports for most benchmarks. Where the official metric is not a plain mean (MME's acc + acc+, WeMath's strict
score) the paired difference is that of the per-item accuracy, which moves with it but is not the same number.

Pairing. A DyCo item is paired with the baseline item of the same (model, algo, benchmark, seed, item). Items
that are not scored in both methods for every seed of the pair are left out (``n_items`` counts those kept),
so every statistic is on one balanced seeds x items panel.

Intervals (``paired_comparisons``). A bootstrap over seeds and clusters, resampled independently; with one
seed over clusters only. Each resampled cluster brings its seed-averaged paired difference (so the item
variance and the item x seed noise enter once), each resampled seed its departure from the mean, shrunk to
the between-seed part (``seed_offsets``: resampling raw departures, as the pigeonhole bootstrap does, counts
the item x seed noise again and was measured at 99.7% coverage for a nominal 95%). It runs on
``scipy.stats.bootstrap`` (BCa by default, percentile where BCa is undefined): every resampled unit (the
seeds, the clusters of each benchmark) is passed to scipy as an index sample with ``paired=False``, so scipy
draws the units independently and the statistic gathers their sums. For ``Avg`` (Table 1's unweighted mean
over benchmarks) the clusters of each benchmark are resampled within that benchmark and the seeds jointly
across benchmarks (one trained checkpoint is scored on all of them). With two or three seeds the seed part
is rough (a normal-theory interval from 1-2 degrees of freedom); ``seed_summary`` gives the t-interval over
seeds and ``improvement_table`` the probability of improvement.

p-values. Per-item accuracy (scores 0/1) with one seed and no clusters: McNemar's exact test
(``statsmodels.stats.contingency_tables.mcnemar``). Otherwise a paired permutation test
(``scipy.stats.permutation_test``, sign flips of each cluster's seed-averaged difference; for ``Avg`` the
clusters of all benchmarks flip independently). The test is conditional on the trained checkpoints: it asks
whether these DyCo checkpoints score differently from these baseline checkpoints on the benchmark's items;
seed-to-seed training noise enters the interval, not the test. Benjamini-Hochberg adjustment
(``statsmodels.stats.multitest.multipletests``) runs over all rows of one table, ``Avg`` rows included.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests

ITEM_COLUMNS = ("model", "algo", "method", "seed", "benchmark", "item", "cluster", "score")
COMPARISON_COLUMNS = (
    "model",
    "algo",
    "benchmark",
    "delta",
    "ci_low",
    "ci_high",
    "p_value",
    "p_adjusted",
    "n_items",
    "n_seeds",
)
# Beyond the columns: how each row was computed, so a reader can tell a McNemar p from a permutation p.
COMPARISON_EXTRA = ("n_clusters", "test", "interval")
AVG = "Avg"
SCALE = 100.0  # per-item scores are 0-1; tables are in points
PAIR_KEY = ["model", "algo", "benchmark", "seed", "item"]


class StatsError(ValueError):
    """Bad statistics input, reported as one line naming the fix."""


# --------------------------------------------------------------------------- input


def check_items(frame: pd.DataFrame) -> pd.DataFrame:
    """The per-item frame with normalised types (a copy); raises ``StatsError`` on missing columns,
    non-finite scores or an item scored twice in one cell and seed."""
    if not isinstance(frame, pd.DataFrame):
        raise StatsError(f"per-item scores must be a pandas DataFrame, not {type(frame).__name__}")
    missing = [c for c in ITEM_COLUMNS if c not in frame.columns and c != "cluster"]
    if missing:
        raise StatsError(f"per-item frame lacks columns {missing}; it needs {', '.join(ITEM_COLUMNS)}")
    data = frame.loc[:, [c for c in ITEM_COLUMNS if c in frame.columns]].copy()
    if "cluster" not in data:
        data["cluster"] = np.nan
    for column in ("model", "method", "benchmark", "item"):
        if data[column].isna().any():
            raise StatsError(f"per-item frame has empty {column!r} values; every row needs one")
        data[column] = data[column].astype(str)
    data["algo"] = data["algo"].fillna("").astype(str)
    data["cluster"] = data["cluster"].where(data["cluster"].notna(), data["item"]).astype(str)
    seeds = pd.to_numeric(data["seed"], errors="coerce")
    if seeds.isna().any() or (seeds != seeds.round()).any():
        raise StatsError("per-item frame has a seed that is not an integer; use the cell's training seed")
    data["seed"] = seeds.astype(int)
    scores = pd.to_numeric(data["score"], errors="coerce").astype(float)
    bad = ~np.isfinite(scores.to_numpy())
    if bad.any():
        row = data.loc[bad].iloc[0]
        raise StatsError(
            f"{int(bad.sum())} per-item scores are not finite numbers (first: {row['benchmark']} item "
            f"{row['item']} of {row['model']}/{row['algo']}/{row['method']} seed {row['seed']}); drop or rescore them"
        )
    data["score"] = scores
    dup = data.duplicated(["model", "algo", "method", "seed", "benchmark", "item"])
    if dup.any():
        row = data.loc[dup].iloc[0]
        raise StatsError(
            f"item {row['item']} of {row['benchmark']} is scored twice for {row['model']}/{row['algo']}/"
            f"{row['method']} seed {row['seed']}; keep one row per item and cell"
        )
    return data.reset_index(drop=True)


def vlmeval_clusters(data: pd.DataFrame, dataset: str) -> pd.Series:
    """Cluster ids (str) for the rows of a VLMEvalKit prediction or score frame of ``dataset``.

    Follows the units VLMEvalKit's own scoring groups by (vlmeval/dataset/utils/yorn.py, multiple_choice.py):
    - MME (``MME_rating``): ``category`` + ``image_path``: the yes/no pair asked about one image (acc+).
    - HallusionBench (``Hallusion_rating``): ``l2-category`` + set id (field 3 of ``index``): the set holds
      both the figure groups (fAcc) and the question pairs (qAcc), which overlap, so the set is the unit.
    - MMBench / circular MCQ: ``g_index`` if present, else ``index % 1e6``: a question's circular passes.
    - anything else: the item itself.
    """
    index = data["index"].astype(str)
    name = dataset.lower()
    if "g_index" in data:
        return data["g_index"].astype(str)
    if "mme" in name and "image_path" in data:
        return data.get("category", "").astype(str) + "/" + data["image_path"].astype(str)
    if "hallusion" in name:
        parts = index.str.split("_")
        if (parts.str.len() >= 6).all():
            l2 = data["l2-category"].astype(str) if "l2-category" in data else ""
            return l2 + "/" + parts.str[3]
        return index
    if "mmbench" in name or "circular" in name:
        numeric = pd.to_numeric(data["index"], errors="coerce")
        if numeric.notna().all():
            return (numeric.astype(np.int64) % 1_000_000).astype(str)
    return index


def item_frame(
    scored: pd.DataFrame,
    *,
    model: str,
    algo: str | None,
    method: str,
    seed: int,
    benchmark: str,
    dataset: str,
    score_column: str = "score",
) -> pd.DataFrame:
    """The per-item frame of one evaluated cell from a VLMEvalKit frame with ``index`` and a 0/1 (or 0-1)
    ``score_column`` (``score`` in ``*_auxmatch`` files, ``hit`` in MCQ result files)."""
    for column in ("index", score_column):
        if column not in scored:
            raise StatsError(f"{benchmark}: the scored frame has no {column!r} column (has {list(scored.columns)})")
    frame = pd.DataFrame(
        {
            "model": model,
            "algo": algo or "",
            "method": method,
            "seed": int(seed),
            "benchmark": benchmark,
            "item": scored["index"].astype(str).to_numpy(),
            "cluster": vlmeval_clusters(scored, dataset).to_numpy(),
            "score": pd.to_numeric(scored[score_column], errors="coerce").to_numpy(dtype=float),
        }
    )
    return check_items(frame)


# --------------------------------------------------------------------------- pairing


def pair_items(items: pd.DataFrame, baseline: str = "baseline", treatment: str = "dyco") -> pd.DataFrame:
    """Paired rows: ``model, algo, benchmark, seed, item, cluster, base, treat, diff`` (diff = treat - base,
    0-1 scale), only items scored in both methods for every seed that both methods have for that
    (model, algo, benchmark)."""
    data = check_items(items)
    base = data[data["method"] == baseline]
    treat = data[data["method"] == treatment]
    merged = treat.merge(base, on=PAIR_KEY, suffixes=("_t", "_b"))
    if (merged["cluster_t"] != merged["cluster_b"]).any():
        row = merged[merged["cluster_t"] != merged["cluster_b"]].iloc[0]
        raise StatsError(
            f"{row['benchmark']} item {row['item']} has cluster {row['cluster_t']!r} for {treatment} but "
            f"{row['cluster_b']!r} for {baseline}; derive clusters the same way for both"
        )
    pairs = merged.rename(columns={"cluster_t": "cluster", "score_b": "base", "score_t": "treat"})
    pairs = pairs[[*PAIR_KEY, "cluster", "base", "treat"]].copy()
    pairs["diff"] = pairs["treat"] - pairs["base"]
    # Keep a balanced panel: an item counts only if it is paired in every seed of its (model, algo, benchmark).
    group = ["model", "algo", "benchmark"]
    seeds = pairs.groupby(group)["seed"].transform("nunique")
    present = pairs.groupby([*group, "item"])["seed"].transform("nunique")
    return pairs[present == seeds].sort_values(PAIR_KEY).reset_index(drop=True)


@dataclass(frozen=True)
class Panel:
    """One benchmark's paired differences as a seeds x clusters panel of sums (enough for every statistic)."""

    benchmark: str
    seeds: tuple[int, ...]
    sums: np.ndarray  # (n_seeds, n_clusters) summed differences (0-1 scale) of each seed's items in the cluster
    sizes: np.ndarray  # (n_clusters,) items per cluster
    binary: bool  # every base and treat score is 0 or 1
    base: np.ndarray  # (n_seeds * n_items,) raw scores, for McNemar
    treat: np.ndarray

    @property
    def n_items(self) -> int:
        return int(self.sizes.sum())

    @property
    def n_clusters(self) -> int:
        return len(self.sizes)

    @property
    def delta(self) -> float:
        """Mean paired difference in points."""
        return SCALE * float(self.sums.sum()) / (len(self.seeds) * self.n_items)

    @property
    def clustered(self) -> bool:
        return bool((self.sizes > 1).any())


def panel_of(pairs: pd.DataFrame, seeds: Sequence[int] | None = None) -> Panel:
    """The panel of one (model, algo, benchmark) from ``pair_items`` rows, restricted to ``seeds``."""
    if pairs["benchmark"].nunique() != 1:
        raise StatsError("panel_of takes the pairs of one benchmark; group by benchmark first")
    if seeds is not None:
        pairs = pairs[pairs["seed"].isin(seeds)]
    sums = pairs.pivot_table(index="seed", columns="cluster", values="diff", aggfunc="sum", sort=True)
    counts = pairs.groupby(["seed", "cluster"]).size().unstack("cluster").reindex(columns=sums.columns)
    values = pd.concat([pairs["base"], pairs["treat"]]).to_numpy()
    return Panel(
        benchmark=str(pairs["benchmark"].iloc[0]),
        seeds=tuple(int(s) for s in sums.index),
        sums=sums.to_numpy(dtype=float),
        sizes=counts.iloc[0].to_numpy(dtype=np.int64),
        binary=bool(np.isin(values, (0.0, 1.0)).all()),
        base=pairs["base"].to_numpy(dtype=float),
        treat=pairs["treat"].to_numpy(dtype=float),
    )


# --------------------------------------------------------------------------- interval


def _gathered(values: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """(...,) sums of ``values`` over the last axis of (..., m) resampled unit indices."""
    indices = np.asarray(indices)
    if indices.ndim > 1 and indices.size and not any(indices.strides[:-1]):
        # A sample scipy holds fixed while it jackknifes another arrives broadcast (one row repeated):
        # sum that row once instead of gathering the whole (n_other x m) view.
        row = indices[(0,) * (indices.ndim - 1)]
        return np.broadcast_to(values[row.astype(np.intp)].sum(), indices.shape[:-1])
    return values[indices.astype(np.intp)].sum(-1)


def seed_offsets(panels: Sequence[Panel]) -> np.ndarray:
    """(n_seeds,) each seed's departure from the mean difference (points; of the mean over ``panels``),
    shrunk to the between-seed part.

    A seed's mean difference departs from the others by a training shift (the between-seed variance the
    interval must carry) plus the item x seed noise of its own items, which the cluster resampling already
    carries. Resampling the raw departures would count that noise twice (Owen 2007, "The pigeonhole
    bootstrap", is conservative by exactly this term, tripling it), so they are scaled by
    sqrt(max(0, 1 - noise / observed)) with the noise estimated from the seeds x clusters interaction, and by
    sqrt(n / (n - 1)) so that a bootstrap over n seeds sees their full variance."""
    n_seeds = len(panels[0].seeds)
    if n_seeds < 2:
        return np.zeros(n_seeds)
    means, noise = np.zeros(n_seeds), 0.0
    for panel in panels:
        weights = panel.sizes / panel.n_items  # (C,) each cluster's share of the benchmark mean
        cells = panel.sums / panel.sizes  # (S, C) per-item mean difference of each seed in each cluster
        seed_means = cells @ weights
        interaction = cells - cells.mean(0) - (seed_means - seed_means.mean())[:, None]
        noise += float(weights**2 @ (interaction**2).sum(0)) / (n_seeds - 1)
        means += seed_means
    means, noise = means / len(panels), noise / len(panels) ** 2
    departures = means - means.mean()
    observed = float(departures @ departures) / (n_seeds - 1)
    if observed <= 0:
        return np.zeros(n_seeds)
    shrink = math.sqrt(max(0.0, 1.0 - noise / observed) * n_seeds / (n_seeds - 1))
    return SCALE * departures * shrink


def _mean_statistic(panels: Sequence[Panel]):
    """scipy statistic over index samples (seed indices if >= 2 seeds, then each panel's cluster indices) ->
    the mean over panels of the resampled clusters' mean difference (seeds averaged), plus the mean of the
    resampled seeds' ``seed_offsets``; in points."""
    with_seeds = len(panels[0].seeds) > 1
    offsets = seed_offsets(panels)
    totals = [p.sums.sum(0) for p in panels]  # (C,) each cluster's summed difference over seeds

    def statistic(*samples, axis=-1):
        samples = [np.moveaxis(np.asarray(s), axis, -1) for s in samples]
        seed_part = 0.0
        if with_seeds:
            seed_part = _gathered(offsets, samples[0]) / samples[0].shape[-1]
            samples = samples[1:]
        cluster_part = 0.0
        for panel, total, idx in zip(panels, totals, samples, strict=True):
            cluster_part = cluster_part + _gathered(total, idx) / (len(panel.seeds) * _gathered(panel.sizes, idx))
        return SCALE * cluster_part / len(panels) + seed_part

    return statistic


def bootstrap_interval(
    panels: Sequence[Panel],
    confidence: float = 0.95,
    n_resamples: int = 9999,
    method: str = "BCa",
    rng: np.random.Generator | int | None = None,
) -> tuple[float, float, str]:
    """(low, high, method used) of the mean over ``panels`` of their mean paired differences, in points.

    ``scipy.stats.bootstrap`` over independent index samples: each panel's clusters (carrying their
    seed-averaged differences) and, with >= 2 seeds, the seeds (carrying ``seed_offsets``). Falls back to
    the percentile interval where BCa is undefined (a degenerate jackknife), and to (delta, delta) when
    every difference is the same. Panels must share their seeds; raises ``StatsError`` when no panel has
    two clusters."""
    if any(p.seeds != panels[0].seeds for p in panels):
        raise StatsError("the benchmarks of one comparison must share their seeds; restrict to the common seeds")
    delta = float(np.mean([p.delta for p in panels]))
    if all(p.n_clusters < 2 for p in panels):
        raise StatsError(f"{panels[0].benchmark}: fewer than two paired items/clusters; no interval can be drawn")
    per_item = [p.sums / p.sizes for p in panels]
    if all(np.ptp(d) == 0 for d in per_item):  # every resample has the same mean: nothing to draw
        return delta, delta, "constant"
    samples = [np.arange(len(panels[0].seeds))] if len(panels[0].seeds) > 1 else []
    samples += [np.arange(p.n_clusters) for p in panels]
    statistic = _mean_statistic(panels)
    for kind in dict.fromkeys((method, "percentile")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DegenerateDataWarning: handled by the fallback below
            result = stats.bootstrap(
                tuple(samples),
                statistic,
                paired=False,
                vectorized=True,
                n_resamples=n_resamples,
                confidence_level=confidence,
                method=kind,
                batch=max(1, min(n_resamples, 2_000_000 // max(1, sum(p.n_clusters for p in panels)))),
                rng=rng,
            )
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
        if math.isfinite(low) and math.isfinite(high):
            # A table's interval must hold the number it annotates; BCa can leave it out by a hair
            # when the bootstrap distribution is very skewed (few clusters), so the bound is widened to it.
            return min(low, delta), max(high, delta), kind
    return delta, delta, "constant"


# --------------------------------------------------------------------------- p-value


def mcnemar_applies(panel: Panel) -> bool:
    """Per-item accuracy on independent items: one seed, no clusters, every score 0 or 1."""
    return panel.binary and len(panel.seeds) == 1 and not panel.clustered


def mcnemar_p(panel: Panel) -> float:
    """McNemar's exact test (statsmodels) on the 2x2 table of baseline vs DyCo hits."""
    base, treat = panel.base.astype(bool), panel.treat.astype(bool)
    table = [[int((base & treat).sum()), int((base & ~treat).sum())], [int((~base & treat).sum()), 0]]
    table[1][1] = int((~base & ~treat).sum())
    if table[0][1] + table[1][0] == 0:
        return 1.0
    return float(mcnemar(table, exact=True).pvalue)


def permutation_p(
    panels: Sequence[Panel], n_resamples: int = 9999, rng: np.random.Generator | int | None = None
) -> float:
    """Two-sided paired permutation p of the mean over ``panels`` of their mean differences: sign flips of
    each cluster's seed-averaged difference (a flip swaps the baseline and DyCo labels of its items), the
    clusters of different benchmarks flipping independently. Exact when 2^clusters <= ``n_resamples``,
    else ``n_resamples`` random flips with p = (hits + 1) / (n_resamples + 1).

    This is the test ``scipy.stats.permutation_test(..., permutation_type="samples")`` runs on one sample
    (tests check they agree); it is drawn here with numpy's Generator because scipy's generic pairing
    generator took 15-20 s for one MMBench-sized benchmark (4329 items, 9999 flips), 50x this."""
    # Each cluster's share of the statistic; a zero share flips to itself and cannot change any sum.
    shares = np.concatenate([p.sums.sum(0) / (len(p.seeds) * p.n_items * len(panels)) for p in panels]) * SCALE
    shares = shares[shares != 0]
    if not len(shares):
        return 1.0
    observed = abs(float(shares.sum())) * (1 - 1e-12)  # as scipy: equal up to rounding counts as extreme
    if 2 ** min(len(shares), 63) <= n_resamples:
        patterns = (np.arange(2 ** len(shares))[:, None] >> np.arange(len(shares))) & 1
        return float(np.mean(np.abs((1 - 2 * patterns) @ shares) >= observed))
    rng = np.random.default_rng(rng)
    hits, batch = 0, max(1, 4_000_000 // len(shares))
    for start in range(0, n_resamples, batch):
        signs = 1 - 2 * rng.integers(0, 2, size=(min(batch, n_resamples - start), len(shares)), dtype=np.int8)
        hits += int(np.count_nonzero(np.abs(signs @ shares) >= observed))
    return (hits + 1) / (n_resamples + 1)


# --------------------------------------------------------------------------- comparisons


def _row(model, algo, benchmark, panels, delta, interval, p_value, test) -> dict:
    low, high, kind = interval
    return {
        "model": model,
        "algo": algo,
        "benchmark": benchmark,
        "delta": delta,
        "ci_low": low,
        "ci_high": high,
        "p_value": p_value,
        "p_adjusted": np.nan,
        "n_items": int(sum(p.n_items for p in panels)),
        "n_seeds": len(panels[0].seeds),
        "n_clusters": int(sum(p.n_clusters for p in panels)),
        "test": test,
        "interval": kind,
    }


def paired_comparisons(
    items: pd.DataFrame,
    baseline: str = "baseline",
    treatment: str = "dyco",
    benchmarks: Sequence[str] | None = None,
    confidence: float = 0.95,
    n_resamples: int = 9999,
    rng: np.random.Generator | int | None = None,
) -> pd.DataFrame:
    """The rows of ``comparisons.csv``: per (model, algo) pair of ``treatment`` and ``baseline`` cells,
    one row per benchmark (in ``benchmarks`` order, else sorted) plus ``Avg``.

    Columns ``COMPARISON_COLUMNS`` (delta, ci_low, ci_high in points of the mean per-item score; p_adjusted
    is Benjamini-Hochberg over all rows returned) then ``COMPARISON_EXTRA`` (n_clusters; test: "mcnemar",
    "permutation" or "none"; interval: the scipy method used, "constant" when every difference is equal).
    ``Avg`` is the unweighted mean of the benchmark deltas over the benchmarks both methods ran, on the seeds
    that all of them share (with unequal seeds per benchmark it can differ from the mean of the rows above).
    A benchmark with fewer than two paired clusters gets NaN interval and p and is left out of ``Avg``.
    ``rng``: a seed or Generator, for reproducible intervals and permutation p-values.
    Raises ``StatsError`` when nothing pairs."""
    pairs = pair_items(items, baseline, treatment)
    if pairs.empty:
        raise StatsError(
            f"no item is scored for both {baseline!r} and {treatment!r} in the same model, algo, benchmark and seed"
        )
    rng = np.random.default_rng(rng)
    rows = []
    for (model, algo), pair in pairs.groupby(["model", "algo"], sort=True):
        present = list(dict.fromkeys(pair["benchmark"]))
        order = [b for b in benchmarks if b in present] if benchmarks is not None else sorted(present)
        if not order:
            continue
        panels = {}
        for bench in order:
            panel = panel_of(pair[pair["benchmark"] == bench])
            panels[bench] = panel
            if panel.n_clusters < 2:
                rows.append(_row(model, algo, bench, [panel], panel.delta, (np.nan, np.nan, "none"), np.nan, "none"))
                continue
            interval = bootstrap_interval([panel], confidence, n_resamples, rng=rng)
            if mcnemar_applies(panel):
                p_value, test = mcnemar_p(panel), "mcnemar"
            else:
                p_value, test = permutation_p([panel], n_resamples, rng), "permutation"
            rows.append(_row(model, algo, bench, [panel], panel.delta, interval, p_value, test))
        common = sorted(set.intersection(*(set(p.seeds) for p in panels.values())))
        usable = [bench for bench in order if panels[bench].n_clusters >= 2]
        if common and usable:
            avg = [panel_of(pair[pair["benchmark"] == bench], common) for bench in usable]
            delta = float(np.mean([p.delta for p in avg]))
            interval = bootstrap_interval(avg, confidence, n_resamples, rng=rng)
            rows.append(
                _row(model, algo, AVG, avg, delta, interval, permutation_p(avg, n_resamples, rng), "permutation")
            )
    frame = pd.DataFrame(rows, columns=[*COMPARISON_COLUMNS, *COMPARISON_EXTRA])
    return adjust_pvalues(frame)


def adjust_pvalues(comparisons: pd.DataFrame, by: Sequence[str] = ()) -> pd.DataFrame:
    """``p_adjusted``: Benjamini-Hochberg (statsmodels ``multipletests``, fdr_bh) over the rows with a p-value,
    within each group of ``by`` columns (default: one family, the whole table). Never below ``p_value``."""
    frame = comparisons.copy()
    frame["p_adjusted"] = np.nan
    groups = frame.groupby(list(by), sort=False).groups.values() if by else [frame.index]
    for index in groups:
        valid = frame.loc[index, "p_value"].dropna()
        if len(valid):
            frame.loc[valid.index, "p_adjusted"] = multipletests(valid.to_numpy(), method="fdr_bh")[1]
    return frame


def significant(comparisons: pd.DataFrame, alpha: float = 0.05) -> pd.Series:
    """Rows whose adjusted p is below ``alpha`` (the pairs a table may mark)."""
    return comparisons["p_adjusted"].lt(alpha).fillna(False)


# --------------------------------------------------------------------------- across seeds


def cell_scores(items: pd.DataFrame) -> pd.DataFrame:
    """Per (model, algo, method, benchmark, seed) the mean per-item score in points, plus the ``Avg`` over
    the benchmarks the cell ran. Columns ``model, algo, method, benchmark, seed, score``."""
    data = check_items(items)
    keys = ["model", "algo", "method", "benchmark", "seed"]
    scores = data.groupby(keys, as_index=False)["score"].mean()
    scores["score"] *= SCALE
    avg = scores.groupby(["model", "algo", "method", "seed"], as_index=False)["score"].mean()
    avg["benchmark"] = AVG
    return pd.concat([scores, avg[keys + ["score"]]], ignore_index=True)


def seed_summary(cells: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Mean +- t-interval over seeds per cell. ``cells``: ``model, algo, method, benchmark, seed, score``
    (points; e.g. from ``cell_scores`` or the cells' official scores). Returns ``model, algo, method, benchmark,
    mean, ci_low, ci_high, sd, n_seeds`` (``scipy.stats.t``; NaN interval with one seed)."""
    missing = [c for c in ("model", "algo", "method", "benchmark", "seed", "score") if c not in cells]
    if missing:
        raise StatsError(f"cell scores lack columns {missing}; give model, algo, method, benchmark, seed, score")
    data = cells.assign(algo=cells["algo"].fillna("").astype(str), score=pd.to_numeric(cells["score"]))
    rows = []
    for key, group in data.groupby(["model", "algo", "method", "benchmark"], sort=False):
        values = group["score"].dropna().to_numpy(dtype=float)
        n = len(values)
        mean = float(values.mean()) if n else np.nan
        sd = float(values.std(ddof=1)) if n > 1 else np.nan
        if n > 1 and sd > 0:
            low, high = stats.t.interval(confidence, df=n - 1, loc=mean, scale=sd / math.sqrt(n))
        elif n > 1:
            low = high = mean
        else:
            low = high = np.nan
        rows.append((*key, mean, float(low), float(high), sd, n))
    columns = ["model", "algo", "method", "benchmark", "mean", "ci_low", "ci_high", "sd", "n_seeds"]
    return pd.DataFrame(rows, columns=columns)


def probability_of_improvement(treat: Sequence[float], base: Sequence[float]) -> float:
    """P(X > Y) + P(X = Y) / 2 for a random DyCo run X and baseline run Y: the Mann-Whitney U statistic
    over n*m, as rliable defines it (Agarwal et al. 2021, "Deep RL at the edge of the statistical precipice")."""
    x, y = np.asarray(treat, dtype=float), np.asarray(base, dtype=float)
    if not len(x) or not len(y):
        raise StatsError("probability of improvement needs at least one run of each method")
    return float(stats.mannwhitneyu(x, y, alternative="two-sided").statistic / (len(x) * len(y)))


def improvement_table(
    cells: pd.DataFrame,
    baseline: str = "baseline",
    treatment: str = "dyco",
    min_seeds: int = 3,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    rng: np.random.Generator | int | None = None,
) -> pd.DataFrame:
    """Probability of improvement per (model, algo, benchmark) with >= ``min_seeds`` seeds in both methods,
    with a percentile bootstrap interval over runs (``scipy.stats.bootstrap``, the two methods' runs
    resampled independently, as rliable's stratified bootstrap does). Columns ``model, algo, benchmark,
    prob_improvement, ci_low, ci_high, n_seeds``. Empty when no pair has enough seeds."""
    data = cells.assign(algo=cells["algo"].fillna("").astype(str))
    rng = np.random.default_rng(rng)
    rows = []

    def statistic(x, y, axis=-1):
        x, y = np.moveaxis(x, axis, -1)[..., :, None], np.moveaxis(y, axis, -1)[..., None, :]
        return ((x > y) + 0.5 * (x == y)).mean(axis=(-2, -1))

    for (model, algo, bench), group in data.groupby(["model", "algo", "benchmark"], sort=False):
        x = group.loc[group["method"] == treatment, "score"].dropna().to_numpy(dtype=float)
        y = group.loc[group["method"] == baseline, "score"].dropna().to_numpy(dtype=float)
        if min(len(x), len(y)) < min_seeds:
            continue
        point = probability_of_improvement(x, y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ci = stats.bootstrap(
                (x, y),
                statistic,
                paired=False,
                vectorized=True,
                n_resamples=n_resamples,
                confidence_level=confidence,
                method="percentile",
                rng=rng,
            ).confidence_interval
        low = point if not math.isfinite(ci.low) else min(float(ci.low), point)
        high = point if not math.isfinite(ci.high) else max(float(ci.high), point)
        rows.append((model, algo, bench, point, low, high, min(len(x), len(y))))
    columns = ["model", "algo", "benchmark", "prob_improvement", "ci_low", "ci_high", "n_seeds"]
    return pd.DataFrame(rows, columns=columns)


# --------------------------------------------------------------------------- against the paper


def inside(value: float | None, low: float | None, high: float | None) -> bool | None:
    """Whether ``value`` lies in [low, high]; None when any is missing (no interval, no paper value)."""
    if any(v is None or not math.isfinite(float(v)) for v in (value, low, high)):
        return None
    return float(low) <= float(value) <= float(high)


def paper_deltas(reference: pd.DataFrame, treatment_suffix: str = "+dyco") -> pd.DataFrame:
    """The paper's DyCo - baseline per (model, algo, benchmark) from Table 1's reference frame
    (``load_paper_reference``: model, method, <benchmarks...>, Avg; method grpo, grpo+dyco, ...).
    Columns ``model, algo, benchmark, paper_delta``."""
    if not {"model", "method"} <= set(reference.columns):
        raise StatsError("the paper reference needs model and method columns (see evaluation/table1_paper.csv)")
    benches = [c for c in reference.columns if c not in ("model", "method")]
    rows = []
    methods = reference.set_index(["model", "method"])
    for (model, method), values in methods.iterrows():
        if not str(method).endswith(treatment_suffix):
            continue
        algo = str(method)[: -len(treatment_suffix)]
        if (model, algo) not in methods.index:
            continue
        base = methods.loc[(model, algo)]
        for bench in benches:
            delta = pd.to_numeric(values[bench], errors="coerce") - pd.to_numeric(base[bench], errors="coerce")
            rows.append((model, algo, bench, float(delta)))
    return pd.DataFrame(rows, columns=["model", "algo", "benchmark", "paper_delta"])


def with_paper(comparisons: pd.DataFrame, deltas: pd.DataFrame) -> pd.DataFrame:
    """``comparisons`` plus ``paper_delta`` and ``paper_in_ci`` (True / False / None where either is missing)."""
    merged = comparisons.merge(deltas, on=["model", "algo", "benchmark"], how="left")
    merged["paper_in_ci"] = [
        inside(v, lo, hi) for v, lo, hi in zip(merged["paper_delta"], merged["ci_low"], merged["ci_high"], strict=True)
    ]
    return merged
