"""Seeds as a sweep axis, end to end on the tiny world: two seeds of a GRPO baseline / DyCo pair give a table
with intervals over seeds and a comparisons file with paired intervals and adjusted p-values."""

import json

import pandas as pd
import pytest
from sweep_helpers import cell_runs, run, sweep_command, sweep_id_of

from dyco_repro.report.stats import COMPARISON_COLUMNS

pytestmark = pytest.mark.slow

MATRIX = ("profile=tiny", "algo=grpo", "method=baseline,dyco", "model=qwen2_5_vl_3b", "seed=0,1", "train.max_steps=2")


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    root = tmp_path_factory.mktemp("seeds")
    done = run(sweep_command(*MATRIX, f"output_root={root / 'out'}"), cwd=root, timeout=1500)
    assert done.returncode == 0, done.stderr[-3000:]
    return root, sweep_id_of(done.stdout), done


def test_each_seed_is_its_own_cell_with_per_item_scores(swept):
    root, sweep_id, _ = swept
    runs = root / "out" / "sweeps" / sweep_id / "runs"
    names = sorted(p.name for p in runs.iterdir())
    assert names == [f"grpo-qwen2_5_vl_3b-{m}-seed{s}" for m in ("baseline", "dyco") for s in (0, 1)]
    for name in names:
        cell = json.loads((runs / name / "cell.json").read_text())
        assert cell["seed"] == int(name[-1])
        for key, score in cell["scores"].items():
            items = pd.read_csv(score["items"])
            assert len(items) == score["n"] and items["score"].between(0, 1).all()
            if key != "Synth_MME":  # MME's score is acc + acc+, not the per-item mean
                assert 100 * items["score"].mean() == pytest.approx(score["score"])
    cells, _ = cell_runs(root / "out", sweep_id)
    assert {r.data.tags["seed"] for r in cells} == {"0", "1"}
    import mlflow

    logged = {a.path for a in mlflow.MlflowClient().list_artifacts(cells[0].info.run_id, "items")}
    assert logged == {"items/Synth_Math.csv", "items/Synth_MCQ.csv", "items/Synth_MME.csv"}


def test_comparisons_have_paired_intervals_and_adjusted_p(swept):
    root, sweep_id, _ = swept
    comparisons = pd.read_csv(root / "out" / "sweeps" / sweep_id / "report" / "comparisons.csv")
    assert tuple(comparisons.columns[: len(COMPARISON_COLUMNS)]) == COMPARISON_COLUMNS
    assert set(comparisons["benchmark"]) == {"Synth_Math", "Synth_MCQ", "Synth_MME", "Avg"}
    assert (comparisons["n_seeds"] == 2).all()
    usable = comparisons.dropna(subset=["ci_low"])
    assert "Avg" in set(usable["benchmark"])
    assert (usable["ci_low"] <= usable["delta"]).all() and (usable["delta"] <= usable["ci_high"]).all()
    assert (usable["p_adjusted"] >= usable["p_value"]).all()


def test_the_table_has_intervals_over_seeds_and_everything_is_on_the_sweep_run(swept):
    import mlflow

    root, sweep_id, done = swept
    report = root / "out" / "sweeps" / sweep_id / "report"
    table = pd.read_csv(report / "table1.csv").set_index("method")
    assert (table.loc[["baseline", "dyco"], "n_seeds"] == 2).all()
    assert {"Synth_MCQ_ci_low", "Synth_MCQ_ci_high", "avg_ci_low", "avg_ci_high"} <= set(table.columns)
    assert " ± " in (report / "table1.md").read_text() and (report / "table1.md").read_text().strip() in done.stdout
    _, (parent,) = cell_runs(root / "out", sweep_id)
    names = {a.path for a in mlflow.MlflowClient().list_artifacts(parent.info.run_id, "report")}
    assert {"report/comparisons.csv", "report/forest.png", "report/items.csv", "report/table1.csv"} <= names
