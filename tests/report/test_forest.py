"""Forest plot of the paired differences."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from dyco_repro.report.forest import plot_forest


def comparisons(**extra) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "model": "M",
            "algo": ["grpo", "grpo", "grpo"],
            "benchmark": ["MME", "MMBench", "Avg"],
            "delta": [1.0, -0.5, 0.25],
            "ci_low": [0.2, -2.0, -0.5],
            "ci_high": [2.0, 1.0, 1.0],
            "p_adjusted": [0.01, 0.6, np.nan],
            **extra,
        }
    )


def test_forest_plot_is_written_atomically(tmp_path):
    out = plot_forest(comparisons(paper_delta=[2.5, 1.0, None]), tmp_path / "forest.png")
    assert out == tmp_path / "forest.png"
    assert Image.open(out).size[1] > 150
    assert [p.name for p in tmp_path.iterdir()] == ["forest.png"]  # no temp file left behind


def test_no_delta_no_figure(tmp_path):
    assert plot_forest(comparisons().assign(delta=np.nan), tmp_path / "forest.png") is None
    assert not (tmp_path / "forest.png").exists()


def test_missing_columns_are_named(tmp_path):
    with pytest.raises(ValueError, match="p_adjusted"):
        plot_forest(comparisons().drop(columns="p_adjusted"), tmp_path / "forest.png")
