"""The seven real-format fixtures through VLMEvalKit's real classes: every Table 1 number equals the value
computed here by hand from the fixture's answers and a prediction file we control."""

from __future__ import annotations

import os
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dyco_repro.evaluation.datasets import build_dataset, check_tsv, official_data, vlmeval_datasets
from dyco_repro.evaluation.inference import GenerationSettings, write_prediction_file
from dyco_repro.evaluation.judge import choose_judge
from dyco_repro.evaluation.results import sub_metrics
from dyco_repro.evaluation.scoring import score
from dyco_repro.evaluation.suite import EvalError, resolve_benchmarks
from dyco_repro.tiny.fixtures import CIRCULAR_OFFSET, FIXTURES, WEMATH_CONCEPTS, fixture_frame, write_fixtures

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evaluation"))
from fake_judge import FakeJudge  # noqa: E402

TABLE1 = {b.key: b for b in resolve_benchmarks("table1")}
SETTINGS = GenerationSettings(max_new_tokens=8, batch_size=2, min_pixels=3136, max_pixels=802816)
CASES = ("right", "wrong", "subset")


@pytest.fixture(scope="module")
def lmudata(tmp_path_factory) -> Path:
    return write_fixtures(tmp_path_factory.mktemp("fixtures") / "LMUData")


# ---- predictions we control ----


def is_right(case: str, position: int) -> bool:
    return case == "right" or (case == "subset" and position % 3 != 1)


def other_letter(answer: str, n: int = 4) -> str:
    """A wrong option letter (never one of a multi-letter answer's letters)."""
    taken = {a.strip() for a in answer.split(",")}
    return next(c for c in "ABCD"[:n] if c not in taken)


def predicted(key: str, row: pd.Series, position: int, case: str) -> str:
    answer = str(row["answer"])
    if key == "MMBench":  # subset: groups g%3==0 right, g%3==1 wrong, g%3==2 right except copy 1
        g, k = int(row["index"]) % CIRCULAR_OFFSET, int(row["index"]) // CIRCULAR_OFFSET
        right = case == "right" or (case == "subset" and (g % 3 == 0 or (g % 3 == 2 and k != 1)))
        n = sum(isinstance(row[c], str) and row[c] != "" for c in "ABCD")
        return answer if right else other_letter(answer, n)
    if key == "MME":  # subset: image i%3==0 both right, i%3==1 only the Yes question right, i%3==2 both wrong
        image = position // 2
        right = case == "right" or (case == "subset" and (image % 3 == 0 or (image % 3 == 1 and position % 2 == 0)))
        return answer if right else {"Yes": "No", "No": "Yes"}[answer]
    right = is_right(case, position)
    if key == "HallusionBench":
        return answer if right else {"Yes": "No", "No": "Yes"}[answer]
    if answer.isdigit():  # free-form MathVision / MathVerse
        return answer if right else str(int(answer) + 1)
    return answer if right else other_letter(answer)


def predictions(key: str, frame: pd.DataFrame, case: str) -> dict[str, str]:
    return {str(row["index"]): predicted(key, row, i, case) for i, (_, row) in enumerate(frame.iterrows())}


def rights(key: str, frame: pd.DataFrame, case: str) -> list[bool]:
    preds = predictions(key, frame, case)
    return [preds[str(i)] == str(a) for i, a in zip(frame["index"], frame["answer"], strict=True)]


# ---- Table 1 numbers by hand, from the benchmarks' definitions ----


def wemath_by_hand(frame: pd.DataFrame, hits: list[bool], loose: bool = False) -> float:
    """WeMath's score: (525 - 0.5 IG - RM - IK) / 525, over its multi-step problems (525 is fixed in its formula).
    IK: some step wrong and the composite wrong; IG: all steps right, composite wrong; RM (strict): some step
    wrong, composite right; RM (loose): every step wrong, composite right."""
    problems = defaultdict(lambda: {"steps": [], "multi": None})
    for (_, row), hit in zip(frame.iterrows(), hits, strict=True):
        if row["key"].endswith("multi"):
            problems[row["ID"]]["multi"] = hit
        else:
            problems[row["ID"]]["steps"].append(hit)
    ig = sum(all(p["steps"]) and not p["multi"] for p in problems.values())
    ik = sum(not all(p["steps"]) and not p["multi"] for p in problems.values())
    if loose:
        rm = sum(not any(p["steps"]) and p["multi"] for p in problems.values())
    else:
        rm = sum(not all(p["steps"]) and p["multi"] for p in problems.values())
    return round((525 - 0.5 * ig - rm - ik) / 525 * 100, 2)  # VLMEvalKit prints it as "98.67%"


def mme_by_hand(frame: pd.DataFrame, hits: list[bool]) -> float:
    """Per category acc + acc+ (both right on an image), summed, over 14 subtasks x 200 = 2800."""
    per = defaultdict(lambda: defaultdict(list))
    for (_, row), hit in zip(frame.iterrows(), hits, strict=True):
        per[row["category"]][row["image_path"]].append(hit)
    total = 0.0
    for images in per.values():
        acc = np.mean([h for pair in images.values() for h in pair]) * 100
        acc_plus = np.mean([all(pair) for pair in images.values()]) * 100
        total += acc + acc_plus
    return total / 2800 * 100


def mmbench_by_hand(frame: pd.DataFrame, hits: list[bool]) -> float:
    """Circular: a question counts only when every rotation of its options is answered right."""
    groups = defaultdict(list)
    for index, hit in zip(frame["index"], hits, strict=True):
        groups[int(index) % CIRCULAR_OFFSET].append(hit)
    return np.mean([all(g) for g in groups.values()]) * 100


def mathverse_by_hand(frame: pd.DataFrame, hits: list[bool]) -> float:
    """Mean over the five problem versions (equal sizes: the overall accuracy)."""
    by_version = defaultdict(list)
    for version, hit in zip(frame["problem_version"], hits, strict=True):
        by_version[version].append(hit)
    assert len({len(v) for v in by_version.values()}) == 1
    return np.mean([np.mean(v) for v in by_version.values()]) * 100


def by_hand(key: str, frame: pd.DataFrame, case: str) -> float:
    hits = rights(key, frame, case)
    if key == "WeMath":
        return wemath_by_hand(frame, hits)
    if key == "MME":
        return mme_by_hand(frame, hits)
    if key == "MMBench":
        return mmbench_by_hand(frame, hits)
    if key == "MathVerse":
        return mathverse_by_hand(frame, hits)
    return np.mean(hits) * 100  # MathVision, LogicVista, HallusionBench aAcc: plain accuracy


def run_score(lmudata: Path, key: str, case: str, policy: str, folder: Path):
    bench = TABLE1[key]
    dataset = build_dataset(bench, lmudata)
    frame = dataset.data
    folder.mkdir(parents=True, exist_ok=True)
    pred_file = write_prediction_file(
        dataset, predictions(key, frame, case), SETTINGS, folder / f"p_{bench.dataset}.tsv"
    )
    judge = choose_judge(policy, bench, "gpt-4o-mini", nproc=1)
    value, raw = score(dataset, bench, judge, pred_file, fresh=True)
    return bench, frame, judge, value, raw


# ---- the files ----


def test_fixtures_have_the_real_names_and_grouping(lmudata):
    for name in FIXTURES:
        assert (lmudata / f"{name}.tsv").is_file()
        assert 20 <= len(fixture_frame(name)) <= 60
    we = fixture_frame("WeMath")
    for _, problem in we.groupby("ID"):
        steps = len(problem) - 1
        assert sorted(problem["key"]) == sorted(
            [f"{steps}steps_{i}" for i in range(1, steps + 1)] + [f"{steps}steps_multi"]
        )
    from vlmeval.dataset.utils.wemath import knowledge_structure_nodes

    leaves = {node["full node"].split("_")[-1] for node in knowledge_structure_nodes}
    assert set(WEMATH_CONCEPTS) <= leaves
    mme = fixture_frame("MME")
    assert (mme.groupby("image_path")["answer"].apply(list) == pd.Series([["Yes", "No"]] * 16).values).all()
    mmb = fixture_frame("MMBench_DEV_EN")
    assert (mmb["index"] >= CIRCULAR_OFFSET).sum() == len(mmb) - (mmb["index"] < CIRCULAR_OFFSET).sum() > 0
    hb = fixture_frame("HallusionBench")
    assert all(len(i.split("_")) == 6 for i in hb["index"])
    mv = fixture_frame("MathVerse_MINI")
    assert mv.groupby("problem_index")["problem_version"].nunique().eq(5).all()


def test_fixtures_are_stable_and_reused(lmudata, tmp_path):
    again = write_fixtures(tmp_path / "again")
    for name in FIXTURES:
        assert (again / f"{name}.tsv").read_bytes() == (lmudata / f"{name}.tsv").read_bytes()
    stamp = (again / "MME.tsv").stat().st_mtime_ns
    write_fixtures(again)
    assert (again / "MME.tsv").stat().st_mtime_ns == stamp


def test_local_tsv_is_unofficial_and_never_downloaded(lmudata, monkeypatch, capsys):
    from vlmeval.dataset import image_base

    monkeypatch.setattr(image_base, "download_file", lambda *a, **k: pytest.fail("tried to download"))
    for bench in TABLE1.values():
        assert check_tsv(bench, lmudata) == lmudata / f"{bench.dataset}.tsv"
        assert official_data(bench, lmudata) is False
        dataset = build_dataset(bench, lmudata)
        assert type(dataset).__name__ == bench.vlmeval_class
        assert isinstance(dataset, getattr(vlmeval_datasets(), bench.vlmeval_class))
        assert len(dataset) == len(fixture_frame(bench.dataset))
        assert dataset.build_prompt(0)[0]["type"] == "image"


def test_a_local_tsv_without_the_class_columns_is_refused(tmp_path):
    (tmp_path / "MME.tsv").write_text("index\tquestion\n0\tnot the real MME\n")
    with pytest.raises(EvalError, match="lacks the column.*image_path.*tiny fixtures"):
        check_tsv(TABLE1["MME"], tmp_path)


# ---- the numbers ----

EXACT = ("WeMath", "HallusionBench", "MME", "MMBench")
JUDGED = ("MathVision", "MathVerse", "LogicVista")


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("key", EXACT + JUDGED)
def test_rule_path_number_equals_hand_computed(lmudata, tmp_path, key, case):
    bench, frame, judge, value, raw = run_score(lmudata, key, case, "rule", tmp_path)
    assert judge.name == ("rule" if key in JUDGED else "exact_matching")
    assert value == pytest.approx(by_hand(key, frame, case), abs=1e-6)
    if key in JUDGED:  # the rule extractor: plain accuracy whatever the class's own aggregation
        assert value == pytest.approx(np.mean(rights(key, frame, case)) * 100)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("key", JUDGED)
def test_judge_path_number_equals_hand_computed(lmudata, tmp_path, monkeypatch, key, case):
    with FakeJudge() as fake:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-fixture")
        monkeypatch.setenv("OPENAI_API_BASE", fake.url)
        bench, frame, judge, value, raw = run_score(lmudata, key, case, "auto", tmp_path)
        assert (judge.name, judge.official, judge.endpoint) == ("gpt-4o-mini", True, fake.url)
        if case != "right" or key == "LogicVista":  # right answers are prefetched without asking
            assert fake.judged(), "the judge was never asked"
    assert value == pytest.approx(by_hand(key, frame, case), abs=1e-6)


def test_sub_metrics_are_all_recorded(lmudata, tmp_path):
    """Every named metric (benchmarks.yaml) is read off the real result, by hand where it has a definition."""
    found = {}
    for key in EXACT:
        bench, frame, _, value, raw = run_score(lmudata, key, "subset", "rule", tmp_path / key)
        found[key] = sub_metrics(raw, bench)
        assert found[key][bench.score_name] == pytest.approx(value)
        assert None not in found[key].values(), found[key]
    hits = rights("WeMath", fixture_frame("WeMath"), "subset")
    assert found["WeMath"]["loose"] == pytest.approx(
        wemath_by_hand(fixture_frame("WeMath"), hits, loose=True), abs=0.01
    )
    hb = found["HallusionBench"]
    assert hb["mean"] == pytest.approx((hb["aAcc"] + hb["fAcc"] + hb["qAcc"]) / 3)
    assert hb["fAcc"] < hb["aAcc"]  # a figure counts only with both its questions right
    mmb = found["MMBench"]
    frame = fixture_frame("MMBench_DEV_EN")
    first = frame["index"] <= CIRCULAR_OFFSET  # VLMEvalKit's own test: <=, so question 0's first copy counts too
    hits = np.array(rights("MMBench", frame, "subset"))
    assert mmb["vanilla_first"] == pytest.approx(hits[first.values].mean() * 100)
    assert mmb["vanilla_all"] == pytest.approx(hits.mean() * 100)
    assert mmb["circular"] < mmb["vanilla_first"]
    mme = found["MME"]
    assert mme["total"] == pytest.approx((mme["perception"] * 2000 + mme["reasoning"] * 800) / 2800)


def test_cli_writes_fixtures(tmp_path):
    import subprocess

    out = tmp_path / "cli"
    run = subprocess.run(
        [sys.executable, "-m", "dyco_repro.tiny", "fixtures", "--out", str(out)],
        capture_output=True,
        text=True,
        env=os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in out.glob("*.tsv")) == sorted(f"{n}.tsv" for n in FIXTURES)


@pytest.mark.parametrize("out", ["file", "file/sub"])
def test_cli_refuses_a_file_as_out_with_one_line_naming_the_fix(tmp_path, capsys, out):
    from dyco_repro.tiny.__main__ import main

    (tmp_path / "file").write_text("keep me")
    assert main(["fixtures", "--out", str(tmp_path / out)]) == 2
    where = "" if out == "file" else f"{tmp_path / out}: "
    fix = "choose a new or existing directory for --out"
    assert capsys.readouterr().err == f"error: {where}{tmp_path / 'file'} is a file, not a directory; {fix}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"] and (tmp_path / "file").read_text() == "keep me"
