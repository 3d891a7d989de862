"""Fixtures of the viewer tests: a small synthetic dataset, a headless Chromium."""

from __future__ import annotations

import random
import shutil

import pytest


@pytest.fixture(scope="module")
def dataset():
    """Eight synthetic visual questions as a TRL conversational dataset."""
    from datasets import Dataset

    from dyco_repro.tiny.shapes import random_question, random_scene, render

    rng = random.Random(0)
    rows = []
    for _ in range(8):
        shapes = random_scene(rng)
        q = random_question(rng, shapes)
        content = [{"type": "image"}, {"type": "text", "text": q.text}]
        rows.append({"prompt": [{"role": "user", "content": content}], "image": render(shapes), "solution": q.answer})
    return Dataset.from_list(rows)


@pytest.fixture(scope="session")
def chromium() -> str:
    """The headless Chromium binary (scripts/browser/up.sh installs Debian's `chromium`; .ci/run calls it)."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.skip("no chromium on PATH: run `make browser-up` (scripts/browser/up.sh, root)")
    return binary
