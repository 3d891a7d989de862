"""Forest plot of the paired DyCo - baseline differences of ``comparisons.csv`` (``stats.paired_comparisons``).

One line per (model, algo, benchmark) row: the difference in points with its confidence interval, a filled
marker where the Benjamini-Hochberg adjusted p is below alpha, a hollow one elsewhere, the ``Avg`` rows as
diamonds, and the paper's difference as a cross where the frame has ``paper_delta`` (``stats.with_paper``).
Drawn with matplotlib's object API on an Agg canvas and written atomically, like the other report figures.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from .plots import _save_png
from .stats import AVG

NEEDED = ("model", "algo", "benchmark", "delta", "ci_low", "ci_high", "p_adjusted")


def plot_forest(
    comparisons: pd.DataFrame, out: str | Path, alpha: float = 0.05, title: str = "DyCo - baseline (paired)"
) -> Path | None:
    """Write the forest plot PNG to ``out`` and return it; None (nothing written) when no row has a delta.

    ``comparisons``: the columns of ``stats.COMPARISON_COLUMNS`` (at least ``NEEDED``), rows in the order to
    draw them top to bottom; an optional ``paper_delta`` column adds the paper's differences."""
    missing = [c for c in NEEDED if c not in comparisons]
    if missing:
        raise ValueError(f"comparisons lack columns {missing}; build them with stats.paired_comparisons")
    rows = comparisons[pd.to_numeric(comparisons["delta"], errors="coerce").notna()].reset_index(drop=True)
    if rows.empty:
        return None
    fig = Figure(figsize=(7.5, 1.2 + 0.32 * len(rows)))
    ax = fig.add_subplot()
    y = list(range(len(rows)))[::-1]  # first row on top
    labels = []
    for pos, (_, row) in zip(y, rows.iterrows(), strict=True):
        algo = row["algo"] if isinstance(row["algo"], str) else ""
        labels.append(" ".join(str(p) for p in (row["model"], algo, row["benchmark"]) if p))
        low, high, delta = float(row["ci_low"]), float(row["ci_high"]), float(row["delta"])
        color = "tab:red" if delta >= 0 else "tab:blue"
        if math.isfinite(low) and math.isfinite(high):
            ax.plot([low, high], [pos, pos], color=color, linewidth=1.6)
        significant = pd.notna(row["p_adjusted"]) and float(row["p_adjusted"]) < alpha
        ax.plot(
            delta,
            pos,
            marker="D" if row["benchmark"] == AVG else "o",
            markersize=7 if row["benchmark"] == AVG else 5.5,
            color=color,
            markerfacecolor=color if significant else "white",
            linestyle="none",
        )
        if "paper_delta" in rows and pd.notna(row["paper_delta"]):
            ax.plot(float(row["paper_delta"]), pos, marker="x", color="black", markersize=5, linestyle="none")
    ax.axvline(0.0, color="gray", linewidth=0.8, linestyle="--")
    ax.set_yticks(y, labels, fontsize="small")
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel("DyCo - baseline (points, with CI)")
    ax.grid(axis="x", alpha=0.3)
    legend = f"filled: adjusted p < {alpha:g}; hollow: not significant; diamond: Avg"
    if "paper_delta" in rows:
        legend += "; x: paper"
    ax.set_title(f"{title}\n{legend}", fontsize="medium")
    return _save_png(fig, out)
