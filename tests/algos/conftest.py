"""Fixtures shared by the trainer-family tests."""

from __future__ import annotations

import random

import pytest
from datasets import Dataset

from dyco_repro.tiny.shapes import random_question, random_scene, render


@pytest.fixture(scope="module")
def dataset():
    """Eight synthetic visual questions as a TRL conversational dataset."""
    rng = random.Random(0)
    rows = []
    for _ in range(8):
        shapes = random_scene(rng)
        q = random_question(rng, shapes)
        content = [{"type": "image"}, {"type": "text", "text": q.text}]
        rows.append({"prompt": [{"role": "user", "content": content}], "image": render(shapes), "solution": q.answer})
    return Dataset.from_list(rows)
