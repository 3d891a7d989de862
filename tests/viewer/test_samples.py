"""Role samples during training: which steps, which rows, the image the model saw, failures contained."""

from __future__ import annotations

import json
import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from batches import rollout_batch
from PIL import Image

from dyco_repro.dyco.config import DyCoConfig
from dyco_repro.dyco.signals import DyCoSignals
from dyco_repro.dyco.weights import advantage_factor
from dyco_repro.tiny.shapes import random_scene, render
from dyco_repro.viewer.samples import (
    REWARD,
    SAMPLES_PER_STEP,
    record_role_samples,
    row_images,
    sample_every,
    unpatchify,
    validate,
)

LENGTHS = [6, 3, 0, 5, 4]  # row 2 has no valid token: never sampled


@pytest.fixture(scope="module")
def scenes():
    rng = random.Random(3)
    return [render(random_scene(rng)) for _ in LENGTHS]


@pytest.fixture(scope="module")
def rows(tiny_processor, scenes):
    inputs, P = rollout_batch(tiny_processor, [(im, "How many red shapes?") for im in scenes], LENGTHS, seed=4)
    return {
        "prompt_ids": inputs["input_ids"][:, :P],
        "prompt_mask": inputs["attention_mask"][:, :P],
        "completion_ids": inputs["input_ids"][:, P:],
        "completion_mask": inputs["attention_mask"][:, P:],
        "pixel_values": inputs["pixel_values"],
        "image_grid_thw": inputs["image_grid_thw"],
        "num_images": [1] * len(LENGTHS),
        REWARD: torch.tensor([0.0, 1.0, 0.5, 1.0, float("nan")]),
    }


def signals_for(mask: torch.Tensor) -> DyCoSignals:
    g = torch.Generator().manual_seed(0)
    B, C = mask.shape
    role = torch.randint(-1, 2, (B, C), generator=g) * mask
    r_vis = torch.rand(B, C, generator=g) * mask
    v_vis, v_txt = torch.rand(B, C, generator=g) * mask, torch.rand(B, C, generator=g) * mask
    score = torch.where(role == 1, r_vis, torch.where(role == -1, 1 - r_vis, 0.0))
    return DyCoSignals(r_vis=r_vis, r_txt=(1 - r_vis) * mask, v_vis=v_vis, v_txt=v_txt, role=role, score=score)


def fake_trainer(tmp_path, processor, rows, step=0, logging_steps=5):
    return SimpleNamespace(
        model=SimpleNamespace(training=True),
        accelerator=SimpleNamespace(is_main_process=True),
        state=SimpleNamespace(global_step=step),
        args=SimpleNamespace(
            logging_steps=logging_steps, max_steps=20, output_dir=str(tmp_path / "run" / "ckpt"), run_name="unit"
        ),
        processing_class=processor,
        _role_rows=rows,
    )


def test_unpatchify_gives_back_the_image_the_model_saw(tiny_processor, scenes):
    enc = tiny_processor.image_processor(images=[scenes[0]], return_tensors="pt")
    t, h, w = enc["image_grid_thw"][0].tolist()
    p = tiny_processor.image_processor.patch_size
    image = unpatchify(enc["pixel_values"], [t, h, w], tiny_processor.image_processor)
    assert tuple(image.shape) == (h * p, w * p, 3)
    resized = torch.tensor(np.array(scenes[0].convert("RGB").resize((w * p, h * p), Image.BICUBIC)))
    assert (image.float() - resized.float()).abs().mean() < 3.0  # the processor's own resize, within rounding
    for wrong in (resized.permute(1, 0, 2), torch.flip(resized, dims=[0])):  # what a wrong inverse gives
        assert (image.float() - wrong.float()).abs().mean() > 5.0


def test_one_image_per_row_and_none_for_an_unknown_layout(tiny_processor, rows):
    images = row_images(rows, tiny_processor)
    assert len(images) == len(LENGTHS) and all(images)
    assert row_images({**rows, "num_images": [1, 1, 1, 1]}, tiny_processor) is None
    assert row_images({k: v for k, v in rows.items() if k != "pixel_values"}, tiny_processor) is None


def test_a_logging_step_keeps_the_first_rows_with_tokens(tmp_path, tiny_processor, rows):
    mask = rows["completion_mask"]
    signals = signals_for(mask)
    factor = advantage_factor(signals, mask, DyCoConfig(variant="token"))
    trainer = fake_trainer(tmp_path, tiny_processor, rows, step=4)  # step 5 is being computed
    path = record_role_samples(trainer, signals, mask, factor)
    assert path == tmp_path / "run" / "roles" / "step_000005.json"
    data = validate(json.loads(path.read_text()))
    assert data["step"] == 5 and data["run"] == "unit"
    kept = [0, 1, 3, 4][:SAMPLES_PER_STEP]
    assert [len(s["tokens"]) for s in data["samples"]] == [LENGTHS[i] for i in kept]
    assert [s["reward"] for s in data["samples"]] == [0.0, 1.0, 1.0, None]  # NaN reward: none
    names = {1: "visual", -1: "textual", 0: "neutral"}
    for sample, i in zip(data["samples"], kept, strict=True):
        n = LENGTHS[i]
        assert [t["role"] for t in sample["tokens"]] == [names[int(r)] for r in signals.role[i, :n]]
        assert [t["r_vis"] for t in sample["tokens"]] == pytest.approx(signals.r_vis[i, :n].tolist())
        assert [t["weight"] for t in sample["tokens"]] == pytest.approx(factor[i, :n].tolist())
        assert sample["advantage_factor"] == pytest.approx(factor[i, :n].mean().item())
        ids = rows["completion_ids"][i, :n].tolist()
        assert "".join(t["text"] for t in sample["tokens"]) == tiny_processor.tokenizer.decode(ids)
        assert sample["image_png"]
    assert {p.name for p in path.parent.iterdir()} == {"step_000005.json", "step_000005.html", "index.html"}
    assert record_role_samples(trainer, signals, mask, factor) is None  # once per step


def test_only_the_first_and_every_logging_step_and_matching_rows(tmp_path, tiny_processor, rows):
    mask = rows["completion_mask"]
    signals, factor = signals_for(mask), torch.ones(mask.shape)
    assert record_role_samples(fake_trainer(tmp_path, tiny_processor, rows, step=0), signals, mask, factor)
    assert record_role_samples(fake_trainer(tmp_path, tiny_processor, rows, step=2), signals, mask, factor) is None
    other = fake_trainer(tmp_path, tiny_processor, rows, step=9)
    assert record_role_samples(other, signals, mask[:, :2], factor[:, :2]) is None  # rows of another pass
    other.model.training = False
    assert record_role_samples(other, signals, mask, factor) is None  # evaluation is not training


def test_a_failure_warns_once_and_training_goes_on(tmp_path, rows, capsys):
    mask = rows["completion_mask"]
    broken = SimpleNamespace(decode=None)  # no usable tokenizer
    trainer = fake_trainer(tmp_path, broken, rows, step=0, logging_steps=1)
    assert record_role_samples(trainer, signals_for(mask), mask, torch.ones(mask.shape)) is None
    assert "role samples stopped" in capsys.readouterr().err
    trainer.state.global_step = 1
    assert record_role_samples(trainer, signals_for(mask), mask, torch.ones(mask.shape)) is None
    assert capsys.readouterr().err == ""


def test_sample_every_follows_logging_steps():
    assert sample_every(SimpleNamespace(logging_steps=5, max_steps=100)) == 5
    assert sample_every(SimpleNamespace(logging_steps=0.1, max_steps=40)) == 4
    assert sample_every(SimpleNamespace(logging_steps=0.01, max_steps=10)) == 1
