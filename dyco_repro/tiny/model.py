"""Tiny, randomly initialised Qwen2.5-VL checkpoints: the real architecture, tiny dimensions.

A checkpoint directory holds the model (safetensors), the locally trained tokenizer and a
left-padding processor; `AutoProcessor.from_pretrained(dir)` and
`Qwen2_5_VLForConditionalGeneration.from_pretrained(dir)` reload it offline. A manifest
records how it was built, so `ensure_tiny_model` rebuilds only when something changed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from filelock import FileLock

from ..atomic import atomic_directory
from ..compat import ensure_torchvision_importable

BUILDER_VERSION = 6  # bump whenever the tokenizer corpus, sizes or config change: cached builds are rebuilt
MANIFEST = "tiny_manifest.json"

# Text: hidden, layers, heads, kv heads, intermediate, mrope section (sums to head_dim / 2).
# Vision: depth, hidden, heads, intermediate.
SIZES = {
    "s": {"text": (64, 2, 4, 2, 128, [2, 3, 3]), "vision": (2, 32, 2, 64)},
    "m": {"text": (128, 4, 4, 2, 256, [4, 6, 6]), "vision": (2, 64, 2, 128)},
}
IMAGE_MIN_PIXELS = 56 * 56
IMAGE_MAX_PIXELS = 112 * 112
# The tiny world's pixel normalisation: white (the background) is 0 and a colour is up to -2 per channel, so an
# empty cell's image token is near zero and a shape's token carries its colour. With CLIP's statistics (Qwen's)
# every token shares a large white component (cosine 0.81 between a scene's tokens, 0.47 with this), and the
# warm start learned to ignore the image (README, tiny world).
TINY_IMAGE_MEAN, TINY_IMAGE_STD = (1.0, 1.0, 1.0), (0.5, 0.5, 0.5)


def qwen2_5_vl_config(tokenizer, text: tuple, vision: tuple, vocab_size: int | None = None):
    """A Qwen2_5_VLConfig with the given dimensions and the tokenizer's special-token ids."""
    from transformers import Qwen2_5_VLConfig

    hidden, layers, heads, kv_heads, intermediate, mrope = text
    depth, v_hidden, v_heads, v_intermediate = vision
    ids = tokenizer.convert_tokens_to_ids
    return Qwen2_5_VLConfig(
        text_config={
            "vocab_size": vocab_size or len(tokenizer),
            "hidden_size": hidden,
            "num_hidden_layers": layers,
            "num_attention_heads": heads,
            "num_key_value_heads": kv_heads,
            "intermediate_size": intermediate,
            "max_position_embeddings": 8192,
            "rope_parameters": {"rope_type": "default", "rope_theta": 1_000_000.0, "mrope_section": mrope},
            "bos_token_id": ids("<|endoftext|>"),
            "eos_token_id": ids("<|im_end|>"),
            "pad_token_id": ids("<|endoftext|>"),
        },
        vision_config={
            "depth": depth,
            "hidden_size": v_hidden,
            "num_heads": v_heads,
            "intermediate_size": v_intermediate,
            "out_hidden_size": hidden,
            "fullatt_block_indexes": [depth - 1],
            "window_size": 112,
        },
        image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
        tie_word_embeddings=False,
    )


def build_processor(
    tokenizer,
    min_pixels: int = IMAGE_MIN_PIXELS,
    max_pixels: int = IMAGE_MAX_PIXELS,
    image_mean: tuple[float, ...] | None = None,
    image_std: tuple[float, ...] | None = None,
):
    """The stock Qwen2.5-VL processor around our tokenizer, padding on the left (mean/std: Qwen's unless given)."""
    ensure_torchvision_importable()
    from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor
    from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

    tokenizer.padding_side = "left"
    return Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(
            min_pixels=min_pixels,
            max_pixels=max_pixels,
            **({"image_mean": list(image_mean), "image_std": list(image_std)} if image_mean else {}),
        ),
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(),
        chat_template=tokenizer.chat_template,
    )


def build_tiny_model(size: str, out: str | Path, seed: int = 0) -> Path:
    """Build checkpoint `size` into `out` (atomically: a temp dir renamed into place)."""
    from transformers import Qwen2_5_VLForConditionalGeneration

    from .tokenizer import build_tokenizer

    if size not in SIZES:
        raise ValueError(f"unknown tiny size {size!r}; use one of {sorted(SIZES)}")
    out = Path(out)
    tokenizer = build_tokenizer(seed)
    config = qwen2_5_vl_config(tokenizer, SIZES[size]["text"], SIZES[size]["vision"])
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config).eval()
    processor = build_processor(tokenizer, image_mean=TINY_IMAGE_MEAN, image_std=TINY_IMAGE_STD)

    with atomic_directory(out) as tmp:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        (tmp / MANIFEST).write_text(json.dumps(_manifest(size, seed), indent=2))
    return out


def _manifest(size: str, seed: int) -> dict:
    import transformers

    from .data import VERSION as DATA_VERSION  # the tokenizer is trained on the synthetic questions

    return {
        "size": size,
        "seed": seed,
        "builder": BUILDER_VERSION,
        "data": DATA_VERSION,
        "transformers": transformers.__version__,
    }


def is_built(out: str | Path, size: str, seed: int = 0) -> bool:
    path = Path(out) / MANIFEST
    try:
        return json.loads(path.read_text()) == _manifest(size, seed)
    except (OSError, ValueError):
        return False


def cache_dir() -> Path:
    """Where built tiny worlds live: $DYCO_REPRO_CACHE, else ~/.cache/dyco_repro."""
    return Path(os.environ.get("DYCO_REPRO_CACHE", Path.home() / ".cache" / "dyco_repro"))


def ensure_tiny_model(size: str, root: str | Path | None = None, seed: int = 0) -> Path:
    """Path of the cached tiny checkpoint, building it on first use (one builder at a time)."""
    out = Path(root or cache_dir()) / f"tiny_{size}_seed{seed}"
    out.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{out}.lock"):
        if not is_built(out, size, seed):
            build_tiny_model(size, out, seed)
    return out
