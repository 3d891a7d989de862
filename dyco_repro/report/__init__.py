"""Run results -> paper-style tables (Markdown, LaTeX, CSV) and figures. Pure pandas + matplotlib."""

from .plots import plot_pair_bars, plot_reward_curves, plot_role_fractions
from .table import (
    DEFAULT_ALGO_ORDER,
    PAPER_COLUMNS,
    Cell,
    CellResult,
    Row,
    Score,
    Table,
    build_table,
    load_paper_reference,
    to_csv,
    to_frame,
    to_latex,
    to_markdown,
    write_all,
)

__all__ = [
    "DEFAULT_ALGO_ORDER",
    "PAPER_COLUMNS",
    "Cell",
    "CellResult",
    "Row",
    "Score",
    "Table",
    "build_table",
    "load_paper_reference",
    "plot_pair_bars",
    "plot_reward_curves",
    "plot_role_fractions",
    "to_csv",
    "to_frame",
    "to_latex",
    "to_markdown",
    "write_all",
]
