"""Sweep sizing from observed variance: the variance split, the seeds / items needed, and the CLI."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from dyco_repro.report import power, stats


def panel(rng, n_seeds=4, n_clusters=400, item_sd=5.0, seed_sd=2.0, noise_sd=30.0) -> stats.Panel:
    """Continuous per-item differences (points / 100) with known components, one item per cluster."""
    diffs = (
        1.5
        + rng.normal(0, item_sd, n_clusters)[None, :]
        + rng.normal(0, seed_sd, n_seeds)[:, None]
        + rng.normal(0, noise_sd, (n_seeds, n_clusters))
    ) / stats.SCALE
    zeros = np.zeros_like(diffs)
    return stats.Panel("MMBench", tuple(range(n_seeds)), diffs, np.ones(n_clusters, int), False, zeros, diffs)


def test_components_recover_the_simulated_variances():
    rng = np.random.default_rng(0)
    found = [power.components(panel(rng, n_seeds=8, n_clusters=2000)) for _ in range(20)]
    assert np.mean([v.item for v in found]) == pytest.approx(25.0, rel=0.25)
    assert np.mean([v.seed for v in found]) == pytest.approx(4.0, rel=0.35)
    assert np.mean([v.residual for v in found]) == pytest.approx(900.0, rel=0.05)


def test_one_seed_leaves_the_seed_variance_unknown():
    var = power.components(panel(np.random.default_rng(1), n_seeds=1))
    assert math.isnan(var.seed) and power.seeds_needed(var, 1.5) is None
    assert power.items_needed(var, 1.5) > var.n_items


def test_needs_shrink_as_the_difference_grows_and_reach_the_target_power():
    var = power.Variance("M", "grpo", "X", item=25.0, seed=1.0, residual=900.0, n_clusters=1000, n_items=1000,
                         n_seeds=2, source="items")  # fmt: skip
    small, large = power.seeds_needed(var, 1.5), power.seeds_needed(var, 3.0)
    assert large < small
    assert power.power_at(var, 1.5, small, var.n_clusters) >= 0.8 > power.power_at(var, 1.5, small - 1, 1000)
    items = power.items_needed(var, 3.0)
    assert power.power_at(var, 3.0, 2, items) >= 0.8 > power.power_at(var, 3.0, 2, items - 1)
    # Seed variance alone keeps a 2-seed sweep from ever seeing 1.5 points: SE >= sqrt(1 / 2) > 1.5 / 2.8.
    assert power.items_needed(var, 1.5) is None


def test_power_matches_the_z_test():
    var = power.Variance("", "", "X", item=0.0, seed=0.0, residual=100.0, n_clusters=100, n_items=100,
                         n_seeds=1, source="items")  # fmt: skip
    # SE = 1 point: power of |Z + 2.8| > 1.96 is 0.80.
    assert power.power_at(var, 2.8, 1, 100) == pytest.approx(0.80, abs=0.005)


def write_items(tmp_path, seeds=(0, 1, 2)):
    rng = np.random.default_rng(3)
    rows = []
    p = rng.uniform(0.2, 0.8, 300)
    for seed in seeds:
        for method, effect in (("baseline", 0.0), ("dyco", 0.02)):
            rows.append(
                pd.DataFrame(
                    {
                        "model": "M",
                        "algo": "grpo",
                        "method": method,
                        "seed": seed,
                        "benchmark": "MMBench",
                        "item": np.arange(300),
                        "cluster": np.arange(300) // 4,
                        "score": (rng.random(300) < p + effect).astype(float),
                    }
                )
            )
    path = tmp_path / "items.csv"
    pd.concat(rows).to_csv(path, index=False)
    return path


def test_cli_plans_from_items_and_from_comparisons(tmp_path, capsys):
    items = write_items(tmp_path)
    assert power.main(["--delta", "1.5", "--benchmark", "MMBench", "--from", str(items)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("M grpo MMBench: delta=1.5 points at 80% power") and "seeds:" in line and "items:" in line
    comparisons = stats.paired_comparisons(pd.read_csv(items), n_resamples=199, rng=0)
    comparisons.to_csv(tmp_path / "comparisons.csv", index=False)
    assert power.main(["--delta", "2", "--benchmark", "Avg", "--from", str(tmp_path / "comparisons.csv")]) == 0
    assert "from the CI only" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--delta", "0", "--benchmark", "MMBench"], "must be a positive number"),
        (["--delta", "1", "--benchmark", "Nope"], "no paired 'Nope' data"),
        (["--delta", "1", "--benchmark", "Avg"], "plan Avg from comparisons.csv"),
        (["--delta", "1", "--benchmark", "MMBench", "--power", "1.2"], "strictly between 0 and 1"),
        (["--benchmark", "MMBench"], "required: --delta"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, message):
    items = write_items(tmp_path, seeds=(0,))
    with pytest.raises(SystemExit) as exit_info:
        raise SystemExit(power.main([*argv, "--from", str(items)]))
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_cli_rejects_missing_and_unknown_files(tmp_path, capsys):
    assert_exit_2 = []
    for path in (tmp_path / "absent.csv", tmp_path / "x.txt"):
        if path.suffix == ".txt":
            path.write_text("a,b\n1,2\n")
        with pytest.raises(SystemExit) as exit_info:
            raise SystemExit(power.main(["--delta", "1", "--benchmark", "X", "--from", str(path)]))
        assert_exit_2.append(exit_info.value.code)
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    assert power.main(["--delta", "1", "--benchmark", "X", "--from", str(tmp_path / "other.csv")]) == 2
    assert assert_exit_2 == [2, 2]
    assert "neither the per-item columns" in capsys.readouterr().err


@pytest.mark.parametrize("inside", [None, "comparisons.csv", "report/comparisons.csv"])
def test_cli_names_the_comparisons_file_when_given_a_directory(tmp_path, capsys, inside):
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    if inside:
        (sweep / inside).parent.mkdir(exist_ok=True)
        (sweep / inside).write_text("benchmark,delta\n")
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(SystemExit) as exit_info:
        power.main(["--delta", "1", "--benchmark", "MMBench", "--from", str(sweep)])
    err = capsys.readouterr().err
    named = str(sweep / inside) if inside else "a sweep's report/comparisons.csv"
    assert exit_info.value.code == 2 and err.count("\n") == 1
    assert err.startswith(f"error: --from {sweep} is a directory; give the comparisons.csv file ({named})")
    assert sorted(tmp_path.rglob("*")) == before
