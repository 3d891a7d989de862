"""How many seeds / items a sweep needs to detect a DyCo - baseline difference, from the observed variance.

    python -m dyco_repro.report.power --delta 1.5 --benchmark MMBench --from <per-item file | comparisons.csv>
        [--model M] [--algo A] [--power 0.8] [--alpha 0.05] [--baseline baseline] [--treatment dyco]

``--from`` takes either
- a per-item file (csv, tsv, parquet or jsonl with ``stats.ITEM_COLUMNS``): the paired differences are split
  into an item part (shared by every seed: more seeds do not shrink it), a between-seed part and a residual,
  by the two-way ANOVA moment estimates on the seeds x clusters panel of cluster-mean differences; or
- a ``comparisons.csv`` (``stats.COMPARISON_COLUMNS``): only the interval's standard error is known, so all of
  it is taken to shrink as 1 / (seeds x items), which is optimistic when seeds differ systematically.

The model of the paired mean difference (points) with S seeds and C clusters is
    SE^2 = item / C + seed / S + residual / (C * S)
and power is that of the two-sided z-test of delta / SE (statsmodels ``NormalIndPower`` with ratio=0, a
one-sample test); with two or three seeds a t-test would need a larger sweep, so treat small seed counts as
a lower bound. Items are planned in whole clusters (MME's pairs, MMBench's circular groups).
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from scipy import stats as sps
from statsmodels.stats.power import NormalIndPower

from . import stats

MAX_SEEDS = 1000
MAX_CLUSTERS = 10**8


@dataclass(frozen=True)
class Variance:
    """Variance components of one benchmark's paired difference, in points^2 per cluster / per seed."""

    model: str
    algo: str
    benchmark: str
    item: float  # between clusters, shared by all seeds
    seed: float  # between seeds, shared by all clusters; NaN when one seed cannot tell
    residual: float  # cluster x seed
    n_clusters: int
    n_items: int
    n_seeds: int
    source: str  # "items" or "comparisons"

    def se(self, seeds: int, clusters: float) -> float:
        seed = 0.0 if math.isnan(self.seed) else self.seed
        return math.sqrt(self.item / clusters + seed / seeds + self.residual / (clusters * seeds))

    @property
    def items_per_cluster(self) -> float:
        return self.n_items / self.n_clusters


def components(panel: stats.Panel, model: str = "", algo: str = "") -> Variance:
    """Two-way ANOVA (no replication) moment estimates on the seeds x clusters panel of cluster-mean
    differences (points); negative estimates are set to 0. One seed: all variance counts as item variance."""
    diffs = stats.SCALE * panel.sums / panel.sizes  # (S, C)
    n_seeds, n_clusters = diffs.shape
    if n_clusters < 2:
        raise stats.StatsError(f"{panel.benchmark}: fewer than two paired clusters; no variance to plan from")
    common = dict(
        model=model,
        algo=algo,
        benchmark=panel.benchmark,
        n_clusters=n_clusters,
        n_items=panel.n_items,
        n_seeds=n_seeds,
        source="items",
    )
    if n_seeds == 1:
        return Variance(item=float(diffs.var(ddof=1)), seed=math.nan, residual=0.0, **common)
    grand = diffs.mean()
    rows, cols = diffs.mean(1, keepdims=True), diffs.mean(0, keepdims=True)
    ms_seed = n_clusters * float(((rows - grand) ** 2).sum()) / (n_seeds - 1)
    ms_cluster = n_seeds * float(((cols - grand) ** 2).sum()) / (n_clusters - 1)
    ms_res = float(((diffs - rows - cols + grand) ** 2).sum()) / ((n_seeds - 1) * (n_clusters - 1))
    return Variance(
        item=max(0.0, (ms_cluster - ms_res) / n_seeds),
        seed=max(0.0, (ms_seed - ms_res) / n_clusters),
        residual=ms_res,
        **common,
    )


def from_comparison(row: pd.Series, confidence: float = 0.95) -> Variance:
    """Variance of one ``comparisons.csv`` row from its interval: SE = width / (2 z), all of it residual."""
    width = float(row["ci_high"]) - float(row["ci_low"])
    n_items, n_seeds = int(row["n_items"]), int(row["n_seeds"])
    n_clusters = int(row["n_clusters"]) if "n_clusters" in row and pd.notna(row["n_clusters"]) else n_items
    if not math.isfinite(width) or n_items < 2 or n_seeds < 1:
        raise stats.StatsError(f"{row['benchmark']}: the row has no interval; plan from the per-item file instead")
    se = width / (2 * sps.norm.ppf(0.5 + confidence / 2))
    return Variance(
        model=str(row["model"]),
        algo=str(row["algo"]) if pd.notna(row["algo"]) else "",
        benchmark=str(row["benchmark"]),
        item=0.0,
        seed=0.0,
        residual=se**2 * n_seeds * n_clusters,
        n_clusters=n_clusters,
        n_items=n_items,
        n_seeds=n_seeds,
        source="comparisons",
    )


def power_at(var: Variance, delta: float, seeds: int, clusters: float, alpha: float = 0.05) -> float:
    """Power of the two-sided test of a true difference ``delta`` (points) with ``seeds`` x ``clusters``."""
    se = var.se(seeds, clusters)
    if se == 0:
        return 1.0
    return float(NormalIndPower().power(effect_size=abs(delta) / se, nobs1=1, alpha=alpha, ratio=0))


def seeds_needed(var: Variance, delta: float, power: float = 0.8, alpha: float = 0.05) -> int | None:
    """Fewest seeds reaching ``power`` at the observed number of items; None when the between-seed variance
    is unknown (one seed) or even ``MAX_SEEDS`` seeds cannot beat the item variance."""
    if math.isnan(var.seed):
        return None
    for seeds in range(1, MAX_SEEDS + 1):
        if power_at(var, delta, seeds, var.n_clusters, alpha) >= power:
            return seeds
    return None


def items_needed(var: Variance, delta: float, power: float = 0.8, alpha: float = 0.05) -> int | None:
    """Fewest items (whole clusters) reaching ``power`` at the observed number of seeds; None when the
    between-seed variance alone keeps the power below target."""
    if power_at(var, delta, var.n_seeds, MAX_CLUSTERS, alpha) < power:
        return None
    low, high = 1, MAX_CLUSTERS  # power grows with clusters: bisect for the first that reaches it
    while low < high:
        mid = (low + high) // 2
        if power_at(var, delta, var.n_seeds, mid, alpha) >= power:
            high = mid
        else:
            low = mid + 1
    return math.ceil(low * var.items_per_cluster)


def plan_line(var: Variance, delta: float, power: float = 0.8, alpha: float = 0.05) -> str:
    """One line: the observed design's power, and the seeds / items needed for ``power``."""
    now = power_at(var, delta, var.n_seeds, var.n_clusters, alpha)
    seeds = seeds_needed(var, delta, power, alpha)
    items = items_needed(var, delta, power, alpha)
    who = " ".join(p for p in (var.model, var.algo) if p)
    head = (
        f"{who} {var.benchmark}: delta={delta:g} points at {power:.0%} power (alpha={alpha:g}, two-sided); "
        f"now {var.n_seeds} seed(s) x {var.n_items} items: SE {var.se(var.n_seeds, var.n_clusters):.2f}, "
        f"power {now:.0%}"
    )
    if math.isnan(var.seed):
        seed_part = "seeds: unknown from one seed (run >= 2 seeds to measure seed variance)"
    elif seeds is None:
        seed_part = f"seeds: not reachable with {var.n_items} items (item variance dominates)"
    else:
        seed_part = f"seeds: {seeds} at {var.n_items} items"
    item_part = (
        f"items: {items} at {var.n_seeds} seed(s)"
        if items is not None
        else f"items: not reachable at {var.n_seeds} seed(s) (seed variance dominates)"
    )
    parts = f"item var {var.item:.2f}, seed var {var.seed:.2f}, residual {var.residual:.2f}"
    if var.source == "comparisons":
        parts = "from the CI only: item and seed variance not separated, assumed to shrink with seeds x items"
    return f"{head}; {seed_part}; {item_part} [{parts}]"


# --------------------------------------------------------------------------- CLI


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse prints usage + error; the project's entry points say one line
        print(f"error: {message}; see python -m dyco_repro.report.power --help", file=sys.stderr)
        raise SystemExit(2)


def read_table(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix == ".jsonl":
        return pd.read_json(path, lines=True)
    if suffix in (".tsv", ".csv"):
        return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",", keep_default_na=True)
    raise stats.StatsError(f"--from {path}: unknown format {suffix!r}; give a .csv, .tsv, .parquet or .jsonl file")


def variances(
    frame: pd.DataFrame, benchmark: str, model: str | None, algo: str | None, baseline: str, treatment: str
) -> list[Variance]:
    if set(stats.COMPARISON_COLUMNS) <= set(frame.columns):
        rows = frame[frame["benchmark"].astype(str) == benchmark]
        rows = rows[rows["model"].astype(str) == model] if model else rows
        rows = rows[rows["algo"].fillna("").astype(str) == algo] if algo else rows
        return [from_comparison(row) for _, row in rows.iterrows()]
    if set(stats.ITEM_COLUMNS) - {"cluster"} <= set(frame.columns):
        if benchmark == stats.AVG:
            raise stats.StatsError("plan Avg from comparisons.csv, or plan each benchmark from the per-item file")
        pairs = stats.pair_items(frame, baseline, treatment)
        pairs = pairs[pairs["benchmark"] == benchmark]
        pairs = pairs[pairs["model"] == model] if model else pairs
        pairs = pairs[pairs["algo"] == algo] if algo else pairs
        return [components(stats.panel_of(group), m, a) for (m, a), group in pairs.groupby(["model", "algo"])]
    raise stats.StatsError(
        f"the file has neither the per-item columns ({', '.join(stats.ITEM_COLUMNS)}) nor the comparisons.csv "
        f"columns ({', '.join(stats.COMPARISON_COLUMNS)})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m dyco_repro.report.power", description=__doc__.split("\n")[0])
    parser.add_argument("--delta", type=float, required=True, help="difference to detect, in points (0-100 scale)")
    parser.add_argument("--benchmark", required=True, help="Table 1 column, e.g. MMBench (Avg: comparisons only)")
    parser.add_argument("--from", dest="source", type=Path, required=True, help="per-item file or comparisons.csv")
    parser.add_argument("--model", help="only this model label")
    parser.add_argument("--algo", help="only this algorithm")
    parser.add_argument("--power", type=float, default=0.8)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--baseline", default="baseline")
    parser.add_argument("--treatment", default="dyco")
    args = parser.parse_args(argv)
    if not math.isfinite(args.delta) or args.delta <= 0:
        parser.error(f"--delta {args.delta:g} must be a positive number of points")
    if not 0 < args.power < 1 or not 0 < args.alpha < 1:
        parser.error("--power and --alpha must lie strictly between 0 and 1")
    if args.source.is_dir():
        inside = [args.source / "comparisons.csv", args.source / "report" / "comparisons.csv"]
        found = next((str(path) for path in inside if path.is_file()), "a sweep's report/comparisons.csv")
        parser.error(f"--from {args.source} is a directory; give the comparisons.csv file ({found}) or a per-item file")
    if not args.source.is_file():
        parser.error(f"--from {args.source} does not exist; give a per-item file or a sweep's report/comparisons.csv")
    try:
        frame = read_table(args.source)
        found = variances(frame, args.benchmark, args.model, args.algo, args.baseline, args.treatment)
        if not found:
            known = sorted(set(frame["benchmark"].astype(str))) if "benchmark" in frame else []
            raise stats.StatsError(
                f"no paired {args.benchmark!r} data in {args.source}"
                + (f"; benchmarks there: {', '.join(known)}" if known else "")
            )
        lines = [plan_line(v, args.delta, args.power, args.alpha) for v in found]
    except (stats.StatsError, ValueError, OSError) as err:
        print(f"error: {err}".splitlines()[0], file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
