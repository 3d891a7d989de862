"""Prompt + completion batches shaped like an RL rollout, for the tests (the package never needs them).

Prompts go through the processor (left padded, as training needs); completions are random
tokens of given lengths, right padded, as a sampler would return them.
"""

from __future__ import annotations

import torch
from PIL import Image


def rollout_batch(
    processor,
    prompts: list[tuple[Image.Image | None, str]],
    completion_lengths: list[int],
    seed: int = 0,
) -> tuple[dict[str, torch.Tensor], int]:
    """Model inputs over `[prompt | completion]` and the padded prompt length P."""
    texts, images = [], []
    for image, question in prompts:
        content = ([{"type": "image"}] if image is not None else []) + [{"type": "text", "text": question}]
        texts.append(processor.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True))
        if image is not None:
            images.append(image)
    enc = processor(text=texts, images=images or None, return_tensors="pt", padding=True, padding_side="left")
    prompt_length = enc["input_ids"].shape[1]

    gen = torch.Generator().manual_seed(seed)
    C = max(completion_lengths)
    tokenizer = processor.tokenizer
    special = set(tokenizer.all_special_ids)
    ordinary = torch.tensor([i for i in range(len(tokenizer)) if i not in special])
    completion = ordinary[torch.randint(len(ordinary), (len(prompts), C), generator=gen)]
    completion_mask = (torch.arange(C)[None, :] < torch.tensor(completion_lengths)[:, None]).long()
    completion = torch.where(completion_mask.bool(), completion, tokenizer.pad_token_id)

    inputs = dict(enc)
    inputs["input_ids"] = torch.cat([enc["input_ids"], completion], dim=1)
    inputs["attention_mask"] = torch.cat([enc["attention_mask"], completion_mask], dim=1)
    if "mm_token_type_ids" in inputs:
        inputs["mm_token_type_ids"] = torch.cat([enc["mm_token_type_ids"], torch.zeros_like(completion)], dim=1)
    return inputs, prompt_length


def prompt_part(inputs: dict[str, torch.Tensor], prompt_length: int) -> dict[str, torch.Tensor]:
    """The prompt-only inputs of a rollout batch, as `generate` takes them."""
    per_token = ("input_ids", "attention_mask", "mm_token_type_ids")
    return {k: v[:, :prompt_length] if k in per_token else v for k, v in inputs.items()}


def trainer_inputs(inputs: dict[str, torch.Tensor], prompt_length: int) -> dict:
    """A rollout batch split as TRL's GRPO-family `_compute_loss` receives it (no advantages)."""
    n = inputs["input_ids"].shape[0]
    batch = {
        "prompt_ids": inputs["input_ids"][:, :prompt_length],
        "prompt_mask": inputs["attention_mask"][:, :prompt_length],
        "completion_ids": inputs["input_ids"][:, prompt_length:],
        "completion_mask": inputs["attention_mask"][:, prompt_length:],
        "pixel_values": inputs["pixel_values"],
        "image_grid_thw": inputs["image_grid_thw"],
        "num_images": [1] * n,
    }
    if "mm_token_type_ids" in inputs:
        batch["mm_token_type_ids"] = inputs["mm_token_type_ids"]
    return batch
