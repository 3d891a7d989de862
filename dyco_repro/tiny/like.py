"""Random Qwen2.5-VL checkpoints with a real model's shapes and only the depth cut (`build --like`).

Widths, attention heads, KV heads, MLP sizes, mrope sections, rope theta, the vision tower's patch, merge,
window and full-attention settings, the vocabulary size and the special-token ids are those of the public
Qwen2.5-VL-3B/7B-Instruct `config.json` and `preprocessor_config.json`; `--layers` and `--vision-depth` keep
the first N decoder layers and M vision blocks (the full-attention vision blocks are the real ones that
fall inside the kept depth). The tokenizer is the tiny world's locally trained BPE, renumbered so that
every Qwen2.5 special token (`<|endoftext|>` 151643 ... `<|file_sep|>` 151664) has its real id; the ids
in between are unused fillers. Weights are random (nothing is downloaded), saved in bfloat16 as the real
checkpoints are.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..atomic import atomic_directory

# The published configs (Qwen/Qwen2.5-VL-{3B,7B}-Instruct, config.json).
LIKE = {
    "qwen2_5_vl_3b": {
        "text": {
            "hidden_size": 2048,
            "intermediate_size": 11008,
            "num_hidden_layers": 36,
            "num_attention_heads": 16,
            "num_key_value_heads": 2,
            "vocab_size": 151936,
            "tie_word_embeddings": True,
        },
        "vision": {"depth": 32, "out_hidden_size": 2048},
    },
    "qwen2_5_vl_7b": {
        "text": {
            "hidden_size": 3584,
            "intermediate_size": 18944,
            "num_hidden_layers": 28,
            "num_attention_heads": 28,
            "num_key_value_heads": 4,
            "vocab_size": 152064,
            "tie_word_embeddings": False,
        },
        "vision": {"depth": 32, "out_hidden_size": 3584},
    },
}
TEXT_SHARED = {
    "max_position_embeddings": 128000,
    "rms_norm_eps": 1e-6,
    "hidden_act": "silu",
    "sliding_window": 32768,
    "rope_parameters": {"rope_type": "default", "rope_theta": 1_000_000.0, "mrope_section": [16, 24, 24]},
}
VISION_SHARED = {
    "hidden_size": 1280,
    "intermediate_size": 3420,
    "num_heads": 16,
    "hidden_act": "silu",
    "in_chans": 3,
    "patch_size": 14,
    "spatial_merge_size": 2,
    "temporal_patch_size": 2,
    "window_size": 112,
    "fullatt_block_indexes": [7, 15, 23, 31],
    "tokens_per_second": 2,
}
# Qwen2.5's special tokens and their ids (tokenizer.json `added_tokens`).
SPECIAL_IDS = {
    "<|endoftext|>": 151643,
    "<|im_start|>": 151644,
    "<|im_end|>": 151645,
    "<|object_ref_start|>": 151646,
    "<|object_ref_end|>": 151647,
    "<|box_start|>": 151648,
    "<|box_end|>": 151649,
    "<|quad_start|>": 151650,
    "<|quad_end|>": 151651,
    "<|vision_start|>": 151652,
    "<|vision_end|>": 151653,
    "<|vision_pad|>": 151654,
    "<|image_pad|>": 151655,
    "<|video_pad|>": 151656,
    "<tool_call>": 151657,
    "</tool_call>": 151658,
    "<|fim_prefix|>": 151659,
    "<|fim_middle|>": 151660,
    "<|fim_suffix|>": 151661,
    "<|fim_pad|>": 151662,
    "<|repo_name|>": 151663,
    "<|file_sep|>": 151664,
}
FIRST_SPECIAL = min(SPECIAL_IDS.values())
# preprocessor_config.json: the processor's own bounds (training and evaluation pass their own max_pixels).
PROCESSOR_MIN_PIXELS, PROCESSOR_MAX_PIXELS = 3136, 12845056
MANIFEST = "like_manifest.json"


def like_config(like: str, layers: int, vision_depth: int):
    """The Qwen2_5_VLConfig of `like` with `layers` decoder layers and `vision_depth` vision blocks.

    Raises ValueError for an unknown model or a depth outside 1..the real depth."""
    from transformers import Qwen2_5_VLConfig

    if like not in LIKE:
        raise ValueError(f"--like {like}: use one of {', '.join(sorted(LIKE))}")
    real = LIKE[like]
    for flag, value, top in (
        ("--layers", layers, real["text"]["num_hidden_layers"]),
        ("--vision-depth", vision_depth, real["vision"]["depth"]),
    ):
        if not 1 <= value <= top:
            raise ValueError(f"{flag} {value}: choose 1..{top} ({like} has {top})")
    ids = SPECIAL_IDS
    text = TEXT_SHARED | real["text"] | {"num_hidden_layers": layers}
    text |= {
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
    }
    vision = VISION_SHARED | real["vision"] | {"depth": vision_depth}
    vision["fullatt_block_indexes"] = [i for i in VISION_SHARED["fullatt_block_indexes"] if i < vision_depth]
    return Qwen2_5_VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=real["text"]["tie_word_embeddings"],
    )


def like_tokenizer(seed: int = 0):
    """The tiny BPE with Qwen2.5's vocabulary layout: ordinary tokens from 0, special tokens at their real ids."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    from .tokenizer import CHAT_TEMPLATE, build_tokenizer

    tiny = json.loads(build_tokenizer(seed).backend_tokenizer.to_str())
    specials = {t["content"] for t in tiny["added_tokens"]}
    ordinary = [tok for tok, _ in sorted(tiny["model"]["vocab"].items(), key=lambda kv: kv[1]) if tok not in specials]
    vocab = {tok: i for i, tok in enumerate(ordinary)}
    # unreachable placeholders (no merge builds them) so that the special tokens sit at Qwen2.5's ids
    vocab |= {f"<|dyco_unused_{i}|>": i for i in range(len(vocab), FIRST_SPECIAL)}
    tiny["model"]["vocab"] = vocab
    tiny["added_tokens"] = [
        {
            "id": i,
            "content": tok,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": True,
        }
        for tok, i in SPECIAL_IDS.items()
    ]
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(json.dumps(tiny)),
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens=[t for t in SPECIAL_IDS if t not in ("<|im_end|>", "<|endoftext|>")],
        padding_side="left",
        chat_template=CHAT_TEMPLATE,
        model_max_length=131072,
    )
    wrong = {
        t: tokenizer.convert_tokens_to_ids(t) for t, i in SPECIAL_IDS.items() if tokenizer.convert_tokens_to_ids(t) != i
    }
    if wrong:
        raise RuntimeError(f"special tokens landed at the wrong ids: {wrong}")
    return tokenizer


def build_like(like: str, out: str | Path, layers: int, vision_depth: int, seed: int = 0) -> Path:
    """Build the depth-cut `like` checkpoint into `out` (atomically), bfloat16 weights, left-padding processor."""
    from transformers import GenerationConfig, Qwen2_5_VLForConditionalGeneration

    from .model import build_processor

    config = like_config(like, layers, vision_depth)
    tokenizer = like_tokenizer(seed)
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration._from_config(config, dtype=torch.bfloat16).eval()
    # Qwen2.5-VL's generation_config.json stops on <|im_end|> and <|endoftext|>; its sampling values are left out
    # (training and evaluation set their own).
    model.generation_config = GenerationConfig(
        bos_token_id=SPECIAL_IDS["<|endoftext|>"],
        eos_token_id=[SPECIAL_IDS["<|im_end|>"], SPECIAL_IDS["<|endoftext|>"]],
        pad_token_id=SPECIAL_IDS["<|endoftext|>"],
    )
    processor = build_processor(tokenizer, PROCESSOR_MIN_PIXELS, PROCESSOR_MAX_PIXELS)
    manifest = {"like": like, "layers": layers, "vision_depth": vision_depth, "seed": seed}
    with atomic_directory(Path(out)) as tmp:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return Path(out)
