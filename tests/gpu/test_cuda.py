"""The GPU lane: paths that only run on CUDA (bf16 attention statistics, VLMEvalKit's Qwen2VLChat
backend). Marked `gpu`: skipped, with the reason, where torch sees no CUDA device (CI, laptops)."""

from __future__ import annotations

import random

import pytest
import torch

pytestmark = pytest.mark.gpu

FIELDS = ("r_vis", "r_txt", "v_vis", "v_txt", "score")


def test_the_capture_reduces_bf16_attention_in_float32_and_matches_the_cpu_reference(tiny_s_dir, tiny_processor):
    from batches import rollout_batch
    from transformers import Qwen2_5_VLForConditionalGeneration

    from dyco_repro.dyco import DyCoConfig, compute_signals
    from dyco_repro.tiny.shapes import random_scene, render

    rng = random.Random(0)
    prompts = [
        (render(random_scene(rng)), "How many red shapes are in the image?"),
        (render(random_scene(rng)), "Count."),
    ]
    inputs, prompt_length = rollout_batch(tiny_processor, prompts, [9, 5], seed=1)
    cfg = DyCoConfig()

    def signals(device, dtype):
        model = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_s_dir, attn_implementation="sdpa", dtype=dtype)
        moved = {k: v.to(device) if torch.is_tensor(v) else v for k, v in inputs.items()}
        return compute_signals(model.to(device).eval(), moved, prompt_length, cfg)

    reference = signals("cpu", torch.float32)
    on_gpu = signals("cuda", torch.bfloat16)
    for name in FIELDS:
        value = getattr(on_gpu, name)
        assert value.dtype == torch.float32 and torch.isfinite(value).all(), name
        assert (value.cpu() - getattr(reference, name)).abs().max().item() < 0.05, name  # bf16 weights, fp32 sums


def test_the_vlmeval_backend_is_accepted_where_cuda_is():
    from dyco_repro.evaluate import check_backend

    check_backend("vlmeval")  # raises EvalError without CUDA
