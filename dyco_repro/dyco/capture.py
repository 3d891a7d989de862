"""Capture DyCo attention statistics from a forward that training already performs.

A forward pre-hook on the chosen decoder layers' self-attention receives `hidden_states` and
`position_embeddings`; it recomputes that layer's post-RoPE queries (completion rows only) and
keys, and reduces the completion rows, a chunk at a time, to `RowStatistics`. The model's own
attention implementation (eager, sdpa, flash) is untouched, `[B, H, T, T]` is never built, and
no extra forward pass runs.

The hooks act only inside a top-level forward over prompt + completion: recomputation under
gradient checkpointing (which happens during backward) and `generate` steps (a KV cache, or no
completion yet) are ignored.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from .config import DyCoConfig
from .signals import DyCoSignals, RowStatistics, key_masks, row_statistics, signals_from_statistics

# Float32 elements of one [B, H, chunk, T] score block (8 MiB): bounds the extra memory and stays
# cache-friendly; larger blocks were no faster on CPU.
DEFAULT_CHUNK_ELEMENTS = 1 << 21


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The language model's decoder layers (the first ModuleList whose blocks have `self_attn`)."""
    for module in model.modules():
        if isinstance(module, nn.ModuleList) and len(module) and all(hasattr(m, "self_attn") for m in module):
            return module
    raise ValueError(f"{type(model).__name__} has no decoder layers with `self_attn`; DyCo needs a HF decoder VLM")


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def _rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Qwen's RoPE on `[B, heads, T, d]`; cos/sin are `[B, T, d]` (mrope already composed)."""
    cos, sin = cos[:, None], sin[:, None]
    return x * cos + _rotate_half(x) * sin


class AttentionCapture:
    """Collects `RowStatistics` for every qualifying forward while armed (see `capture_attention`)."""

    def __init__(
        self,
        model: nn.Module,
        prompt_length: int,
        cfg: DyCoConfig,
        chunk_elements: int = DEFAULT_CHUNK_ELEMENTS,
    ) -> None:
        self.model = model
        self.prompt_length = prompt_length
        self.cfg = cfg
        self.chunk_elements = chunk_elements
        self.image_token_id = _config_of(model).image_token_id
        layers = decoder_layers(model)
        n = len(layers)
        bad = [i for i in cfg.layers if not -n <= i < n]
        if bad:
            raise ValueError(f"dyco.layers {bad} out of range for a model with {n} decoder layers")
        self.layer_ids = sorted({i % n for i in cfg.layers})
        self._attn = {i: layers[i].self_attn for i in self.layer_ids}
        self._handles: list[Any] = []
        self._pending: dict[str, Any] | None = None
        self._parts: list[tuple[RowStatistics, torch.Tensor]] = []

    # -- arming -------------------------------------------------------------------------
    def __enter__(self) -> AttentionCapture:
        self._parts.clear()
        self._handles.append(self.model.register_forward_pre_hook(self._on_model_start, with_kwargs=True))
        self._handles.append(self.model.register_forward_hook(self._on_model_end, always_call=True))
        for i, attn in self._attn.items():
            self._handles.append(attn.register_forward_pre_hook(self._layer_hook(i), with_kwargs=True))
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._pending = None

    # -- results ------------------------------------------------------------------------
    @property
    def num_captured(self) -> int:
        """How many forwards were captured (TRL may split a batch into several)."""
        return len(self._parts)

    def statistics(self) -> tuple[RowStatistics, torch.Tensor]:
        """Row statistics `[B, C]` and `has_image` `[B]`, concatenated over captured forwards."""
        if not self._parts:
            raise RuntimeError("no forward over prompt + completion ran while the capture was armed")
        return (
            RowStatistics.cat([stats for stats, _ in self._parts], dim=0),
            torch.cat([has_image for _, has_image in self._parts]),
        )

    def signals(self, completion_mask: torch.Tensor) -> DyCoSignals:
        stats, has_image = self.statistics()
        return signals_from_statistics(stats, has_image, completion_mask.to(has_image.device), self.cfg)

    # -- hooks --------------------------------------------------------------------------
    def _on_model_start(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        input_ids = kwargs.get("input_ids", args[0] if args else None)
        cache = kwargs.get("past_key_values")
        if input_ids is None or input_ids.shape[1] <= self.prompt_length:
            return  # generate's prefill or an unrelated forward: nothing to predict
        if cache is not None and cache.get_seq_length() > 0:
            return  # a decoding step
        mask = kwargs.get("attention_mask")
        mask = torch.ones_like(input_ids) if mask is None else mask
        image, text = key_masks(input_ids, mask, self.image_token_id, self.cfg.text_scope, self.prompt_length)
        self._pending = {"key_valid": mask.bool(), "image": image, "text": text, "qk": {}}

    def _on_model_end(self, *_: object) -> None:
        self._pending = None

    def _layer_hook(self, layer_id: int):
        def hook(attn: nn.Module, args: tuple, kwargs: dict) -> None:
            pending = self._pending
            if pending is None or layer_id in pending["qk"]:
                return
            hidden = kwargs.get("hidden_states", args[0] if args else None)
            cos, sin = kwargs["position_embeddings"]
            with torch.no_grad():
                pending["qk"][layer_id] = self._queries_and_keys(attn, hidden, cos, sin)
                if len(pending["qk"]) == len(self.layer_ids):
                    self._parts.append((self._reduce(pending), pending["image"].any(dim=1)))
                    self._pending = None  # this forward is done; later calls are recomputations

        return hook

    def _queries_and_keys(self, attn: nn.Module, hidden: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
        """Scaled post-RoPE queries of the completion rows `[B, H, C, d]`, transposed keys `[B, Hkv, d, T]`."""
        B, T, _ = hidden.shape
        rows = slice(self.prompt_length - 1, T - 1)  # the queries predicting completion tokens
        q = attn.q_proj(hidden[:, rows]).view(B, T - self.prompt_length, -1, attn.head_dim).transpose(1, 2)
        k = attn.k_proj(hidden).view(B, T, -1, attn.head_dim).transpose(1, 2)
        # float32 once per layer (not per chunk): scores and softmax run in float32, as eager's softmax does.
        q = _rope(q, cos[:, rows], sin[:, rows]).float() * attn.scaling
        k = _rope(k, cos, sin).float().transpose(-1, -2).contiguous()  # [B, Hkv, d, T], ready for q @ k
        return q, k

    def _reduce(self, pending: dict[str, Any]) -> RowStatistics:
        """Average attention over heads and layers, chunk by chunk, into row statistics.

        A chunk of query rows only needs the keys its last row can see, so each chunk works on
        that key prefix: about half the work of the full `[c, T]` rectangle. All chunks share one
        score buffer, so the large block is allocated (and paged in) once, not once per chunk.
        """
        layers = list(pending["qk"].values())
        q0, k0 = layers[0]
        B, H, C, _ = q0.shape
        T = k0.shape[-1]
        P = self.prompt_length
        chunk = min(C, max(1, self.chunk_elements // max(1, B * H * T)))
        workspace = torch.empty(B * H * chunk * T, device=q0.device, dtype=torch.float32)
        parts, prev_row = [], None
        for start in range(0, C, chunk):
            stop = min(C, start + chunk)
            limit = P + stop - 1  # the chunk's last query sits at P+stop-2 (0-based)
            keys = torch.arange(limit, device=q0.device)
            query_pos = P - 1 + torch.arange(start, stop, device=q0.device)
            allowed = pending["key_valid"][:, None, :limit] & (keys[None, :] <= query_pos[:, None])  # [B, c, K']
            rows = sum(_head_mean_probs(q[:, :, start:stop], k[..., :limit], allowed, workspace) for q, k in layers)
            if len(layers) > 1:
                rows /= len(layers)
            if prev_row is not None:
                prev_row = nn.functional.pad(prev_row, (0, limit - prev_row.shape[-1]))
            image, text = pending["image"][:, :limit], pending["text"][:, :limit]
            parts.append(row_statistics(rows, prev_row, image, text, P, first_token=start + 1))
            prev_row = rows[:, -1]
        return RowStatistics.cat(parts, dim=1)


def _head_mean_probs(q: torch.Tensor, k: torch.Tensor, allowed: torch.Tensor, workspace: torch.Tensor):
    """softmax(q·kᵀ) over allowed keys, averaged over heads: `[B, c, K']`, float32.

    q: pre-scaled `[B, H, c, d]`; k: `[B, Hkv, d, K']` (GQA: query head h uses key head
    h // groups, so the groups fold into the row axis and no repeat_kv copy is made). The
    softmax runs in place in `workspace`.
    """
    B, H, c, d = q.shape
    kv_heads, limit = k.shape[1], k.shape[-1]
    scores = workspace[: B * H * c * limit].view(B, kv_heads, (H // kv_heads) * c, limit)
    torch.matmul(q.reshape(B, kv_heads, -1, d), k, out=scores)
    scores = scores.view(B, H, c, limit).masked_fill_(~allowed[:, None], float("-inf"))
    top = scores.amax(dim=-1, keepdim=True)
    scores.sub_(torch.where(torch.isfinite(top), top, 0.0)).exp_()  # rows with no key: all zeros
    total = scores.sum(dim=-1, keepdim=True)
    return scores.div_(torch.where(total > 0, total, 1.0)).mean(dim=1)


def _config_of(model: nn.Module):
    config = getattr(model, "config", None)
    if config is None or getattr(config, "image_token_id", None) is None:
        raise ValueError(f"{type(model).__name__} has no config.image_token_id; DyCo needs a Qwen2.5-VL-style model")
    return config


@contextmanager
def capture_attention(
    model: nn.Module, prompt_length: int, cfg: DyCoConfig, chunk_elements: int = DEFAULT_CHUNK_ELEMENTS
) -> Iterator[AttentionCapture]:
    """Arm the capture around forwards over `[prompt (left padded to prompt_length) | completion]`."""
    with AttentionCapture(model, prompt_length, cfg, chunk_elements) as capture:
        yield capture


def compute_signals(
    model: nn.Module, inputs: dict[str, torch.Tensor], prompt_length: int, cfg: DyCoConfig
) -> DyCoSignals:
    """One forward of `model` over prompt + completion, returning its DyCo signals.

    The completion mask is `attention_mask[:, prompt_length:]`.
    """
    inputs = dict(inputs)
    inputs.pop("logits_to_keep", None)
    with capture_attention(model, prompt_length, cfg) as capture, torch.no_grad():
        model(**inputs, use_cache=False, logits_to_keep=1)
    return capture.signals(inputs["attention_mask"][:, prompt_length:])
