"""The hook-based capture against eager `output_attentions` of the same model."""

from __future__ import annotations

import random

import pytest
import torch
from batches import prompt_part, rollout_batch
from torch.utils._python_dispatch import TorchDispatchMode
from transformers import Qwen2_5_VLForConditionalGeneration

from dyco_repro.dyco import DyCoConfig, capture_attention, compute_signals, key_masks, signals_from_attention
from dyco_repro.dyco import capture as capture_module
from dyco_repro.tiny.shapes import random_scene, render

FIELDS = ("r_vis", "r_txt", "v_vis", "v_txt", "score")


def load(path, impl="sdpa", dtype=torch.float32):
    return Qwen2_5_VLForConditionalGeneration.from_pretrained(path, attn_implementation=impl, dtype=dtype).eval()


@pytest.fixture(scope="module")
def batch(tiny_processor):
    """3 samples: different image sizes and prompt lengths (left padded), ragged completions."""
    rng = random.Random(0)
    images = [render(random_scene(rng)).resize(size) for size in [(112, 112), (56, 84), (84, 56)]]
    prompts = [
        (images[0], "How many red shapes are in the image?"),
        (images[1], "What colour is the largest shape? Look carefully at every shape before you answer."),
        (images[2], "Count."),
    ]
    inputs, prompt_length = rollout_batch(tiny_processor, prompts, [9, 4, 6], seed=1)
    assert (inputs["attention_mask"][:, 0] == 0).any(), "the batch must contain left padding"
    return inputs, prompt_length


def eager_reference(path, inputs, prompt_length, cfg):
    """Signals from the dense eager attention probabilities of the configured layers."""
    model = load(path, "eager")
    with torch.no_grad():
        out = model(**inputs, output_attentions=True)
    n_layers = len(out.attentions)
    attn = torch.stack([out.attentions[i % n_layers] for i in cfg.layers]).mean(0).mean(1)  # [B, T, T]
    C = inputs["input_ids"].shape[1] - prompt_length
    rows = attn[:, prompt_length - 1 : prompt_length - 1 + C]
    image, text = key_masks(inputs["input_ids"], inputs["attention_mask"], model.config.image_token_id, cfg.text_scope)
    return signals_from_attention(rows, image, text, inputs["attention_mask"][:, prompt_length:], prompt_length, cfg)


def assert_close(sig, ref, atol=1e-5):
    for name in FIELDS:
        diff = (getattr(sig, name) - getattr(ref, name)).abs().max().item()
        assert diff <= atol, f"{name}: max abs diff {diff}"
    assert torch.equal(sig.role, ref.role)


@pytest.mark.parametrize("impl", ["sdpa", "eager"])
@pytest.mark.parametrize("layers,scope", [((-1,), "after_image"), ((0, -1), "after_image"), ((-1,), "all")])
def test_compute_signals_matches_eager_attention(tiny_s_dir, batch, impl, layers, scope):
    inputs, P = batch
    cfg = DyCoConfig(layers=layers, text_scope=scope)
    sig = compute_signals(load(tiny_s_dir, impl), inputs, P, cfg)
    ref = eager_reference(tiny_s_dir, inputs, P, cfg)
    assert_close(sig, ref)
    assert sig.role[:, 0].eq(0).all()
    assert (sig.v_vis[:, 1:][inputs["attention_mask"][:, P + 1 :].bool()] > 0).all(), "signal must not be trivial"


def test_capture_runs_once_under_gradient_checkpointing(tiny_s_dir, batch):
    inputs, P = batch
    cfg = DyCoConfig()
    model = load(tiny_s_dir, "sdpa").train()
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    calls = []
    hook = model.model.language_model.layers[-1].self_attn.register_forward_pre_hook(lambda *a: calls.append(1))
    with capture_attention(model, P, cfg) as cap:
        out = model(**inputs, use_cache=False)
        out.logits.float().mean().backward()
    hook.remove()
    assert len(calls) == 2, "gradient checkpointing should re-run the layer in backward"
    assert cap.num_captured == 1
    assert_close(cap.signals(inputs["attention_mask"][:, P:]), eager_reference(tiny_s_dir, inputs, P, cfg))


def test_capture_leaves_model_outputs_unchanged(tiny_s_dir, batch):
    inputs, P = batch
    model = load(tiny_s_dir)
    with torch.no_grad():
        plain = model(**inputs).logits
        with capture_attention(model, P, DyCoConfig()):
            armed = model(**inputs).logits
    assert torch.equal(plain, armed)
    assert not model._forward_pre_hooks and not model.model.language_model.layers[-1].self_attn._forward_pre_hooks


def test_capture_is_off_during_generate(tiny_s_dir, tiny_processor, batch):
    inputs, P = batch
    model = load(tiny_s_dir)
    prompt = prompt_part(inputs, P)
    kwargs = dict(max_new_tokens=4, do_sample=False, pad_token_id=tiny_processor.tokenizer.pad_token_id)
    plain = model.generate(**prompt, **kwargs)
    with capture_attention(model, P, DyCoConfig()) as cap:
        armed = model.generate(**prompt, **kwargs)
    assert cap.num_captured == 0
    assert torch.equal(plain, armed)
    with pytest.raises(RuntimeError, match="no forward"):
        cap.statistics()


def test_split_batches_concatenate(tiny_s_dir, batch):
    """TRL may run one batch as several forwards; the capture must stitch them in order."""
    inputs, P = batch
    model, cfg = load(tiny_s_dir), DyCoConfig()
    n_images = [int(t.prod()) for t in inputs["image_grid_thw"]]

    def part(rows):
        sub = {k: v[rows] for k, v in inputs.items() if k not in ("pixel_values", "image_grid_thw")}
        offsets = [sum(n_images[:i]) for i in range(len(n_images) + 1)]
        sub["pixel_values"] = torch.cat([inputs["pixel_values"][offsets[i] : offsets[i + 1]] for i in rows])
        sub["image_grid_thw"] = inputs["image_grid_thw"][rows]
        return sub

    with capture_attention(model, P, cfg) as cap, torch.no_grad():
        model(**part([0, 1]))
        model(**part([2]))
    assert cap.num_captured == 2
    assert_close(cap.signals(inputs["attention_mask"][:, P:]), compute_signals(model, inputs, P, cfg))


class _LargestTensor(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func.is_view:  # views allocate nothing
            return out
        for t in out if isinstance(out, (tuple, list)) else [out]:
            if isinstance(t, torch.Tensor):
                if t.numel() > self.largest:
                    self.largest, self.op = t.numel(), (func, t.shape)
        return out


def test_chunks_bound_memory_and_do_not_change_results(tiny_s_dir, batch, monkeypatch):
    inputs, P = batch
    model, cfg = load(tiny_s_dir), DyCoConfig()
    B, T = inputs["input_ids"].shape
    H = model.config.text_config.num_attention_heads
    whole = compute_signals(model, inputs, P, cfg)

    budget = B * H * T * 2  # two query rows per chunk
    mode = _LargestTensor()
    reduce = capture_module.AttentionCapture._reduce

    def watched(self, pending):
        with mode:
            return reduce(self, pending)

    monkeypatch.setattr(capture_module.AttentionCapture, "_reduce", watched)
    with capture_attention(model, P, cfg, chunk_elements=budget) as cap, torch.no_grad():
        model(**inputs)
    assert_close(cap.signals(inputs["attention_mask"][:, P:]), whole, atol=1e-6)
    assert mode.largest <= budget < B * H * T * T, mode.op


def test_bfloat16_model_gives_finite_signals(tiny_s_dir, batch):
    inputs, P = batch
    inputs = {k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in inputs.items()}
    sig = compute_signals(load(tiny_s_dir, dtype=torch.bfloat16), inputs, P, DyCoConfig())
    for name in FIELDS:
        assert torch.isfinite(getattr(sig, name)).all()
    assert sig.r_vis.dtype == torch.float32


def test_bad_layer_index_is_rejected(tiny_s_dir, batch):
    inputs, P = batch
    with pytest.raises(ValueError, match="out of range"):
        compute_signals(load(tiny_s_dir), inputs, P, DyCoConfig(layers=(5,)))


def test_capture_takes_image_keys_from_the_prompt_only(tiny_s_dir, batch):
    """An image-pad token inside the completion is not an image key (the masks the capture builds)."""
    inputs, P = batch
    model, cfg = load(tiny_s_dir), DyCoConfig()
    ids = inputs["input_ids"].clone()
    ids[0, P + 2] = model.config.image_token_id
    with capture_attention(model, P, cfg) as cap:
        cap._on_model_start(model, (), {"input_ids": ids, "attention_mask": inputs["attention_mask"]})
        pending = cap._pending
    assert not pending["image"][:, P:].any()
    assert (
        pending["text"][0, P + 2]
        and pending["image"][:, :P].sum() == (inputs["input_ids"][:, :P] == ids[0, P + 2]).sum()
    )
