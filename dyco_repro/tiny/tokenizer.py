"""A byte-level BPE tokenizer trained locally, with Qwen2.5-VL's special tokens and a Qwen
chat template, so the tiny world speaks the same token protocol as the real model."""

from __future__ import annotations

import random

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from .shapes import COLORS, KINDS

SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]

# Qwen2-VL's conversation layout: a default system turn, images as
# <|vision_start|><|image_pad|><|vision_end|> (the processor expands <|image_pad|>).
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if loop.first and message['role'] != 'system' -%}"
    "{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{%- if message['content'] is string -%}{{- message['content'] -}}"
    "{%- else -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' or 'image' in part -%}{{- '<|vision_start|><|image_pad|><|vision_end|>' -}}"
    "{%- elif part['type'] == 'text' -%}{{- part['text'] -}}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{{- '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)


def training_corpus(seed: int, n: int = 1500) -> list[str]:
    """Text the tokenizer should compress well: the synthetic prompts, reasoning and answers, chat markup."""
    from ..data.jsonl import FORMAT_INSTRUCTION
    from .data import FORMATS, synthetic_question
    from .warmstart import target_completion

    rng = random.Random(f"tokenizer:{seed}")
    lines = []
    for i in range(n):
        _, text, answer, think, _ = synthetic_question(rng, FORMATS[i % len(FORMATS)])
        lines.append(f"system\nYou are a helpful assistant.\nuser\n{text}\n{FORMAT_INSTRUCTION}\nassistant\n")
        lines.append(target_completion(think, answer))
    lines += [str(i) for i in range(100)]
    lines.append(f"{' '.join(COLORS)} {' '.join(KINDS)} (A) (B) (C) (D) yes no Yes No true false")
    return lines


def build_tokenizer(seed: int, vocab_size: int = 1024) -> PreTrainedTokenizerFast:
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(training_corpus(seed), trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens=[t for t in SPECIAL_TOKENS if t not in ("<|im_end|>", "<|endoftext|>")],
        padding_side="left",
        chat_template=CHAT_TEMPLATE,
        model_max_length=32768,
    )
