"""Advantage reweighting from alignment scores (docs/method.md): the released code's sequence variant
(the default) and the paper's token variant.

Shapes: B completions, C completion positions. `completion_mask` `[B, C]` marks valid tokens;
`groups` `[B]` holds each completion's prompt-group id (the completions sampled for one prompt).
"""

from __future__ import annotations

import torch

from .config import DyCoConfig
from .signals import NEUTRAL, DyCoSignals

STD_FLOOR = 1e-8  # the released code z-scores only when std > 1e-8, else every score is 0


def token_weights(score: torch.Tensor, completion_mask: torch.Tensor) -> torch.Tensor:
    """w_t = |o|·softmax(s)_t over each completion's valid tokens (mean 1); 1 elsewhere. `[B, C]`."""
    valid = completion_mask.bool()
    n_valid = valid.sum(dim=1, keepdim=True)
    logits = score.float().masked_fill(~valid, float("-inf"))
    logits = torch.where(n_valid > 0, logits, 0.0)  # a completion with no tokens: no NaN
    weights = torch.softmax(logits, dim=1) * n_valid
    return torch.where(valid, weights, 1.0)


def group_zscore(values: torch.Tensor, include: torch.Tensor, groups: torch.Tensor | None = None) -> torch.Tensor:
    """`[B]`: (x - group mean) / group std over the included members of each group.

    The std is the unbiased one (`torch.std`). A group with fewer than two included members, or whose
    std is <= 1e-8 (all equal), gives 0, as does every excluded row. `groups` None: one group.
    """
    x = values.double()
    w = include.double()
    if groups is None:
        groups = torch.zeros_like(values, dtype=torch.long)
    _, idx = torch.unique(groups, return_inverse=True)
    n_groups = int(idx.max()) + 1 if idx.numel() else 0
    count = x.new_zeros(n_groups).index_add_(0, idx, w)
    mean = x.new_zeros(n_groups).index_add_(0, idx, x * w) / count.clamp_min(1)
    deviation = (x - mean[idx]) * w
    var = x.new_zeros(n_groups).index_add_(0, idx, deviation**2) / (count - 1).clamp_min(1)
    std = var.sqrt()
    ok = (count >= 2) & (std > STD_FLOOR)
    z = deviation / torch.where(ok, std, 1.0)[idx]
    return torch.where(ok[idx] & include.bool(), z, 0.0).to(values.dtype)


def sequence_scores(
    signals: DyCoSignals, completion_mask: torch.Tensor, cfg: DyCoConfig, groups: torch.Tensor | None = None
) -> torch.Tensor:
    """S_i in [-1, 1] per completion (`[B]`), as the released code computes it.

    raw_i = sigmoid(mean of s_t over the completion's non-neutral valid tokens), 0.5 when it has none;
    S_i = tanh(z_i), z the z-score of raw within the completion's prompt group (`group_zscore`; the 0.5 of
    an all-neutral completion takes part). Completions with no valid token take no part and get 0.
    With `cfg.min_completion_tokens > 0`, a completion with fewer valid tokens gets S_i = -1.
    """
    valid = completion_mask.bool()
    n_valid = valid.sum(dim=1)
    active = valid & (signals.role != NEUTRAL)
    n_active = active.sum(dim=1)
    mean_score = (signals.score.float() * active).sum(dim=1) / n_active.clamp_min(1)
    raw = torch.where(n_active > 0, torch.sigmoid(mean_score), 0.5)
    present = n_valid > 0
    seq = torch.where(present, torch.tanh(group_zscore(raw, present, groups)), 0.0)
    if cfg.min_completion_tokens > 0:
        seq = torch.where(present & (n_valid < cfg.min_completion_tokens), -1.0, seq)
    return seq


def sapo_length_factor(completion_mask: torch.Tensor, tokens: int) -> torch.Tensor:
    """`[B]`: min(|o| / tokens, 1), |o| the completion's valid tokens (released DyCo under SAPO); 1 when tokens=0."""
    n_valid = completion_mask.bool().sum(dim=1).float()
    if tokens <= 0:
        return torch.ones_like(n_valid)
    return (n_valid / tokens).clamp(max=1.0)


def advantage_factor(
    signals: DyCoSignals, completion_mask: torch.Tensor, cfg: DyCoConfig, groups: torch.Tensor | None = None
) -> torch.Tensor:
    """The per-token multiplier `[B, C]` that `reweight` applies; 1 at invalid positions.

    sequence: clamp(1 + alpha·S_i, 1 - c, 1 + c)   (S from `sequence_scores`, z-scored within `groups`)
    token:    1 + alpha·w_t, or 1 + alpha·(w_t - 1) with `cfg.token_mean_one`   (`groups` unused)
    """
    B, C = completion_mask.shape
    valid = completion_mask.bool()
    if cfg.variant == "token":
        w = token_weights(signals.score, completion_mask)
        factor = 1 + cfg.alpha * (w - 1 if cfg.token_mean_one else w)
    else:
        seq = sequence_scores(signals, completion_mask, cfg, groups)
        factor = (1 + cfg.alpha * seq).clamp(1 - cfg.clamp, 1 + cfg.clamp)[:, None].expand(B, C)
    return torch.where(valid, factor, 1.0)


def reweight(
    advantages: torch.Tensor,
    signals: DyCoSignals,
    completion_mask: torch.Tensor,
    cfg: DyCoConfig,
    groups: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-token advantages `[B, C]` from `[B]` or `[B, C]` advantages: A~ = advantage_factor · A.

    groups: `[B]` integer prompt-group ids for the sequence variant's z-score (None: the batch is one group).
    Invalid (padding) positions pass through unchanged; alpha = 0 is the identity.
    """
    B, C = completion_mask.shape
    adv = advantages[:, None] if advantages.dim() == 1 else advantages
    adv = torch.broadcast_to(adv, (B, C))
    if cfg.alpha == 0:
        return adv.clone()
    return adv * advantage_factor(signals, completion_mask, cfg, groups).to(adv.dtype)
