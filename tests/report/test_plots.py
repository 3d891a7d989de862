"""Report figures: a real PNG with something drawn on it, or None (and no file) without data."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dyco_repro.report.plots import plot_pair_bars, plot_reward_curves, plot_role_fractions
from dyco_repro.report.table import CellResult, Score, build_table

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
COLUMNS = [("Math", ["Synth_Math"]), ("Visual", ["Synth_MCQ", "Synth_MME"])]


def assert_real_png(path, min_side=200):
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert path.stat().st_size > 5_000
    with Image.open(path) as image:
        image.load()
        assert image.format == "PNG" and min(image.size) >= min_side
        pixels = np.asarray(image.convert("L"))
    assert pixels.std() > 5  # not a blank canvas
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []  # no temp files left


def test_reward_curves(tmp_path):
    curves = {
        "tiny-s grpo": [(step, 0.2 + 0.01 * step) for step in range(20)],
        "tiny-s grpo+dyco": [(step, 0.25 + 0.012 * step) for step in reversed(range(20))],  # unsorted input
        "empty": [],
    }
    path = plot_reward_curves(curves, tmp_path / "plots" / "reward.png")
    assert path == tmp_path / "plots" / "reward.png"
    assert_real_png(path)


def test_role_fractions(tmp_path):
    series = lambda base: [(step, base + 0.001 * step) for step in range(0, 50, 5)]
    fractions = {f"cell {i}": {"visual": series(0.2), "textual": series(0.3), "neutral": series(0.4)} for i in range(4)}
    fractions["cell 0"]["other"] = series(0.05)  # an unexpected role gets a colour too
    path = plot_role_fractions(fractions, tmp_path / "roles.png")
    assert_real_png(path)


def tiny_table():
    def scores(*values):
        return {
            k: Score(v, "exact_matching", True)
            for k, v in zip(["Synth_Math", "Synth_MCQ", "Synth_MME"], values, strict=True)
        }

    records = [
        CellResult("tiny-s", "zero-shot", None, scores(10.0, 20.0, 30.0)),
        CellResult("tiny-s", "baseline", "grpo", scores(40.0, 50.0, 60.0)),
        CellResult("tiny-s", "dyco", "grpo", scores(42.0, 55.0, 58.0)),
        CellResult("tiny-s", "baseline", "dapo", {"Synth_Math": Score(None, "none", False)}),
        CellResult("tiny-s", "dyco", "dapo", scores(35.0, 25.0, 40.0)),
        CellResult("tiny-m", "baseline", "grpo", scores(45.0, 52.0, 61.0)),
        CellResult("tiny-m", "dyco", "grpo", scores(47.0, 56.0, 60.0)),
    ]
    return build_table(records, COLUMNS)


def test_pair_bars(tmp_path):
    path = plot_pair_bars(tiny_table(), tmp_path / "bars.png")
    assert_real_png(path)


def test_pair_bars_average_only_complete_pairs():
    from dyco_repro.report.plots import _pair_means

    labels, base, dyco, algos = _pair_means(tiny_table(), "tiny-s")
    # DAPO's baseline has no number anywhere, so every bar is GRPO alone: the bars compare like with like.
    assert labels == ["Synth_Math", "Synth_MCQ", "Synth_MME", "Avg"]
    assert base == pytest.approx([40.0, 50.0, 60.0, 50.0])
    assert dyco == pytest.approx([42.0, 55.0, 58.0, 155.0 / 3])
    assert algos == ["GRPO"]


def test_no_data_returns_none_and_writes_nothing(tmp_path):
    assert plot_reward_curves({}, tmp_path / "a.png") is None
    assert plot_reward_curves({"cell": []}, tmp_path / "a.png") is None
    assert plot_reward_curves({"cell": [(0, float("nan"))]}, tmp_path / "a.png") is None
    assert plot_role_fractions({}, tmp_path / "b.png") is None
    assert plot_role_fractions({"cell": {"visual": []}}, tmp_path / "b.png") is None
    only_zero_shot = build_table(
        [CellResult("tiny-s", "zero-shot", None, {"Synth_Math": Score(10.0, "exact_matching", True)})], COLUMNS
    )
    assert plot_pair_bars(only_zero_shot, tmp_path / "c.png") is None
    unpaired = build_table(
        [CellResult("tiny-s", "baseline", "grpo", {"Synth_Math": Score(10.0, "exact_matching", True)})], COLUMNS
    )
    assert plot_pair_bars(unpaired, tmp_path / "c.png") is None
    assert list(tmp_path.iterdir()) == []
