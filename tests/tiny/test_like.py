"""`build --like`: the real Qwen2.5-VL shapes with only the depth cut, and the DyCo capture at those widths."""

from __future__ import annotations

import gc
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from batches import rollout_batch

from dyco_repro.dyco import DyCoConfig, compute_signals, key_masks, signals_from_attention
from dyco_repro.tiny.like import LIKE, SPECIAL_IDS, like_config, like_tokenizer
from dyco_repro.tiny.model import build_processor
from dyco_repro.tiny.shapes import random_scene, render

ROOT = Path(__file__).resolve().parents[2]
PAPER_MAX_PIXELS = 802816  # conf/profile/paper.yaml: 1024 merged image tokens at most
FIELDS = ("r_vis", "r_txt", "v_vis", "v_txt", "score")


@pytest.fixture(scope="module")
def tokenizer():
    return like_tokenizer(0)


@pytest.mark.parametrize(
    "like,hidden,heads,kv,vocab,tied",
    [("qwen2_5_vl_3b", 2048, 16, 2, 151936, True), ("qwen2_5_vl_7b", 3584, 28, 4, 152064, False)],
)
def test_like_config_keeps_the_real_widths_and_cuts_depth(like, hidden, heads, kv, vocab, tied):
    config = like_config(like, layers=3, vision_depth=9)
    text, vision = config.text_config, config.vision_config
    assert (text.hidden_size, text.num_attention_heads, text.num_key_value_heads) == (hidden, heads, kv)
    assert text.hidden_size // text.num_attention_heads == 128  # head_dim; mrope sections cover its half
    assert text.rope_parameters["mrope_section"] == [16, 24, 24] and sum([16, 24, 24]) == 64
    assert text.rope_parameters["rope_theta"] == 1_000_000.0
    assert (text.vocab_size, config.tie_word_embeddings) == (vocab, tied)
    assert text.num_hidden_layers == 3 and vision.depth == 9
    assert (vision.hidden_size, vision.num_heads, vision.intermediate_size, vision.out_hidden_size) == (
        1280,
        16,
        3420,
        hidden,
    )
    assert (vision.patch_size, vision.spatial_merge_size, vision.temporal_patch_size, vision.window_size) == (
        14,
        2,
        2,
        112,
    )
    assert vision.fullatt_block_indexes == [7]  # the real [7, 15, 23, 31], cut to the kept 9 blocks
    assert (config.image_token_id, config.vision_start_token_id, config.vision_end_token_id) == (151655, 151652, 151653)


def test_like_config_refuses_depths_outside_the_model():
    with pytest.raises(ValueError, match="--layers 37: choose 1..36"):
        like_config("qwen2_5_vl_3b", 37, 2)
    with pytest.raises(ValueError, match="--vision-depth 0"):
        like_config("qwen2_5_vl_7b", 2, 0)


def test_like_tokenizer_puts_special_tokens_at_the_real_ids(tokenizer):
    assert len(tokenizer) == max(SPECIAL_IDS.values()) + 1 == 151665
    for token, i in SPECIAL_IDS.items():
        assert tokenizer.convert_tokens_to_ids(token) == i
    assert (tokenizer.eos_token_id, tokenizer.pad_token_id, tokenizer.padding_side) == (151645, 151643, "left")
    ids = tokenizer("How many red shapes? <|im_end|>")["input_ids"]
    assert ids[-1] == 151645 and max(ids[:-1]) < 2000  # ordinary text uses the trained BPE tokens
    chat = tokenizer.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Count."}]}],
        add_generation_prompt=True,
        tokenize=False,
    )
    assert "<|vision_start|><|image_pad|><|vision_end|>" in chat


@pytest.mark.parametrize("args", [["--layers", "2"], ["--layers", "0", "--vision-depth", "1"]])
def test_build_like_cli_bad_input_is_one_line_and_exit_2(tmp_path, args):
    out = tmp_path / "model"
    run = subprocess.run(
        [sys.executable, "-m", "dyco_repro.tiny", "build", "--like", "qwen2_5_vl_3b", *args, "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert run.returncode == 2
    assert "--layers" in run.stderr.strip().splitlines()[-1]
    assert not out.exists()


def paper_batch(processor):
    """One image at the paper's max_pixels (896x896: 32x32 merged = 1024 image tokens) and a smaller one
    (448x308: 16x11 = 176), left padded, ragged completions."""
    rng = random.Random(0)
    prompts = [
        (render(random_scene(rng)).resize((896, 896)), "How many red shapes are in the image?"),
        (render(random_scene(rng)).resize((448, 308)), "What colour is the largest shape? Look at every shape."),
    ]
    return rollout_batch(processor, prompts, [7, 4], seed=1)


@pytest.mark.slow
@pytest.mark.parametrize("like", sorted(LIKE))
def test_capture_matches_eager_attention_at_real_widths(tokenizer, like):
    """The hook capture at 3B/7B widths (16/28 heads, 2/4 KV heads, head_dim 128, mrope [16, 24, 24]) equals
    the eager `output_attentions` reduction, float32, with the real image-token counts (1024 and 176)."""
    from transformers import Qwen2_5_VLForConditionalGeneration

    processor = build_processor(tokenizer, 3136, PAPER_MAX_PIXELS)
    inputs, P = paper_batch(processor)
    config = like_config(like, layers=1, vision_depth=1)
    n_image = (inputs["input_ids"] == config.image_token_id).sum(1).tolist()
    assert n_image == [1024, 176]
    # One decoder layer is the layer DyCo reads (the last); the output head plays no part in the capture, so the
    # 7B's untied head is tied here to keep the test's memory near 3 GB.
    config.tie_word_embeddings = config.text_config.tie_word_embeddings = True
    torch.manual_seed(0)
    model = Qwen2_5_VLForConditionalGeneration._from_config(config, dtype=torch.float32).eval()
    cfg = DyCoConfig()
    model.set_attn_implementation("sdpa")
    sig = compute_signals(model, inputs, P, cfg)
    model.set_attn_implementation("eager")
    with torch.no_grad():
        out = model(**inputs, output_attentions=True, use_cache=False, logits_to_keep=1)
    attn = out.attentions[-1].mean(1)  # [B, T, T], heads averaged after softmax
    C = inputs["input_ids"].shape[1] - P
    image, text = key_masks(inputs["input_ids"], inputs["attention_mask"], config.image_token_id, cfg.text_scope)
    ref = signals_from_attention(attn[:, P - 1 : P - 1 + C], image, text, inputs["attention_mask"][:, P:], P, cfg)
    for name in FIELDS:
        diff = (getattr(sig, name) - getattr(ref, name)).abs().max().item()
        assert diff <= 1e-5, f"{like} {name}: max abs diff {diff}"
    assert torch.equal(sig.role, ref.role)
    assert (sig.r_vis[inputs["attention_mask"][:, P:].bool()] > 0).all()
    del model, out
    gc.collect()
