"""DyCo-RL on TRL's RLOOTrainer.

TRL 1.16's RLOO loss (`RLOOTrainer._compute_loss`) is sequence-level. With the completion mask
`m`, sequence log-probs `logp_i = sum_t m_it log pi(o_it)` and the rollout's `old_logp_i`:

    r_i = exp(logp_i - old_logp_i),   L = mean_i -min(r_i A_i, clip(r_i, 1 - eps, 1 + eps_high) A_i)

so every token of a completion gets the same gradient weight: dL/dlog pi(o_it) = -g_i r_i A_i m_it / B
(g_i: 1 inside the clip region, 0 where the clip binds). DyCo needs one advantage per token, so the
`[B, C]` reweighted advantages enter through a token-level form of that loss: RLOO's own loss on

    A_bar_i = mean of A~_it over the completion's tokens,
    log pi~(o_it) = log pi(o_it) + (f_it - 1) (log pi(o_it) - sg[log pi(o_it)]),  f_it = A~_it / A_bar_i

`log pi~` has exactly the value of `log pi` (the added term is 0) and gradient f_it times its
gradient, hence dL/dlog pi(o_it) = -g_i r_i A~_it m_it / B: each token carries its own advantage,
while the importance ratio, its clip and every logged metric stay RLOO's sequence-level ones. With
equal weights (A~_it = A_i) `A_bar_i` is A_i bit for bit and f = 1, so value and gradient are the
stock loss's exactly. DyCo's token-variant factors are >= 1 (A~ keeps A's sign, A_bar_i = 0 only
where the whole row is 0) and its sequence-variant factor is constant along a completion (f = 1:
RLOO's own loss on the scaled advantage), so the ratio f is always well defined.

The signal is captured during the old-logps pass RLOO always runs over prompt + completion right
after generation (a no-grad forward): zero extra forward passes, generation untouched. The
reweighted advantages are stored with the rollout, so `num_iterations > 1` reuses them. `alpha = 0`
is the stock trainer, line for line.
"""

from __future__ import annotations

from typing import Any

import torch
from trl import RLOOTrainer

from ..dyco import DyCoConfig, capture_attention, reweight
from ..dyco.signals import DyCoSignals
from .common import trainer_kwargs
from .dyco_metrics import DyCoMetricsMixin
from .grpo_family import REWEIGHTED


def sequence_advantage(advantages: torch.Tensor, completion_mask: torch.Tensor) -> torch.Tensor:
    """`[B]`: the mean of `[B, C]` advantages over each completion's valid tokens.

    Written as `A[:, 0] + mean(A - A[:, 0])` so that a row holding one value returns that value
    bit for bit (a plain sum / count need not). A row with no valid token gives `A[:, 0]`.
    """
    valid = completion_mask.bool()
    anchor = advantages[:, :1]
    spread = torch.where(valid, advantages - anchor, 0.0).sum(dim=1)
    return anchor[:, 0] + spread / valid.sum(dim=1).clamp_min(1)


def token_gradient_scale(
    advantages: torch.Tensor, sequence_adv: torch.Tensor, completion_mask: torch.Tensor
) -> torch.Tensor:
    """`[B, C]`: f = A~ / A_bar on valid tokens of rows with A_bar != 0; exactly 1 elsewhere."""
    nonzero = sequence_adv != 0
    safe = torch.where(nonzero, sequence_adv, 1.0)[:, None]
    keep = completion_mask.bool() & nonzero[:, None]
    return torch.where(keep, advantages / safe, 1.0)


class DyCoRLOOTrainer(DyCoMetricsMixin, RLOOTrainer):
    def __init__(self, *args: Any, dyco: DyCoConfig | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dyco = dyco if dyco is not None else DyCoConfig(alpha=0.0)
        self._dyco_armed = False  # the next per-token-logps call is the rollout's old-logps pass
        self._dyco_signals: DyCoSignals | None = None  # what that pass captured
        self._dyco_scale: torch.Tensor | None = None  # gradient scale for the loss's own forward

    # -- capture: the old-logps pass of each rollout -----------------------------------------
    def _generate_and_score_completions(self, inputs):
        if self.dyco.alpha == 0:
            return super()._generate_and_score_completions(inputs)
        self._dyco_armed, self._dyco_signals = True, None
        try:
            output = super()._generate_and_score_completions(inputs)
            signals = self._dyco_signals
        finally:
            self._dyco_armed, self._dyco_signals = False, None
        if signals is None:
            raise RuntimeError("DyCo: RLOOTrainer ran no old-logps pass over this rollout; nothing to capture")
        mask = output["completion_mask"]
        output[REWEIGHTED] = reweight(output["advantages"], signals, mask, self.dyco)  # raw advantages stay
        self._log_dyco(signals, mask)
        return output

    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep, *args, **kwargs):
        if self._dyco_armed:  # the first forward after generation: the policy's old log-probs
            self._dyco_armed = False  # (not the reference pass, which may run the same module under PEFT)
            prompt_length = input_ids.shape[1] - logits_to_keep
            with capture_attention(self.accelerator.unwrap_model(model), prompt_length, self.dyco) as capture:
                out = super()._get_per_token_logps_and_entropies(
                    model, input_ids, attention_mask, logits_to_keep, *args, **kwargs
                )
            self._dyco_signals = capture.signals(attention_mask[:, prompt_length:])
            return out
        scale, self._dyco_scale = self._dyco_scale, None  # only the loss's own forward is scaled
        out = super()._get_per_token_logps_and_entropies(
            model, input_ids, attention_mask, logits_to_keep, *args, **kwargs
        )
        if scale is None:
            return out
        logps, entropies, aux_loss = out
        # Same value as `logps` (the added term is exactly 0), gradient scaled by `scale` per token.
        return logps + (scale.to(logps.dtype) - 1) * (logps - logps.detach()), entropies, aux_loss

    # -- loss --------------------------------------------------------------------------------
    def _compute_loss(self, model, inputs):
        if REWEIGHTED not in inputs:
            return super()._compute_loss(model, inputs)
        return self.token_level_loss(model, inputs, inputs[REWEIGHTED])

    def token_level_loss(self, model, inputs: dict[str, Any], advantages: torch.Tensor) -> torch.Tensor:
        """RLOO's loss with per-token advantages `[B, C]` (see the module docstring).

        Equal advantages along each completion give the stock loss and gradient exactly.
        """
        mask = inputs["completion_mask"]
        sequence_adv = sequence_advantage(advantages, mask)
        self._dyco_scale = token_gradient_scale(advantages, sequence_adv, mask)
        try:
            return super()._compute_loss(model, dict(inputs, advantages=sequence_adv))
        finally:
            self._dyco_scale = None


def rloo_args(algo: dict[str, Any], train: dict[str, Any], output_dir: str, seed: int, run_name: str):
    """TRL's RLOOConfig from `algo/rloo.yaml` and the profile's `train` block."""
    from trl import RLOOConfig

    knobs = ("beta", "epsilon", "epsilon_high", "num_iterations", "normalize_advantages", "mask_truncated_completions")
    loss = {k: algo[k] for k in knobs}
    clip = algo.get("reward_clip_range")
    return RLOOConfig(
        **trainer_kwargs(train, output_dir, seed, run_name),
        reward_clip_range=tuple(clip) if clip is not None else None,
        **loss,
    )
