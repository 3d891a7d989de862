"""Advantage reweighting from alignment scores: the paper's token variant and the released
code's sequence variant (DESIGN.md section 1)."""

from __future__ import annotations

import torch

from .config import DyCoConfig
from .signals import NEUTRAL, DyCoSignals


def token_weights(score: torch.Tensor, completion_mask: torch.Tensor) -> torch.Tensor:
    """w_t = |o|·softmax(s)_t over each completion's valid tokens (mean 1); 1 elsewhere."""
    valid = completion_mask.bool()
    n_valid = valid.sum(dim=1, keepdim=True)
    logits = score.float().masked_fill(~valid, float("-inf"))
    logits = torch.where(n_valid > 0, logits, 0.0)  # a completion with no tokens: no NaN
    weights = torch.softmax(logits, dim=1) * n_valid
    return torch.where(valid, weights, 1.0)


def sequence_scores(signals: DyCoSignals, completion_mask: torch.Tensor, cfg: DyCoConfig) -> torch.Tensor:
    """S_i in [-1, 1] per completion (`[B]`).

    S_i = sigmoid(mean of s_t over non-neutral tokens), 0.5 when there are none; z-scored over
    the completions of the batch that have tokens (unbiased std; all equal gives 0), then tanh.
    A completion with no non-neutral token has no signal: its S_i is 0 (factor exactly 1), its
    0.5 still takes part in the batch statistics. With `min_completion_tokens`, shorter
    completions get S_i = -1.
    """
    valid = completion_mask.bool()
    n_valid = valid.sum(dim=1)
    active = valid & (signals.role != NEUTRAL)
    n_active = active.sum(dim=1)
    mean_score = (signals.score.float() * active).sum(dim=1) / n_active.clamp_min(1)
    raw = torch.where(n_active > 0, torch.sigmoid(mean_score), 0.5)

    present = n_valid > 0
    z = torch.zeros_like(raw)
    if int(present.sum()) >= 2:
        mean, std = raw[present].mean(), raw[present].std()
        if std > 1e-8:
            z = (raw - mean) / std
    seq = torch.where(present & (n_active > 0), torch.tanh(z), 0.0)
    if cfg.min_completion_tokens > 0:
        seq = torch.where(present & (n_valid < cfg.min_completion_tokens), -1.0, seq)
    return seq


def advantage_factor(signals: DyCoSignals, completion_mask: torch.Tensor, cfg: DyCoConfig) -> torch.Tensor:
    """The per-token multiplier `[B, C]` that `reweight` applies; 1 at invalid positions.

    token:    1 + alpha·w_t
    sequence: clamp(1 + alpha·S_i, 1 - c, 1 + c)
    """
    B, C = completion_mask.shape
    valid = completion_mask.bool()
    if cfg.variant == "token":
        factor = 1 + cfg.alpha * token_weights(signals.score, completion_mask)
    else:
        seq = sequence_scores(signals, completion_mask, cfg)
        factor = (1 + cfg.alpha * seq).clamp(1 - cfg.clamp, 1 + cfg.clamp)[:, None].expand(B, C)
    return torch.where(valid, factor, 1.0)


def reweight(
    advantages: torch.Tensor, signals: DyCoSignals, completion_mask: torch.Tensor, cfg: DyCoConfig
) -> torch.Tensor:
    """Per-token advantages `[B, C]` from `[B]` or `[B, C]` advantages: A~ = advantage_factor · A.

    Invalid (padding) positions pass through unchanged; alpha = 0 is the identity.
    """
    B, C = completion_mask.shape
    adv = advantages[:, None] if advantages.dim() == 1 else advantages
    adv = torch.broadcast_to(adv, (B, C))
    if cfg.alpha == 0:
        return adv.clone()
    return adv * advantage_factor(signals, completion_mask, cfg).to(adv.dtype)
