"""Shared fixtures: the tiny world is built once per machine into the repo's .cache/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

import dyco_repro  # noqa: F401  (first: makes torchvision, hence transformers, importable on CPU)

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("DYCO_REPRO_CACHE", str(REPO / ".cache" / "dyco_repro"))


# CI runs the property tests on a fixed sequence of examples; locally they keep exploring.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


def pytest_collection_modifyitems(items):
    """Fast unit tests first, slow end-to-end tests last (stable otherwise); the gpu lane skips,
    saying why, where torch sees no CUDA device."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is not None)
    gpu_items = [item for item in items if item.get_closest_marker("gpu") is not None]
    if gpu_items:
        import torch

        if not torch.cuda.is_available():
            reason = "gpu lane: needs a CUDA GPU (torch.cuda.is_available() is False); run it with pytest -m gpu there"
            for item in gpu_items:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def tiny_s_dir() -> Path:
    from dyco_repro.tiny import ensure_tiny_model

    return ensure_tiny_model("s")


@pytest.fixture(scope="session")
def tiny_processor(tiny_s_dir):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(tiny_s_dir)


@pytest.fixture(autouse=True)
def _autograd_on():
    """Importing VLMEvalKit switches autograd off process-wide; no test may inherit that."""
    import torch

    torch.set_grad_enabled(True)


@pytest.fixture(autouse=True)
def _no_leaked_mlflow_uri(monkeypatch):
    """mlflow.set_tracking_uri writes MLFLOW_TRACKING_URI into the environment; a later test's
    subprocess would take it for the user's override."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


@pytest.fixture(scope="module")
def dataset():
    """Eight synthetic visual questions as a TRL conversational dataset (trainer-family and viewer tests)."""
    import random

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
