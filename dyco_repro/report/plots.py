"""Figures for the report: reward curves, DyCo role fractions, baseline-vs-DyCo bars.

Figures are built with matplotlib's object API on an Agg canvas (no pyplot: no global backend
switch, no figures left open). Every function writes its PNG atomically and returns the path,
or returns None and writes nothing when there is no data to draw.
"""

from __future__ import annotations

import math
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..atomic import atomic_file
from .table import AVG, Table, shown

Points = list[tuple[int, float]]
# Fixed colours, so a role reads the same in every panel and every report.
ROLE_COLORS = {"visual": "tab:blue", "textual": "tab:orange", "neutral": "tab:gray"}
PAIR_COLORS = {"baseline": "tab:gray", "dyco": "tab:red"}
LINE_STYLES = ("-", "--", ":", "-.")


def _clean(series: Points) -> Points:
    """Points sorted by step, non-finite values dropped (a NaN would break the line silently)."""
    return sorted((int(step), float(value)) for step, value in series if math.isfinite(float(value)))


def _save_png(fig: Figure, out: str | Path) -> Path:
    out = Path(out)
    FigureCanvasAgg(fig)
    with atomic_file(out, "wb") as handle:
        fig.savefig(handle, format="png", dpi=120, bbox_inches="tight")
    return out


def _legend(ax, count: int) -> None:
    """Inside the axes for a few lines; beside them for many, where it cannot hide a curve."""
    if count <= 6:
        ax.legend(fontsize="small", frameon=False, loc="best")
    else:
        ax.legend(fontsize="small", frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1), ncol=1 + count // 20)


def plot_reward_curves(curves: dict[str, Points], out: str | Path, title: str = "Training reward") -> Path | None:
    """One line per cell (label -> (step, reward) points)."""
    curves = {label: _clean(points) for label, points in curves.items()}
    curves = {label: points for label, points in curves.items() if points}
    if not curves:
        return None
    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot()
    for index, (label, points) in enumerate(curves.items()):
        steps, values = zip(*points, strict=True)
        style = LINE_STYLES[index // 10 % len(LINE_STYLES)]  # the colour cycle repeats after ten lines
        ax.plot(steps, values, style, label=label, marker="." if len(points) < 30 else None, linewidth=1.4)
    ax.set(title=title, xlabel="step", ylabel="reward")
    ax.grid(alpha=0.3)
    _legend(ax, len(curves))
    return _save_png(fig, out)


def plot_role_fractions(
    fractions: dict[str, dict[str, Points]], out: str | Path, title: str = "DyCo token roles during training"
) -> Path | None:
    """One panel per cell, one line per role (cell -> role -> (step, fraction) points)."""
    cells = {cell: {role: _clean(points) for role, points in roles.items()} for cell, roles in fractions.items()}
    cells = {cell: roles for cell, roles in cells.items() if any(roles.values())}
    if not cells:
        return None
    ncols = min(3, len(cells))
    nrows = math.ceil(len(cells) / ncols)
    fig = Figure(figsize=(4.2 * ncols, 3.2 * nrows + 0.6))
    axes = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False).ravel()
    extra_roles = sorted({role for roles in cells.values() for role in roles} - set(ROLE_COLORS))
    palette = ["tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan"]
    colors = {**ROLE_COLORS, **{role: palette[i % len(palette)] for i, role in enumerate(extra_roles)}}
    handles = {}
    for ax, (cell, roles) in zip(axes, cells.items(), strict=False):
        for role, points in roles.items():
            if points:
                steps, values = zip(*points, strict=True)
                (line,) = ax.plot(steps, values, color=colors[role], label=role, linewidth=1.4)
                handles.setdefault(role, line)
        ax.set_title(cell, fontsize="medium")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    for ax in axes[len(cells) :]:
        ax.set_visible(False)
    for index, ax in enumerate(axes[: len(cells)]):
        if index + ncols >= len(cells):  # lowest visible panel of its column: it carries the step axis
            ax.xaxis.set_tick_params(labelbottom=True)
            ax.set_xlabel("step")
    for ax in axes[::ncols]:
        ax.set_ylabel("fraction of tokens")
    fig.suptitle(title)
    fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=len(handles), frameon=False)
    fig.subplots_adjust(bottom=0.18 if nrows == 1 else 0.1, hspace=0.35)
    return _save_png(fig, out)


def _pair_means(table: Table, model: str) -> tuple[list[str], list[float], list[float], list[str]]:
    """Per column, baseline and DyCo means over the algorithms where both have a number
    (paired, so both bars average the same runs)."""
    columns = [*table.benchmarks, AVG]
    rows = [row for row in table.rows if row.model == model and row.method in ("baseline", "dyco")]
    algos = list(dict.fromkeys(row.algo for row in rows))
    by_key = {(row.algo, row.method): row for row in rows}
    labels, base_means, dyco_means, used = [], [], [], []
    for column in columns:
        pairs = {
            algo: (by_key[(algo, "baseline")].cells[column].value, by_key[(algo, "dyco")].cells[column].value)
            for algo in algos
        }
        pairs = {algo: (b, d) for algo, (b, d) in pairs.items() if b is not None and d is not None}
        if pairs:
            labels.append(column)
            base_means.append(sum(b for b, _ in pairs.values()) / len(pairs))
            dyco_means.append(sum(d for _, d in pairs.values()) / len(pairs))
            used += [algo for algo in pairs if algo not in used]
    return labels, base_means, dyco_means, [algo.upper() for algo in used]


def plot_pair_bars(table: Table, out: str | Path, title: str = "Baseline vs + DyCo-RL") -> Path | None:
    """Grouped bars per benchmark (and Avg), one panel per model, averaged over algorithms."""
    panels = [(model, *_pair_means(table, model)) for model in table.models]
    panels = [panel for panel in panels if panel[1]]
    if not panels:
        return None
    fig = Figure(figsize=(max(6.0, 0.9 * max(len(p[1]) for p in panels) + 1.5), 3.6 * len(panels) + 0.4))
    axes = fig.subplots(len(panels), 1, squeeze=False).ravel()
    width = 0.38
    for ax, (model, labels, base, dyco, algos) in zip(axes, panels, strict=True):
        xs = range(len(labels))
        for offset, values, key, name in (
            (-width / 2, base, "baseline", "baseline"),
            (width / 2, dyco, "dyco", "+ DyCo-RL"),
        ):
            bars = ax.bar([x + offset for x in xs], values, width, label=name, color=PAIR_COLORS[key])
            ax.bar_label(bars, labels=[f"{shown(v):.1f}" for v in values], fontsize="x-small", padding=1)
        ax.set_xticks(
            list(xs), labels, rotation=20 if len(labels) > 5 else 0, ha="right" if len(labels) > 5 else "center"
        )
        ax.set_ylabel("score")
        ax.set_ylim(0, min(105.0, max(base + dyco) * 1.15 + 1))
        ax.set_title(f"{model}: mean over {', '.join(algos)}", fontsize="medium")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize="small", frameon=False, loc="upper left")
    fig.suptitle(title)
    fig.tight_layout()
    return _save_png(fig, out)
