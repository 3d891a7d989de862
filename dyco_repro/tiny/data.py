"""Synthetic visual-reasoning training set in the released code's JSONL format.

Each line: {"id", "image": "images/<id>.png", "conversations": [{"from": "human", "value":
"<image>\\n<question>"}, {"from": "gpt", "value": "<answer>"}]}. Written atomically: a temp
directory renamed into place, so a crash never leaves a half-written set.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from filelock import FileLock

from ..atomic import atomic_directory
from .shapes import random_question, random_scene, render

MANIFEST = "synthetic_manifest.json"
DATA_FILE = "train.jsonl"


def synthetic_rows(n: int, seed: int = 0):
    """Yield (row, image) pairs; the row's image path is relative to the dataset directory."""
    rng = random.Random(seed)
    for i in range(n):
        shapes = random_scene(rng)
        question = random_question(rng, shapes)
        sample_id = f"synth-{seed}-{i:06d}"
        row = {
            "id": sample_id,
            "image": f"images/{sample_id}.png",
            "conversations": [
                {"from": "human", "value": f"<image>\n{question.text}"},
                {"from": "gpt", "value": question.answer},
            ],
            "question_type": question.kind,
        }
        yield row, render(shapes)


def write_dataset(out: str | Path, n: int, seed: int = 0) -> Path:
    """Write `n` samples to `out/train.jsonl` + `out/images/`; reuse a matching existing set."""
    if n <= 0:
        raise ValueError(f"--n {n}: the dataset needs at least one sample")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{out}.lock"):  # concurrent processes (ranks, sweep cells) build it once
        return _write_dataset(out, n, seed)


def _write_dataset(out: Path, n: int, seed: int) -> Path:
    manifest = {"n": n, "seed": seed, "file": DATA_FILE}
    if out.exists():
        try:
            if json.loads((out / MANIFEST).read_text()) == manifest:
                return out
        except (OSError, ValueError):
            pass
        if not out.is_dir() or any(out.iterdir()):
            raise FileExistsError(f"{out} exists and is not this synthetic set; choose an empty or new --out")
        out.rmdir()
    with atomic_directory(out) as tmp:
        (tmp / "images").mkdir()
        with open(tmp / DATA_FILE, "w") as f:
            for row, image in synthetic_rows(n, seed):
                image.save(tmp / row["image"])
                f.write(json.dumps(row) + "\n")
        (tmp / MANIFEST).write_text(json.dumps(manifest))
    return out
