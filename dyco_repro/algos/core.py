"""The RL math the trainers share, as pure functions (no trainer state, no TRL import).

Shapes: B completions, C completion positions; `mask` `[B, C]` marks the valid completion tokens
(1/0 or bool). Every function returns 0 (or leaves values unchanged, where it says so) on invalid
positions and never divides by zero. Read top to bottom: masked means, whitening, terminal
rewards, GAE, the PPO losses, then the token-level form of RLOO's sequence-level loss.
"""

from __future__ import annotations

import torch


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Scalar mean of `x` over valid positions (`x`, `mask` `[B, C]`); 0 when none is valid."""
    mask = mask.to(x.dtype)
    return (x * mask).sum() / mask.sum().clamp_min(1.0)


def whiten(x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """`[B, C]`: zero mean, unit (unbiased) variance over valid tokens; invalid positions are 0.

    Fewer than two valid tokens: only the mean is removed.
    """
    valid = mask.bool()
    n = valid.sum()
    if n < 2:
        return torch.where(valid, x - masked_mean(x, mask), 0.0)
    mean = masked_mean(x, mask)
    var = (torch.where(valid, x - mean, 0.0) ** 2).sum() / (n - 1)
    return torch.where(valid, (x - mean) * torch.rsqrt(var + eps), 0.0)


def terminal_rewards(score: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """`[B, C]` float32: each row's score `[B]` on its last valid token, 0 elsewhere (and on rows with none)."""
    positions = torch.arange(1, mask.shape[1] + 1, device=mask.device)
    last = (mask.bool() * positions).argmax(dim=1)
    rewards = torch.zeros(mask.shape, dtype=torch.float32, device=mask.device)
    rewards[torch.arange(mask.shape[0], device=mask.device), last] = score.float()
    return rewards * mask.bool()


def gae(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation (Schulman et al. 2016) over `[B, C]` token rewards and values.

    `delta_t = r_t + gamma V_{t'} - V_t`, `A_t = delta_t + gamma lam A_{t'}`, where `t'` is the next
    valid token of the row (invalid positions are skipped, past the last one V = A = 0).
    Returns `(advantages, returns = advantages + values)`, both `[B, C]` and 0 on invalid positions.
    """
    valid = mask.bool()
    B, C = rewards.shape
    advantages = torch.zeros_like(rewards)
    next_value = rewards.new_zeros(B)
    next_adv = rewards.new_zeros(B)
    for t in reversed(range(C)):
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        adv = delta + gamma * lam * next_adv
        m = valid[:, t]
        advantages[:, t] = torch.where(m, adv, 0.0)
        next_adv = torch.where(m, adv, next_adv)
        next_value = torch.where(m, values[:, t], next_value)
    returns = torch.where(valid, advantages + values, 0.0)
    return advantages, returns


def policy_loss(
    logps: torch.Tensor, old_logps: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor, epsilon: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO's clipped surrogate (Schulman et al. 2017), masked token mean over `[B, C]` inputs.

    Returns `(loss, clip fraction)`: scalars; the fraction counts valid tokens where the clip binds.
    """
    ratio = torch.exp(logps - old_logps)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1 - epsilon, 1 + epsilon)
    return masked_mean(torch.maximum(unclipped, clipped), mask), masked_mean((clipped > unclipped).float(), mask)


def value_loss(
    values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor, cliprange: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """`0.5 * max((V - R)^2, (V_clip - R)^2)`, masked token mean over `[B, C]`; also the value clip fraction."""
    clipped_values = old_values + torch.clamp(values - old_values, -cliprange, cliprange)
    loss1, loss2 = (values - returns) ** 2, (clipped_values - returns) ** 2
    return 0.5 * masked_mean(torch.maximum(loss1, loss2), mask), masked_mean((loss2 > loss1).float(), mask)


# -- token-level RLOO ----------------------------------------------------------------------------
# RLOO's loss is sequence-level: every token of a completion gets the same gradient weight. Per-token
# advantages A~ `[B, C]` enter through RLOO's own loss on the sequence advantage A_bar_i (the mean of
# A~ over the completion) with each token's log-prob gradient scaled by f_it = A~_it / A_bar_i
# (`scale_gradient`): value unchanged, d loss / d log pi(o_it) proportional to A~_it. See rloo.py.


def sequence_advantage(advantages: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """`[B]`: the mean of `[B, C]` advantages over each completion's valid tokens.

    Written as `A[:, 0] + mean(A - A[:, 0])` so that a row holding one value returns that value
    bit for bit (a plain sum / count need not). A row with no valid token gives `A[:, 0]`.
    """
    valid = mask.bool()
    anchor = advantages[:, :1]
    spread = torch.where(valid, advantages - anchor, 0.0).sum(dim=1)
    return anchor[:, 0] + spread / valid.sum(dim=1).clamp_min(1)


def token_gradient_scale(advantages: torch.Tensor, sequence_adv: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """`[B, C]`: f = A~ / A_bar on valid tokens of rows with A_bar != 0; exactly 1 elsewhere."""
    nonzero = sequence_adv != 0
    safe = torch.where(nonzero, sequence_adv, 1.0)[:, None]
    keep = mask.bool() & nonzero[:, None]
    return torch.where(keep, advantages / safe, 1.0)


def scale_gradient(logps: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """`logps` `[B, C]` with the same value and its gradient multiplied by `scale` `[B, C]` per token.

    `logps + (f - 1)(logps - sg[logps])`: the added term is exactly 0 in value.
    """
    return logps + (scale.to(logps.dtype) - 1) * (logps - logps.detach())
