"""Synthetic visual-reasoning training set in the released code's JSONL format.

Each line: {"id", "image": "images/<id>.png", "conversations": [{"from": "human", "value":
"<image>\\n<question>"}, {"from": "gpt", "value": "<answer>"}], "question_type", "think"}. The questions are the
synthetic benchmarks' own (`benchmarks.py`: option letters, yes/no, numbers), asked about other scenes and shown
as VLMEvalKit shows them, so training covers every answer format the benchmarks score. `think` is the reasoning
the warm start imitates: each shape named and what the image shows of it, then the computation
(`red triangle. blue square. 3 + 4 = 7`).

Every scene is drawn with no two shapes touching (`benchmarks.separated`) and one shape per colour, so each
label can be re-derived from the pixels. Written atomically: a temp directory renamed into place, so a crash
never leaves a half-written set.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

from filelock import FileLock

from ..atomic import atomic_directory
from .benchmarks import (
    MATH_BUILDERS,
    MCQ_BUILDERS,
    MME_BUILDERS,
    math_item,
    mcq_item,
    mcq_prompt,
    mme_items,
    refuse_a_file,
)
from .shapes import render

MANIFEST = "synthetic_manifest.json"
DATA_FILE = "train.jsonl"
VERSION = 9  # bump whenever questions, scenes or reasoning change: cached sets are rebuilt
FORMATS = ("mcq", "yes_no", "number")  # the answer formats of Synth_MCQ, Synth_MME and Synth_Math


def synthetic_question(rng: random.Random, fmt: str):
    """(shapes, prompt text, answer, think, question type) for one fresh scene, in answer format `fmt`."""
    if fmt == "mcq":
        builder = rng.choice(MCQ_BUILDERS)
        shapes, item = mcq_item(rng, builder)
        return shapes, mcq_prompt(item), item["answer"], item["think"], builder.__name__
    if fmt == "yes_no":
        builder = rng.choice(MME_BUILDERS)
        shapes, items = mme_items(rng, builder)
        item = rng.choice(items)
        return shapes, item["question"], item["answer"], item["think"], builder.__name__
    builder = rng.choice(MATH_BUILDERS)
    shapes, item = math_item(rng, builder)
    return shapes, item["question"], item["answer"], item["think"], builder.__name__


def synthetic_rows(n: int, seed: int = 0):
    """Yield (row, image) pairs, the three answer formats in turn; the row's image path is relative to the set."""
    rng = random.Random(f"train:{seed}")  # a string seed: independent of the benchmarks' streams
    for i in range(n):
        shapes, text, answer, think, kind = synthetic_question(rng, FORMATS[i % len(FORMATS)])
        sample_id = f"synth-{seed}-{i:06d}"
        row = {
            "id": sample_id,
            "image": f"images/{sample_id}.png",
            "conversations": [
                {"from": "human", "value": f"<image>\n{text}"},
                {"from": "gpt", "value": answer},
            ],
            "question_type": kind,
            "think": think,
        }
        yield row, render(shapes)


def write_dataset(out: str | Path, n: int, seed: int = 0) -> Path:
    """Write `n` samples to `out/train.jsonl` + `out/images/`; reuse a matching existing set."""
    if n <= 0:
        raise ValueError(f"--n {n}: the dataset needs at least one sample")
    out = Path(out)
    refuse_a_file(out, "choose an empty or new --out")  # before the lock file beside it
    out.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{out}.lock"):  # concurrent processes (ranks, sweep cells) build it once
        return _write_dataset(out, n, seed)


def _write_dataset(out: Path, n: int, seed: int) -> Path:
    manifest = {"n": n, "seed": seed, "file": DATA_FILE, "version": VERSION}
    if out.exists():
        try:
            if json.loads((out / MANIFEST).read_text()) == manifest:
                return out
        except (OSError, ValueError):
            pass
        if not _is_synthetic_set(out):
            raise FileExistsError(f"{out} exists and is not this synthetic set; choose an empty or new --out")
        shutil.rmtree(out)  # an older synthetic set (other n, seed or version): rebuilt in place
    with atomic_directory(out) as tmp:
        (tmp / "images").mkdir()
        with open(tmp / DATA_FILE, "w") as f:
            for row, image in synthetic_rows(n, seed):
                image.save(tmp / row["image"])
                f.write(json.dumps(row) + "\n")
        (tmp / MANIFEST).write_text(json.dumps(manifest))
    return out


def _is_synthetic_set(out: Path) -> bool:
    """An empty directory, or one this module wrote (its manifest is there): safe to replace."""
    return out.is_dir() and (not any(out.iterdir()) or (out / MANIFEST).is_file())
