"""Synthetic visual-reasoning data: released JSONL format, answers verifiable from pixels."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict

import numpy as np
import pytest
from PIL import Image

from dyco_repro.tiny import write_dataset
from dyco_repro.tiny.shapes import COLORS


def colour_components(image: Image.Image, colour: str) -> int:
    """Connected regions of exactly this colour (shapes never touch)."""
    pixels = np.asarray(image.convert("RGB"))
    mask = (pixels == np.array(COLORS[colour])).all(-1)
    seen = np.zeros_like(mask)
    regions = 0
    for y, x in zip(*np.nonzero(mask), strict=True):
        if seen[y, x]:
            continue
        regions += 1
        stack = [(y, x)]
        seen[y, x] = True
        while stack:
            cy, cx = stack.pop()
            for ny, nx in ((cy + 1, cx), (cy - 1, cx), (cy, cx + 1), (cy, cx - 1)):
                if 0 <= ny < mask.shape[0] and 0 <= nx < mask.shape[1] and mask[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    stack.append((ny, nx))
    return regions


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("synth") / "set", n=60, seed=3)


def rows(path):
    return [json.loads(line) for line in (path / "train.jsonl").read_text().splitlines()]


def test_released_jsonl_format(dataset):
    data = rows(dataset)
    assert len(data) == 60 and len({r["id"] for r in data}) == 60
    for r in data:
        human, gpt = r["conversations"]
        assert human["from"] == "human" and human["value"].startswith("<image>\n")
        assert gpt["from"] == "gpt" and gpt["value"]
        with Image.open(dataset / r["image"]) as image:
            assert image.format == "PNG" and image.size == (112, 112)


def test_count_answers_match_the_pixels(dataset):
    checked = 0
    for r in rows(dataset):
        question = r["conversations"][0]["value"]
        if r["question_type"] == "count_color":
            colour = question.split("How many ")[1].split()[0]
            with Image.open(dataset / r["image"]) as image:
                assert colour_components(image, colour) == int(r["conversations"][1]["value"]), r["id"]
            checked += 1
    assert checked >= 5


def test_questions_need_the_image(dataset):
    """The same question text gets different answers: text alone cannot answer it."""
    answers = defaultdict(set)
    for r in rows(dataset):
        answers[r["conversations"][0]["value"]].add(r["conversations"][1]["value"])
    assert any(len(a) > 1 for a in answers.values())
    kinds = {r["question_type"] for r in rows(dataset)}
    assert kinds == {"count_color", "count_kind", "compare", "total", "largest_color"}


def test_seeded_and_reused(tmp_path, dataset):
    again = write_dataset(tmp_path / "again", n=60, seed=3)
    assert (again / "train.jsonl").read_bytes() == (dataset / "train.jsonl").read_bytes()
    before = (dataset / "train.jsonl").stat().st_mtime_ns
    write_dataset(dataset, n=60, seed=3)
    assert (dataset / "train.jsonl").stat().st_mtime_ns == before


def test_refuses_to_overwrite_foreign_directory(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError):
        write_dataset(tmp_path / "mine", n=3)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


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
