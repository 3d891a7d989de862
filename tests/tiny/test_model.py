"""Tiny Qwen2.5-VL checkpoints: real architecture, offline reload, deterministic, cached."""

from __future__ import annotations

import hashlib
import random

import pytest
import torch
from batches import prompt_part, rollout_batch
from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

from dyco_repro.tiny import SIZES, build_tiny_model, ensure_tiny_model
from dyco_repro.tiny.shapes import random_scene, render


def digest(path) -> str:
    return hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest()


def test_rebuild_from_seed_is_deterministic(tmp_path, tiny_s_dir):
    again = build_tiny_model("s", tmp_path / "again", seed=0)
    other = build_tiny_model("s", tmp_path / "other", seed=1)
    assert digest(again) == digest(tiny_s_dir)
    assert (again / "tokenizer.json").read_bytes() == (tiny_s_dir / "tokenizer.json").read_bytes()
    assert digest(other) != digest(tiny_s_dir)


def test_cache_is_reused(tiny_s_dir):
    before = (tiny_s_dir / "model.safetensors").stat().st_mtime_ns
    assert ensure_tiny_model("s") == tiny_s_dir
    assert (tiny_s_dir / "model.safetensors").stat().st_mtime_ns == before


def test_reloads_offline_with_a_left_padding_processor(tiny_s_dir, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    processor = AutoProcessor.from_pretrained(tiny_s_dir)
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_s_dir)
    tok = processor.tokenizer
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    assert tok.padding_side == "left"
    assert model.config.image_token_id == tok.convert_tokens_to_ids("<|image_pad|>") == processor.image_token_id
    assert model.config.vision_start_token_id == tok.convert_tokens_to_ids("<|vision_start|>")
    assert model.config.text_config.hidden_size == SIZES["s"]["text"][0]

    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "How many?"}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True)
    assert text.startswith("<|im_start|>system\n")
    assert "<|vision_start|><|image_pad|><|vision_end|>How many?<|im_end|>\n" in text
    assert text.endswith("<|im_start|>assistant\n")

    images = [render(random_scene(random.Random(i))) for i in range(2)]
    enc = processor(
        text=[text, text.replace("How many?", "How many red shapes are there?")],
        images=images,
        return_tensors="pt",
        padding=True,
    )
    assert enc["attention_mask"][0, 0] == 0 and enc["attention_mask"][:, -1].all(), "prompts must be left padded"
    assert (enc["input_ids"] == processor.image_token_id).sum() == 2 * 16  # 112x112 -> 8x8 patches -> 16 tokens
    with torch.no_grad():
        out = model(**enc)
    assert out.logits.shape[:2] == enc["input_ids"].shape and torch.isfinite(out.logits).all()


def test_pixels_are_normalised_so_the_white_background_is_zero(tiny_processor):
    """An empty cell's patches are 0 (so its image token carries nothing), a coloured one is far from 0."""
    from PIL import Image

    from dyco_repro.tiny.shapes import COLORS

    white = tiny_processor.image_processor(images=[Image.new("RGB", (112, 112), "white")], return_tensors="pt")
    assert white["pixel_values"].abs().max() == 0
    red = tiny_processor.image_processor(images=[Image.new("RGB", (112, 112), COLORS["red"])], return_tensors="pt")
    assert red["pixel_values"].abs().max() > 1.0


def test_tokenizer_round_trips_reasoning_text(tiny_processor):
    tok = tiny_processor.tokenizer
    text = "<think>I count 3 red circles and 2 blue squares.</think><answer>5</answer>"
    assert tok.decode(tok(text)["input_ids"]) == text
    assert len(tok(text)["input_ids"]) < len(text) / 2, "BPE should have learnt merges"


def test_two_sizes_differ(tmp_path):
    m = build_tiny_model("m", tmp_path / "m")
    config = Qwen2_5_VLForConditionalGeneration.from_pretrained(m).config
    assert config.text_config.hidden_size == SIZES["m"]["text"][0] != SIZES["s"]["text"][0]
    assert config.text_config.num_hidden_layers == SIZES["m"]["text"][1]


def test_unknown_size_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="unknown tiny size"):
        build_tiny_model("xl", tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_generation_runs(tiny_s_dir, tiny_processor):
    inputs, P = rollout_batch(tiny_processor, [(render(random_scene(random.Random(0))), "Count.")], [1])
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_s_dir)
    pad = tiny_processor.tokenizer.pad_token_id
    out = model.generate(**prompt_part(inputs, P), max_new_tokens=5, do_sample=False, pad_token_id=pad)
    assert out.shape == (1, P + 5)
