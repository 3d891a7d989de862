"""Per-token DyCo signals: modality ratios (Eq. 6), attention shifts (Eq. 7), roles (Eq. 8)
and alignment scores (Eq. 9).

Completion token t (counted from 1) is predicted by the query at position P+t-1, so its
attention row sees keys 0..P+t-1. `row_statistics` reduces a block of such rows to what the
signals need; both the dense path (`signals_from_attention`) and the hook-based capture
(`capture.py`, which feeds it chunk by chunk) go through it, so they cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from .config import DyCoConfig
from .fisher_rao import fisher_rao

VISUAL, NEUTRAL, TEXTUAL = 1, 0, -1


@dataclass
class DyCoSignals:
    """`[B, C]` tensors, zero (neutral) at invalid completion positions."""

    r_vis: torch.Tensor  # relative visual ratio ~r_vis (Eq. 6)
    r_txt: torch.Tensor  # 1 - ~r_vis
    v_vis: torch.Tensor  # Fisher–Rao shift of the image distribution (Eq. 7); 0 for token 1
    v_txt: torch.Tensor  # the same over the text keys common to rows t-1 and t
    role: torch.Tensor  # int: 1 visual, -1 textual, 0 neutral (Eq. 8)
    score: torch.Tensor  # alignment score s_t (Eq. 9)


@dataclass
class RowStatistics:
    """What one block of attention rows reduces to: `[B, c]` float32 tensors."""

    vis_mass: torch.Tensor  # sum of a_t over image keys
    txt_mass: torch.Tensor  # sum of a_t over visible text keys
    v_vis: torch.Tensor
    v_txt: torch.Tensor

    @staticmethod
    def cat(parts: list[RowStatistics], dim: int) -> RowStatistics:
        return RowStatistics(*(torch.cat([getattr(p, f.name) for p in parts], dim) for f in fields(RowStatistics)))


def key_masks(
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    image_token_id: int,
    text_scope: str,
    prompt_length: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Image keys and text keys (`[B, K]` bool) with the text scope applied, no causal limit.

    Image keys are image tokens of the prompt (positions `< prompt_length`; all positions when None):
    an image-pad token the policy generates inside its completion is text it wrote, not an image.
    `after_image`: non-image, non-pad keys after the last image token (every non-pad key when
    the row has no image). `all`: every non-image, non-pad key.
    """
    valid = attention_mask.bool()
    positions = torch.arange(input_ids.shape[1], device=input_ids.device)
    image = (input_ids == image_token_id) & valid
    if prompt_length is not None:
        image &= positions < prompt_length
    text = valid & ~image
    if text_scope == "after_image":
        last_image = torch.where(image, positions, -1).amax(dim=1, keepdim=True)
        text &= positions > last_image
    return image, text


def row_statistics(
    rows: torch.Tensor,
    prev_row: torch.Tensor | None,
    image_mask: torch.Tensor,
    text_mask: torch.Tensor,
    prompt_length: int,
    first_token: int = 1,
) -> RowStatistics:
    """Reduce attention rows for completion tokens first_token.. to per-row statistics.

    rows: `[B, c, K]` attention (any float dtype; reduced in at least float32); prev_row: `[B, K]` row of token
    first_token-1, or None when first_token == 1 (token 1 has no predecessor: shift 0).
    """
    rows = rows.to(torch.promote_types(rows.dtype, torch.float32))  # at least float32; float64 stays
    B, c, K = rows.shape
    keys = torch.arange(K, device=rows.device)
    query_pos = prompt_length + first_token - 1 + torch.arange(c, device=rows.device)
    seen = keys[None, :] <= query_pos[:, None]  # [c, K]: causal limit of row t
    seen_before = keys[None, :] <= (query_pos - 1)[:, None]  # causal limit of row t-1
    image = (image_mask[:, None, :] & seen).to(rows.dtype)  # [B, c, K] as 0/1 weights
    text = (text_mask[:, None, :] & seen).to(rows.dtype)

    vis_now = rows * image
    vis_mass = vis_now.sum(-1)
    txt_mass = (rows * text).sum(-1)

    first = prev_row.to(rows.dtype)[:, None, :] if prev_row is not None else torch.zeros_like(rows[:, :1])
    prev = torch.cat([first, rows[:, :-1]], dim=1)  # row t-1 for each t
    # T_{t-1}: the text keys row t-1 attended to. Softmax rows are positive exactly on the keys
    # they can see, so this is row t-1's causal text support whether rows are indexed by the
    # predicting query (P+t-2, 0-based) or one position later; keys new to row t never count.
    common_text = (text_mask[:, None, :] & seen_before & (prev > 0)).to(rows.dtype)
    vis_prev, txt_prev, txt_now = prev * image, prev * common_text, rows * common_text
    prev_vis, prev_txt, now_txt = vis_prev.sum(-1), txt_prev.sum(-1), txt_now.sum(-1)
    v_vis = fisher_rao(vis_prev, vis_now)
    v_txt = fisher_rao(txt_prev, txt_now)
    # A shift needs a distribution on both sides; otherwise (token 1, no image, empty support) 0.
    v_vis = torch.where((prev_vis > 0) & (vis_mass > 0), v_vis, 0.0)
    v_txt = torch.where((prev_txt > 0) & (now_txt > 0), v_txt, 0.0)
    return RowStatistics(vis_mass, txt_mass, v_vis, v_txt)


def signals_from_statistics(
    stats: RowStatistics, has_image: torch.Tensor, completion_mask: torch.Tensor, cfg: DyCoConfig
) -> DyCoSignals:
    """Eq. 6, 8 and 9 from reduced rows (`[B, C]`, token 1 first); has_image: `[B]` bool.

    Token 1, invalid tokens and completions of prompts without an image are neutral.
    """
    valid = completion_mask.bool()
    total = stats.vis_mass + stats.txt_mass
    has_mass = valid & (total > 0)
    r_vis = torch.where(has_mass, stats.vis_mass / torch.where(has_mass, total, 1.0), 0.0)
    r_txt = torch.where(has_mass, 1.0 - r_vis, 0.0)
    v_vis = torch.where(valid, stats.v_vis, 0.0)
    v_txt = torch.where(valid, stats.v_txt, 0.0)

    has_predecessor = torch.arange(valid.shape[1], device=valid.device) > 0  # token 1: neutral
    eligible = has_mass & has_predecessor & has_image[:, None]
    visual = eligible & (v_vis - v_txt > cfg.tau_vis)
    textual = eligible & ~visual & (v_txt - v_vis > cfg.tau_txt)
    role = visual.long() * VISUAL + textual.long() * TEXTUAL
    score = r_vis * visual + r_txt * textual
    return DyCoSignals(r_vis=r_vis, r_txt=r_txt, v_vis=v_vis, v_txt=v_txt, role=role, score=score)


def signals_from_attention(
    attn: torch.Tensor,
    image_mask: torch.Tensor,
    text_mask: torch.Tensor,
    completion_mask: torch.Tensor,
    prompt_length: int,
    cfg: DyCoConfig,
) -> DyCoSignals:
    """Signals from dense head-averaged attention rows.

    attn: `[B, C, K]`, K = prompt_length + C; row t is the query that predicts completion token t
    (eager attention rows prompt_length-1 .. prompt_length+C-2 of `[B, T, T]`), seeing keys up to
    prompt_length + t - 1 at most.
    image_mask/text_mask: `[B, K]` bool with the text scope applied; the causal limit is
    applied here. completion_mask: `[B, C]`.
    """
    B, C, K = attn.shape
    if K != prompt_length + C:
        raise ValueError(f"attn has {K} keys but prompt_length + C = {prompt_length + C}")
    stats = row_statistics(attn, None, image_mask.bool(), text_mask.bool(), prompt_length)
    return signals_from_statistics(stats, image_mask.bool().any(dim=1), completion_mask, cfg)
