"""Synthetic visual-reasoning data: released JSONL format, answers verifiable from pixels."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from collections import defaultdict

import pytest
from PIL import Image
from pixels import answer_from_pixels, pixel_shapes

from dyco_repro.tiny import write_dataset
from dyco_repro.tiny.benchmarks import MATH_BUILDERS, MCQ_BUILDERS, MME_BUILDERS, separated
from dyco_repro.tiny.data import FORMATS, synthetic_question
from dyco_repro.tiny.shapes import render

N = 240  # enough that every question kind of every format occurs


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("synth") / "set", n=N, seed=3)


def rows(path):
    return [json.loads(line) for line in (path / "train.jsonl").read_text().splitlines()]


def test_released_jsonl_format(dataset):
    data = rows(dataset)
    assert len(data) == N and len({r["id"] for r in data}) == N
    for r in data:
        human, gpt = r["conversations"]
        assert human["from"] == "human" and human["value"].startswith("<image>\n")
        assert gpt["from"] == "gpt" and gpt["value"]
        with Image.open(dataset / r["image"]) as image:
            assert image.format == "PNG" and image.size == (112, 112)


def expected_label(question: str, image: Image.Image) -> str:
    """The label the pixels give: MCQ prompts (VLMEvalKit's layout) map the derived answer to its option letter."""
    if match := re.match(r"(?:Hint: .*\n)?Question: (.*)\nOptions:\n((?:[A-D]\. .*\n?)+)Please select", question):
        options = dict(re.findall(r"([A-D])\. (.*)", match.group(2)))
        answer = answer_from_pixels(match.group(1), image)
        (letter,) = [k for k, v in options.items() if v == answer]
        return letter
    if question.endswith(" Please answer yes or no."):
        return answer_from_pixels(question.removesuffix(" Please answer yes or no."), image)
    return answer_from_pixels(question, image)


def test_every_label_matches_the_pixels(dataset):
    """Shapes never touch and each colour is one shape, so every label (colour, kind, existence, sides, arithmetic)
    is in the pixels."""
    for r in rows(dataset):
        question = r["conversations"][0]["value"].removeprefix("<image>\n")
        with Image.open(dataset / r["image"]) as image:
            assert expected_label(question, image) == r["conversations"][1]["value"], (r["id"], question)


def test_generated_scenes_never_touch():
    """The generator's own guarantee, on many more scenes than the set above: no two shapes' pixels touch."""
    rng = random.Random(0)
    for i in range(300):
        shapes, *_ = synthetic_question(rng, FORMATS[i % 3])
        assert separated(shapes)
        assert len(pixel_shapes(render(shapes))) == len(shapes)


def test_reasoning_names_what_is_seen_then_computes(dataset):
    """The warm-start reasoning names each looked-up shape by the word that addresses it (its colour or its kind),
    followed at once by what the image shows, then computes with it and ends in the label."""
    kinds = "(triangle|square|circle)"
    for r in rows(dataset):
        think, answer = r["think"], r["conversations"][1]["value"]
        assert re.match(rf"(\w+ {kinds}|{kinds} \w+|{kinds} none|\d sides: {kinds} (\w+|none))\.", think), think
        if r["question_type"].startswith("math_"):
            assert think.endswith(f"= {answer}"), think
        if r["question_type"].startswith("mcq_"):
            assert think.endswith(f"is {answer}."), think
    sums = [r["think"] for r in rows(dataset) if r["question_type"] == "math_sides_two"]
    assert sums and all(re.fullmatch(r"\w+ (triangle|square)\. \w+ (triangle|square)\. \d \+ \d = \d", t) for t in sums)
    assert all(
        f"{n} +" in t or f"+ {n} =" in t for t in sums for n in [{"triangle": 3, "square": 4}[t.split()[1][:-1]]]
    )


def test_questions_need_the_image(dataset):
    """The same question text gets different answers: text alone cannot answer it."""
    answers = defaultdict(set)
    for r in rows(dataset):
        answers[r["conversations"][0]["value"]].add(r["conversations"][1]["value"])
    assert any(len(a) > 1 for a in answers.values())


def test_every_benchmark_question_kind_and_answer_format_is_trained(dataset):
    kinds = {r["question_type"] for r in rows(dataset)}
    assert kinds == {b.__name__ for b in (*MCQ_BUILDERS, *MME_BUILDERS, *MATH_BUILDERS)}
    labels = [r["conversations"][1]["value"] for r in rows(dataset)]
    assert {"A", "B", "C", "D", "Yes", "No"} <= set(labels) and any(label.isdigit() for label in labels)


def test_seeded_and_reused(tmp_path, dataset):
    again = write_dataset(tmp_path / "again", n=N, seed=3)
    assert (again / "train.jsonl").read_bytes() == (dataset / "train.jsonl").read_bytes()
    before = (dataset / "train.jsonl").stat().st_mtime_ns
    write_dataset(dataset, n=N, seed=3)
    assert (dataset / "train.jsonl").stat().st_mtime_ns == before


def test_refuses_to_overwrite_foreign_directory(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError):
        write_dataset(tmp_path / "mine", n=3)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_cli_refuses_a_file_as_out_before_writing_its_lock(tmp_path, capsys):
    from dyco_repro.tiny.__main__ import main

    (tmp_path / "file").write_text("keep me")
    assert main(["data", "--out", str(tmp_path / "file"), "--n", "3"]) == 2
    fix = "choose an empty or new --out"
    assert capsys.readouterr().err == f"error: {tmp_path / 'file'} is a file, not a directory; {fix}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"] and (tmp_path / "file").read_text() == "keep me"


@pytest.mark.slow
@pytest.mark.parametrize(
    "args,message",
    [
        (["data", "--out", "{tmp}/d", "--n", "0"], "at least one sample"),
        (["data", "--out", "{tmp}/d", "--n", "-4"], "at least one sample"),
        (["build", "--size", "xl", "--out", "{tmp}/m"], "invalid choice"),
        (["data", "--out", "{tmp}/d"], "required"),
    ],
)
def test_cli_bad_input(tmp_path, args, message):
    cmd = [sys.executable, "-m", "dyco_repro.tiny", *[a.format(tmp=tmp_path) for a in args]]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "d").exists() and not (tmp_path / "m").exists()


@pytest.mark.slow
def test_cli_writes_a_dataset(tmp_path):
    cmd = [sys.executable, "-m", "dyco_repro.tiny", "data", "--out", str(tmp_path / "d"), "--n", "4"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert len(rows(tmp_path / "d")) == 4
