"""Paired statistics: simulations with a known effect (coverage, false positives, clustering) and the
comparisons table's contract. Simulations call the panel-level functions with few resamples to stay fast."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from dyco_repro.report import stats

REPEATS = 300


def binary_panel(rng, n_items=200, effect=0.0, cluster_size=1, n_seeds=1, seed_sd=0.0, pair_corr=False):
    """Accuracy panel: item difficulty p ~ U(0.2, 0.8), DyCo hits with p + effect (+ a seed shift).
    pair_corr: MME-style, both items of a pair share one draw (so the pair's items agree)."""
    p = rng.uniform(0.2, 0.8, n_items)
    base, treat = [], []
    for _ in range(n_seeds):
        shift = rng.normal(0.0, seed_sd) if seed_sd else 0.0
        u_base, u_treat = rng.random(n_items), rng.random(n_items)
        if pair_corr:  # one uniform per pair: the two questions of an image are answered alike
            u_base = np.repeat(u_base[::cluster_size], cluster_size)[:n_items]
            u_treat = np.repeat(u_treat[::cluster_size], cluster_size)[:n_items]
        base.append((u_base < p).astype(float))
        treat.append((u_treat < p + effect + shift).astype(float))
    base, treat = np.array(base), np.array(treat)
    return panel_from(base, treat, np.arange(n_items) // cluster_size)


def panel_from(base: np.ndarray, treat: np.ndarray, clusters: np.ndarray, name: str = "B") -> stats.Panel:
    """A Panel straight from (seeds, items) score arrays (what panel_of builds from a frame)."""
    ids, inverse = np.unique(clusters, return_inverse=True)
    diff = treat - base
    sums = np.stack([np.bincount(inverse, weights=row, minlength=len(ids)) for row in diff])
    return stats.Panel(
        benchmark=name,
        seeds=tuple(range(base.shape[0])),
        sums=sums,
        sizes=np.bincount(inverse, minlength=len(ids)),
        binary=bool(np.isin(np.concatenate([base.ravel(), treat.ravel()]), (0, 1)).all()),
        base=base.ravel(),
        treat=treat.ravel(),
    )


def frame_of(rng, benchmarks=("MME", "MMBench"), seeds=(0, 1), n_items=60, effect=0.1, models=("M",)):
    rows = []
    for model in models:
        for bench in benchmarks:
            p = rng.uniform(0.2, 0.8, n_items)
            for seed in seeds:
                for method, eff in (("baseline", 0.0), ("dyco", effect)):
                    rows.append(
                        pd.DataFrame(
                            {
                                "model": model,
                                "algo": "grpo",
                                "method": method,
                                "seed": seed,
                                "benchmark": bench,
                                "item": [f"{bench}-{i}" for i in range(n_items)],
                                "cluster": [f"{bench}-{i // 2}" for i in range(n_items)],
                                "score": (rng.random(n_items) < p + eff).astype(float),
                            }
                        )
                    )
    return pd.concat(rows, ignore_index=True)


# --------------------------------------------------------------------------- simulations


def coverage(make, truth: float, rng) -> float:
    hits = 0
    for _ in range(REPEATS):
        low, high, _ = stats.bootstrap_interval([make()], n_resamples=199, rng=rng)
        hits += low <= truth <= high
    return hits / REPEATS


def test_interval_covers_the_true_difference_about_95_percent():
    rng = np.random.default_rng(14)
    rate = coverage(lambda: binary_panel(rng, effect=0.05), 5.0, rng)
    assert 0.90 <= rate <= 0.99, rate


def test_clustered_two_seed_interval_covers_the_true_difference():
    # Two seeds and MME-style pairs with a seed-level shift: items and seeds are both resampled.
    rng = np.random.default_rng(15)
    rate = coverage(
        lambda: binary_panel(rng, effect=0.05, cluster_size=2, n_seeds=2, seed_sd=0.01, pair_corr=True), 5.0, rng
    )
    assert 0.90 <= rate <= 0.99, rate


def false_positive_rate(make, test, rng) -> float:
    return float(np.mean([test(make(), rng) < 0.05 for _ in range(REPEATS)]))


def test_mcnemar_false_positive_rate_is_about_5_percent():
    rng = np.random.default_rng(16)
    rate = false_positive_rate(lambda: binary_panel(rng, n_items=300), lambda p, _: stats.mcnemar_p(p), rng)
    assert 0.02 <= rate <= 0.08, rate


def test_permutation_false_positive_rate_is_about_5_percent():
    rng = np.random.default_rng(17)
    rate = false_positive_rate(
        lambda: binary_panel(rng, cluster_size=2, pair_corr=True),
        lambda p, r: stats.permutation_p([p], n_resamples=199, rng=r),
        rng,
    )
    assert 0.02 <= rate <= 0.08, rate


def test_permutation_detects_a_real_effect():
    rng = np.random.default_rng(18)
    panel = binary_panel(rng, n_items=400, effect=0.2, cluster_size=2)
    assert stats.permutation_p([panel], n_resamples=999, rng=rng) < 0.01


def test_permutation_p_is_scipys_sign_flip_test():
    rng = np.random.default_rng(27)
    for n_items, n_resamples in ((10, 9999), (300, 4999)):  # exact enumeration, then random flips
        panel = binary_panel(rng, n_items=n_items, effect=0.1, cluster_size=2, n_seeds=2)
        shares = panel.sums.sum(0)
        reference = sps.permutation_test(
            (shares,), np.sum, permutation_type="samples", n_resamples=n_resamples, vectorized=True, rng=0
        ).pvalue
        ours = stats.permutation_p([panel], n_resamples=n_resamples, rng=1)
        assert ours == pytest.approx(reference, abs=0.02 if n_items > 10 else 1e-9)


def test_clustered_interval_is_wider_than_naive_with_correlated_pairs():
    rng = np.random.default_rng(19)
    wider = 0
    for _ in range(20):
        clustered = binary_panel(rng, n_items=200, effect=0.05, cluster_size=2, pair_corr=True)
        base, treat = clustered.base[None, :], clustered.treat[None, :]
        naive = panel_from(base, treat, np.arange(base.shape[1]))  # every item its own cluster
        c_low, c_high, _ = stats.bootstrap_interval([clustered], n_resamples=499, rng=rng)
        n_low, n_high, _ = stats.bootstrap_interval([naive], n_resamples=499, rng=rng)
        wider += (c_high - c_low) > (n_high - n_low)
    assert wider >= 18  # pairs answered alike: about sqrt(2) wider, so nearly always


def test_interval_of_constant_differences_is_the_point():
    base = np.zeros((1, 10))
    panel = panel_from(base, base + 1, np.arange(10))
    assert stats.bootstrap_interval([panel], n_resamples=99, rng=0) == (100.0, 100.0, "constant")


# --------------------------------------------------------------------------- comparisons table


def test_comparisons_rows_columns_and_invariants():
    items = frame_of(np.random.default_rng(20), models=("M", "N"))
    table = stats.paired_comparisons(items, benchmarks=["MMBench", "MME"], n_resamples=299, rng=0)
    assert list(table.columns[:10]) == list(stats.COMPARISON_COLUMNS)
    assert list(table["benchmark"]) == ["MMBench", "MME", "Avg"] * 2
    assert (table["ci_low"] <= table["delta"]).all() and (table["delta"] <= table["ci_high"]).all()
    assert (table["p_adjusted"] >= table["p_value"]).all()
    assert (table["n_seeds"] == 2).all() and list(table["n_items"]) == [60, 60, 120] * 2
    for _, group in table.groupby("model"):
        assert group["delta"].iloc[2] == pytest.approx(group["delta"].iloc[:2].mean())
    assert set(table["test"]) == {"permutation"}  # clustered pairs and two seeds: never McNemar


def test_a_benchmark_with_one_cluster_has_no_interval_and_stays_out_of_avg():
    rng = np.random.default_rng(28)
    items = pd.concat(
        [frame_of(rng, benchmarks=("X",), n_items=40), frame_of(rng, benchmarks=("One",), n_items=2)]
    )  # "One": both items in one cluster
    table = stats.paired_comparisons(items, n_resamples=99, rng=0).set_index("benchmark")
    assert math.isnan(table.loc["One", "ci_low"]) and table.loc["One", "test"] == "none"
    assert table.loc["Avg", "delta"] == pytest.approx(table.loc["X", "delta"])
    assert stats.paired_comparisons(items, benchmarks=["Missing"]).empty


def test_delta_is_the_mean_paired_difference_in_points():
    items = frame_of(np.random.default_rng(21), benchmarks=("X",), seeds=(0,))
    table = stats.paired_comparisons(items, n_resamples=99, rng=0)
    by = items.pivot_table(index="item", columns="method", values="score")
    assert table["delta"].iloc[0] == pytest.approx(100 * (by["dyco"] - by["baseline"]).mean())


def test_mcnemar_for_single_seed_unclustered_accuracy():
    items = frame_of(np.random.default_rng(22), benchmarks=("X",), seeds=(0,)).assign(cluster=np.nan)
    row = stats.paired_comparisons(items, n_resamples=99, rng=0).iloc[0]
    assert row["test"] == "mcnemar"
    pairs = stats.pair_items(items)
    b = int(((pairs["base"] == 1) & (pairs["treat"] == 0)).sum())
    c = int(((pairs["base"] == 0) & (pairs["treat"] == 1)).sum())
    assert row["p_value"] == pytest.approx(sps.binomtest(b, b + c).pvalue)


def test_items_missing_from_a_seed_are_left_out_of_the_pair():
    items = frame_of(np.random.default_rng(23), benchmarks=("X",), n_items=10)
    dropped = items[~((items["seed"] == 1) & (items["method"] == "dyco") & (items["item"] == "X-3"))]
    pairs = stats.pair_items(dropped)
    assert "X-3" not in set(pairs["item"]) and pairs["item"].nunique() == 9
    assert stats.paired_comparisons(dropped, n_resamples=99, rng=0)["n_items"].iloc[0] == 9


def test_adjusted_p_is_benjamini_hochberg_and_never_below_raw():
    frame = pd.DataFrame({"p_value": [0.01, 0.04, 0.03, np.nan, 0.5]})
    adjusted = stats.adjust_pvalues(frame)["p_adjusted"]
    assert adjusted.iloc[:3].tolist() == pytest.approx([0.04, 0.16 / 3, 0.16 / 3])  # 4 p-values: p * 4 / rank
    assert math.isnan(adjusted.iloc[3]) and adjusted.iloc[4] == pytest.approx(0.5)
    assert (adjusted.dropna() >= frame["p_value"].dropna()).all()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns="seed"), "lacks columns"),
        (lambda f: f.assign(score=[np.nan] + [1.0] * (len(f) - 1)), "not finite"),
        (lambda f: pd.concat([f, f.iloc[:1]]), "scored twice"),
        (lambda f: f.assign(seed="zero"), "not an integer"),
    ],
)
def test_bad_items_fail_with_one_line(change, message):
    items = frame_of(np.random.default_rng(24), benchmarks=("X",), n_items=4)
    with pytest.raises(stats.StatsError, match=message):
        stats.paired_comparisons(change(items), n_resamples=99)


def test_nothing_paired_is_an_error():
    items = frame_of(np.random.default_rng(25), benchmarks=("X",), n_items=4)
    with pytest.raises(stats.StatsError, match="no item is scored for both"):
        stats.paired_comparisons(items[items["method"] == "dyco"])


# --------------------------------------------------------------------------- VLMEvalKit clusters


def test_vlmeval_clusters_follow_the_benchmarks_units():
    mme = pd.DataFrame({"index": [0, 1, 2, 3], "category": "OCR", "image_path": ["a", "a", "b", "b"]})
    assert stats.vlmeval_clusters(mme, "MME").tolist() == ["OCR/a", "OCR/a", "OCR/b", "OCR/b"]
    hallusion = pd.DataFrame(
        {"index": ["VD_figure_0_1_0_0", "VD_figure_0_1_1_0", "VD_figure_0_2_0_0"], "l2-category": "math"}
    )
    assert stats.vlmeval_clusters(hallusion, "HallusionBench").tolist() == ["math/1", "math/1", "math/2"]
    mmbench = pd.DataFrame({"index": [7, 1_000_007, 2_000_007, 8]})
    assert stats.vlmeval_clusters(mmbench, "MMBench_DEV_EN").tolist() == ["7", "7", "7", "8"]
    assert stats.vlmeval_clusters(mmbench, "MathVision").tolist() == ["7", "1000007", "2000007", "8"]


def test_item_frame_from_a_scored_vlmeval_frame():
    scored = pd.DataFrame({"index": [0, 1], "category": "OCR", "image_path": ["a", "a"], "score": [1, 0]})
    frame = stats.item_frame(
        scored, model="M", algo="grpo", method="dyco", seed=1, benchmark="MME", dataset="MME", score_column="score"
    )
    assert frame.columns.tolist() == list(stats.ITEM_COLUMNS)
    assert frame["cluster"].tolist() == ["OCR/a", "OCR/a"] and frame["score"].tolist() == [1.0, 0.0]
    with pytest.raises(stats.StatsError, match="no 'hit' column"):
        stats.item_frame(scored, model="M", algo="g", method="d", seed=0, benchmark="MME", dataset="MME",
                         score_column="hit")  # fmt: skip


# --------------------------------------------------------------------------- across seeds


def test_seed_summary_is_the_t_interval_over_seeds():
    cells = pd.DataFrame(
        {"model": "M", "algo": "grpo", "method": "dyco", "benchmark": "X", "seed": [0, 1, 2], "score": [50, 52, 57]}
    )
    row = stats.seed_summary(cells).iloc[0]
    half = sps.t.ppf(0.975, 2) * np.std([50, 52, 57], ddof=1) / math.sqrt(3)
    assert row["mean"] == pytest.approx(53.0) and row["n_seeds"] == 3
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((53 - half, 53 + half))
    one = stats.seed_summary(cells.iloc[:1]).iloc[0]
    assert math.isnan(one["ci_low"]) and one["mean"] == 50


def test_cell_scores_add_the_avg_over_benchmarks():
    items = frame_of(np.random.default_rng(26), benchmarks=("X", "Y"), seeds=(0,), n_items=10)
    cells = stats.cell_scores(items)
    dyco = cells[cells["method"] == "dyco"].set_index("benchmark")["score"]
    assert dyco["Avg"] == pytest.approx((dyco["X"] + dyco["Y"]) / 2)


def test_probability_of_improvement():
    assert stats.probability_of_improvement([3, 4, 5], [0, 1, 2]) == 1.0
    assert stats.probability_of_improvement([1, 1], [1, 1]) == 0.5
    assert stats.probability_of_improvement([0, 2], [1, 1]) == 0.5
    cells = pd.DataFrame(
        {
            "model": "M",
            "algo": "grpo",
            "benchmark": "X",
            "method": ["dyco"] * 3 + ["baseline"] * 3,
            "seed": [0, 1, 2] * 2,
            "score": [60, 61, 62, 50, 51, 63],
        }
    )
    table = stats.improvement_table(cells, n_resamples=199, rng=0)
    row = table.iloc[0]
    assert row["prob_improvement"] == pytest.approx(6 / 9)
    assert row["ci_low"] <= row["prob_improvement"] <= row["ci_high"] and row["n_seeds"] == 3
    assert stats.improvement_table(cells[cells["seed"] < 2]).empty  # fewer than three seeds


# --------------------------------------------------------------------------- against the paper


def test_paper_value_inside_the_interval():
    reference = pd.DataFrame(
        {"model": ["M", "M", "M"], "method": ["zero-shot", "grpo", "grpo+dyco"], "X": [10.0, 20.0, 23.0]}
    )
    deltas = stats.paper_deltas(reference)
    assert deltas.to_dict("records") == [{"model": "M", "algo": "grpo", "benchmark": "X", "paper_delta": 3.0}]
    comparisons = pd.DataFrame(
        {"model": "M", "algo": "grpo", "benchmark": ["X", "Y"], "delta": [1.0, 1.0], "ci_low": [0, 0], "ci_high": 2.0}
    )
    checked = stats.with_paper(comparisons, deltas)
    assert checked["paper_in_ci"].tolist() == [False, None]
    assert stats.inside(1.0, 0.5, 1.5) is True and stats.inside(None, 0, 1) is None
