"""Per-item scores (items.csv) from the files VLMEvalKit's scoring writes for the synthetic benchmarks, and
from the rule judge's own hits: known predictions give known per-item scores that add up to the recorded score."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from dyco_repro.evaluate import synthetic_root
from dyco_repro.evaluation.datasets import build_dataset
from dyco_repro.evaluation.items import ITEMS_FILE, as_items, read_items, record_items, write_items
from dyco_repro.evaluation.judge import choose_judge
from dyco_repro.evaluation.scoring import score
from dyco_repro.evaluation.suite import all_benchmarks

BENCH = all_benchmarks()


@pytest.fixture
def lmudata(monkeypatch) -> Path:
    root = synthetic_root(24)
    monkeypatch.setenv("LMUData", str(root))
    return root


def handmade(folder: Path, dataset, answers) -> Path:
    data = dataset.data.drop(columns=["image"]).copy()
    data["prediction"] = list(answers)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"dyco_{dataset.dataset_name}.tsv"
    data.to_csv(path, sep="\t", index=False)
    return path


def scored(tmp_path, key, policy, answers_of):
    bench = BENCH[key]
    dataset = build_dataset(bench, synthetic_root(24))
    answers = answers_of(dataset.data)
    judge = choose_judge(policy, bench, "gpt-4o-mini")
    pred_file = handmade(tmp_path / key, dataset, answers)
    value, _ = score(dataset, bench, judge, pred_file, fresh=True)
    path = record_items(bench, judge.name, pred_file)
    return dataset, value, path


def test_mcq_items_are_vlmevalkits_hits(tmp_path, lmudata):
    def answers(data):  # every third answer wrong
        wrong = {r["index"]: next(c for c in "ABCD" if c != r["answer"]) for _, r in data.iterrows()}
        return [wrong[r["index"]] if i % 3 == 0 else r["answer"] for i, (_, r) in enumerate(data.iterrows())]

    dataset, value, path = scored(tmp_path, "Synth_MCQ", "exact", answers)
    items = read_items(path)
    assert Path(path) == tmp_path / "Synth_MCQ" / ITEMS_FILE
    assert sorted(items["item"]) == sorted(dataset.data["index"].astype(str))
    expected = {str(r["index"]): float(i % 3 != 0) for i, (_, r) in enumerate(dataset.data.iterrows())}
    assert dict(zip(items["item"], items["score"], strict=True)) == expected
    assert 100 * items["score"].mean() == pytest.approx(value)  # the recorded score, item by item
    assert (items["cluster"] == items["item"]).all()  # no circular groups in Synth_MCQ


def test_yes_no_items_are_the_auxmatch_scores_clustered_by_image(tmp_path, lmudata):
    dataset, value, path = scored(tmp_path, "Synth_MME", "exact", lambda data: ["Yes"] * len(data))
    items = read_items(path).set_index("item")
    truth = dataset.data.set_index(dataset.data["index"].astype(str))
    assert items["score"].to_dict() == {i: float(a == "Yes") for i, a in truth["answer"].items()}
    # the two questions about one image are one cluster (MME's acc+ unit)
    pairs = items.groupby("cluster").size()
    assert len(pairs) == len(dataset.data) // 2 and (pairs == 2).all()
    assert items["cluster"].str.endswith(".png").all()


def test_rule_judge_hits_are_persisted_and_add_up_to_its_score(tmp_path, lmudata):
    def answers(data):
        return [f"\\boxed{{{a}}}" if i % 2 else f"The answer is {int(a) + 1}" for i, a in enumerate(data["answer"])]

    dataset, value, path = scored(tmp_path, "Synth_Math", "rule", answers)
    items = read_items(path)
    assert items["score"].tolist() == [float(i % 2) for i in range(len(dataset.data))]
    assert value == pytest.approx(100 * items["score"].mean()) == pytest.approx(50.0)


def test_not_judged_leaves_no_items(tmp_path, lmudata, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    _, value, path = scored(tmp_path, "Synth_Math", "exact", lambda data: ["1"] * len(data))
    assert value is None and path is None
    assert not (tmp_path / "Synth_Math" / ITEMS_FILE).exists()


def test_mmbench_style_circular_groups_are_one_item_each():
    frame = pd.DataFrame({"index": [3, 7], "g_index": [3, 7], "hit": [1, 0]})
    items = as_items(frame, "MMBench_DEV_EN", "hit")
    assert items.to_dict("list") == {"item": ["3", "7"], "cluster": ["3", "7"], "score": [1.0, 0.0]}


@pytest.mark.parametrize("bad", [[1, 2], ["yes", 0], [None, 1]])
def test_a_score_outside_0_1_is_refused(bad):
    with pytest.raises(ValueError, match="not scores in"):
        as_items(pd.DataFrame({"index": [1, 2], "hit": bad}), "X", "hit")


def test_unreadable_scoring_output_warns_and_records_nothing(tmp_path, capsys):
    bench = BENCH["Synth_MCQ"]
    pred_file = tmp_path / "Synth_MCQ" / "dyco_Synth_MCQ.tsv"
    (pred_file.parent / "score-exact_matching").mkdir(parents=True)
    pd.DataFrame({"index": [1], "answer": ["A"]}).to_excel(
        pred_file.parent / "score-exact_matching" / "dyco_Synth_MCQ_exact_matching_result.xlsx", index=False
    )
    assert record_items(bench, "exact_matching", pred_file) is None
    assert "Synth_MCQ: no per-item scores" in capsys.readouterr().err


def test_items_file_round_trips(tmp_path):
    items = pd.DataFrame({"item": ["01", "2"], "cluster": ["a/1.png", "a/1.png"], "score": [1.0, 0.5]})
    path = write_items(items, tmp_path)
    assert read_items(path).equals(items)  # ids stay strings ("01" is not 1)
    assert write_items(items.iloc[:0], tmp_path / "empty") is None
