"""Synthetic benchmarks: VLMEvalKit's real dataset classes load them and score them exactly as expected."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from pixels import answer_from_pixels

from dyco_repro.tiny.__main__ import main
from dyco_repro.tiny.benchmarks import COLUMNS, MANIFEST, SYNTHETIC_BENCHMARKS, mcq_prompt, write_benchmarks

N = 14  # each of the 3 MCQ kinds at least 4 times; each of the 3 MME categories at least 4 pairs


@pytest.fixture(scope="module")
def lmudata(tmp_path_factory):
    return write_benchmarks(tmp_path_factory.mktemp("lmudata"), n=N, seed=5)


@pytest.fixture
def env(lmudata, monkeypatch):
    monkeypatch.setenv("LMUData", str(lmudata))
    return lmudata


def read(lmudata, name: str) -> pd.DataFrame:
    return pd.read_csv(lmudata / f"{name}.tsv", sep="\t")


def predictions(dataset, answers, path) -> str:
    """A prediction file as VLMEvalKit's inference writes it: the data without images, plus `prediction`."""
    from vlmeval.smp import dump

    frame = dataset.data.drop(columns="image").copy()
    frame["prediction"] = answers
    dump(frame, str(path))
    return str(path)


# ---- the answers agree with the pixels ----


@pytest.mark.parametrize("name", SYNTHETIC_BENCHMARKS)
def test_every_answer_matches_the_pixels(lmudata, name):
    for row in read(lmudata, name).to_dict("records"):
        image = Image.open(io.BytesIO(base64.b64decode(row["image"])))
        assert image.format == "PNG"
        expected = row[row["answer"]] if name == "Synth_MCQ" else str(row["answer"])
        assert answer_from_pixels(row["question"], image) == str(expected), row["question"]


# ---- the TSVs: columns, pairs, options ----


def test_columns_as_documented(lmudata):
    for name in SYNTHETIC_BENCHMARKS:
        assert list(read(lmudata, name).columns) == COLUMNS[name]
    mcq, mme, _ = SYNTHETIC_BENCHMARKS
    assert "mmbench" not in mcq.lower() and "circular" not in mcq.lower()  # either switches on circular eval
    assert "MME" in mme  # ImageYORNDataset scores with MME_rating only then


def test_mcq_options_vary(lmudata):
    mcq = read(lmudata, "Synth_MCQ")
    assert len(mcq) == N and set(mcq["split"]) == {"dev"}
    assert set(mcq["answer"]) <= set("ABCD") and len(set(mcq["answer"])) >= 3  # the right option moves around
    assert mcq["D"].isna().any() and mcq["C"].isna().any()  # 3- and 2-option questions, as MMBench has
    options = mcq[list("ABCD")].stack()
    assert all(isinstance(row[row["answer"]], str) for row in mcq.to_dict("records"))
    assert not options.str.endswith(".0").any()  # every option reads back as text


def test_mme_pairs_one_yes_one_no(lmudata):
    mme = read(lmudata, "Synth_MME")
    assert len(mme) == 2 * N
    for _, pair in mme.groupby("image_path"):
        assert list(pair["answer"]) == ["Yes", "No"] and pair["category"].nunique() == 1
        assert pair["image"].nunique() == 1
    assert all(q.endswith(" Please answer yes or no.") for q in mme["question"])
    assert set(mme["category"]) == {"count", "color", "existence"}  # MME perception categories


def test_math_is_free_form(lmudata):
    math = read(lmudata, "Synth_Math")
    assert list(math["choices"]) == ["[]"] * N
    assert math["answer"].dtype.kind == "i" and set(math["level"]) <= {1, 2, 3, 4, 5}


# ---- VLMEvalKit's own classes load and score them ----


def test_mcq_scores_exactly(env, tmp_path):
    from vlmeval.dataset import ImageMCQDataset

    dataset = ImageMCQDataset(dataset="Synth_MCQ")
    data = dataset.data
    assert len(data) == N
    (image, text) = dataset.build_prompt(0)
    assert image["type"] == "image" and text["type"] == "text" and "Options:\nA. " in text["value"]

    wrong = {0, 1, 3}  # a largest-colour, a kind and a sides question
    answers = []
    for i, row in enumerate(data.to_dict("records")):
        letter = row["answer"]
        if i in wrong:
            letter = next(k for k in "ABCD" if k != letter and not pd.isna(row[k]))
        answers.append(letter if i % 2 else f"The answer is {letter}.")
    pred_file = predictions(dataset, answers, tmp_path / "tiny_Synth_MCQ.xlsx")
    score = dataset.evaluate(pred_file, model="exact_matching", nproc=1)

    # One row per split; accuracies are fractions, one column per l2-category (abbreviated) and category.
    assert isinstance(score, pd.DataFrame) and list(score["split"]) == ["dev"]
    assert score.loc[0, "Overall"] == pytest.approx((N - len(wrong)) / N)
    hit = pd.Series([i not in wrong for i in range(N)])
    for category, hits in hit.groupby(data["category"].to_numpy()):
        assert score.loc[0, category] == pytest.approx(hits.mean()), category
    assert score.loc[0, "FP-C"] == pytest.approx(hit[data["l2-category"].str.contains("cross")].mean())


def test_training_prompts_are_shown_as_vlmevalkit_shows_the_benchmark(env):
    """The training set's MCQ text (`mcq_prompt`) is exactly what `ImageMCQDataset.build_prompt` shows."""
    from vlmeval.dataset import ImageMCQDataset

    dataset = ImageMCQDataset(dataset="Synth_MCQ")
    for i, row in enumerate(dataset.data.to_dict("records")):
        row = {k: (None if isinstance(v, float) and pd.isna(v) else v) for k, v in row.items()}
        assert dataset.build_prompt(i)[-1]["value"] == mcq_prompt(row)


def test_mme_scores_acc_and_acc_plus(env, tmp_path):
    """MME's category score is acc + acc+ (both in %), acc+ counting an image only if both its questions are right."""
    from vlmeval.dataset import ImageYORNDataset

    dataset = ImageYORNDataset(dataset="Synth_MME")
    data = dataset.data
    (image, text) = dataset.build_prompt(1)
    assert image["value"].endswith("synth_mme/0000.png") and text["value"].endswith("Please answer yes or no.")

    pair_rank = data.groupby("category")["image_path"].rank(method="dense").astype(int)  # 1st, 2nd, 3rd pair
    first_of_pair = data.index % 2 == 0
    right = {
        "count": first_of_pair,  # every pair half right: acc 50, acc+ 0
        "color": np.ones(len(data), bool),  # all right: 100 + 100
        "existence": pair_rank == 1,  # one of k pairs right: 100/k + 100/k
    }
    ok = np.select([data["category"] == c for c in right], [np.asarray(r) for r in right.values()])
    flip = {"Yes": "No", "No": "Yes"}
    answers = [f"{a}, it is." if good else flip[a] for a, good in zip(data["answer"], ok, strict=True)]
    pred_file = predictions(dataset, answers, tmp_path / "tiny_Synth_MME.xlsx")
    score = dataset.evaluate(pred_file, model="exact_matching", nproc=1)

    # One row; columns perception, reasoning, then each category; scores in 0..200 per category.
    assert isinstance(score, pd.DataFrame) and len(score) == 1
    k = data.loc[data["category"] == "existence", "image_path"].nunique()
    assert k >= 3
    expected = {"count": 50, "color": 200, "existence": 200 / k}
    for category, value in expected.items():
        assert score.loc[0, category] == pytest.approx(value), category
    assert score.loc[0, "perception"] == pytest.approx(sum(expected.values()))
    assert score.loc[0, "reasoning"] == 0


def test_math_loads_and_prefetches(env):
    from vlmeval.dataset import MathVision
    from vlmeval.dataset.utils.mathv import post_check

    dataset = MathVision(dataset="Synth_Math")
    assert len(dataset) == N
    (image, text) = dataset.build_prompt(0)
    assert image["type"] == "image" and text == {"type": "text", "value": dataset.data.iloc[0]["question"]}
    with Image.open(image["value"]) as png:
        assert png.size == (112, 112)
    for i in (0, 1):
        line = dataset.data.iloc[i].copy()
        line["prediction"] = str(line["answer"])
        assert post_check(line, prefetch=True) == str(line["answer"])
        line["prediction"] = str(line["answer"] + 1)
        assert not post_check(line, prefetch=True)


# ---- built once, bit-identical, atomically ----


def test_reused_and_bit_identical(tmp_path, lmudata):
    again = write_benchmarks(tmp_path / "again", n=N, seed=5)
    for name in SYNTHETIC_BENCHMARKS:
        assert (again / f"{name}.tsv").read_bytes() == (lmudata / f"{name}.tsv").read_bytes()
    stamps = {p.name: p.stat().st_mtime_ns for p in again.iterdir()}
    write_benchmarks(again, n=N, seed=5)
    assert {p.name: p.stat().st_mtime_ns for p in again.iterdir()} == stamps
    assert json.loads((again / MANIFEST).read_text())["n"] == N


def test_rebuilds_when_changed_and_leaves_no_temp_files(tmp_path):
    out = write_benchmarks(tmp_path, n=4, seed=1)
    first = (out / "Synth_MCQ.tsv").read_bytes()
    (out / "real_benchmark.tsv").write_text("keep me")
    (out / "images" / "Synth_MCQ").mkdir(parents=True)
    (out / "images" / "Synth_MCQ" / "0.png").write_bytes(b"stale decoded image")

    write_benchmarks(out, n=4, seed=2)
    assert (out / "Synth_MCQ.tsv").read_bytes() != first
    assert not (out / "images" / "Synth_MCQ").exists()  # VLMEvalKit would otherwise show the stale image
    (out / "Synth_MME.tsv").write_text("truncated")
    write_benchmarks(out, n=4, seed=1)
    assert (out / "Synth_MCQ.tsv").read_bytes() == first and len(read(out, "Synth_MME")) == 8
    assert (out / "real_benchmark.tsv").read_text() == "keep me"
    tsvs = {f"{name}.tsv" for name in SYNTHETIC_BENCHMARKS}
    assert {p.name for p in out.iterdir()} == tsvs | {MANIFEST, f"{MANIFEST}.lock", "real_benchmark.tsv", "images"}


def test_cli(tmp_path, capsys):
    assert main(["bench", "--out", str(tmp_path), "--n", "2"]) == 0
    assert len(read(tmp_path, "Synth_Math")) == 2 and "Synth_MME" in capsys.readouterr().out
    assert main(["bench", "--out", str(tmp_path), "--n", "0"]) == 2


def test_cli_refuses_a_file_as_out(tmp_path, capsys):
    (tmp_path / "file").write_text("keep me")
    assert main(["bench", "--out", str(tmp_path / "file"), "--n", "2"]) == 2
    fix = "choose a new or existing directory for --out"
    assert capsys.readouterr().err == f"error: {tmp_path / 'file'} is a file, not a directory; {fix}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"] and (tmp_path / "file").read_text() == "keep me"


# ---- large enough to resolve a 5-point change ----


def test_default_size_resolves_a_five_point_change_in_avg(tmp_path):
    """The demo's benchmarks (profile=tiny) are the default size, and at that size two runs' Avg (the mean of the
    three scores) differing by 5 points are 2 standard errors apart even at the worst case p = 0.5 per question."""
    from omegaconf import OmegaConf

    from dyco_repro.tiny.benchmarks import DEFAULT_N

    profile = OmegaConf.load(Path(__file__).resolve().parents[2] / "conf" / "profile" / "tiny.yaml")
    assert profile.eval.synthetic_n == DEFAULT_N
    out = write_benchmarks(tmp_path, n=DEFAULT_N)
    sizes = {name: len(read(out, name)) for name in SYNTHETIC_BENCHMARKS}
    assert sizes == {"Synth_MCQ": DEFAULT_N, "Synth_MME": 2 * DEFAULT_N, "Synth_Math": DEFAULT_N}
    se_avg = 100 * np.sqrt(sum(0.25 / n for n in sizes.values())) / len(sizes)  # points
    assert 2 * np.sqrt(2) * se_avg <= 5.0, f"SE of Avg {se_avg:.2f} points: a 5-point change is within the noise"
