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
after generation (a no-grad forward over the process's whole rollout, so every prompt group is
complete): zero extra forward passes, generation untouched. The reweighted advantages are stored
with the rollout, so `num_iterations > 1` reuses them. `alpha = 0` is the stock trainer, line for
line. The math (`sequence_advantage`, `token_gradient_scale`, `scale_gradient`) is in core.py.
"""

from __future__ import annotations

from typing import Any

import torch
from trl import RLOOTrainer

from .common import ResumeWeights
from .core import scale_gradient, sequence_advantage, token_gradient_scale
from .dyco_join import REWEIGHTED, DyCoJoin


class DyCoRLOOTrainer(ResumeWeights, DyCoJoin, RLOOTrainer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._dyco_scale: torch.Tensor | None = None  # gradient scale for the loss's own forward

    # TRL 1.16.0 private methods overridden below: _generate_and_score_completions (capture in its
    # old-logps pass, the first policy forward after generation), _get_per_token_logps_and_entropies
    # (gradient scale in the loss forward), _compute_loss (token-level form).
    def _generate_and_score_completions(self, inputs):
        if self.dyco.alpha == 0:
            return super()._generate_and_score_completions(inputs)
        with self.dyco_capture() as captured:
            output = super()._generate_and_score_completions(inputs)
        if captured.signals is None:
            raise RuntimeError("DyCo: RLOOTrainer ran no old-logps pass over this rollout; nothing to capture")
        mask = output["completion_mask"]
        n = self.num_generations if self.model.training else self.num_generations_eval
        groups = self.dyco_groups(len(mask), n)
        output[REWEIGHTED] = self.dyco_advantages(output["advantages"], captured.signals, mask, groups)
        return output

    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep, *args, **kwargs):
        scale, self._dyco_scale = self._dyco_scale, None  # only the loss's own forward is scaled
        out = super()._get_per_token_logps_and_entropies(
            model, input_ids, attention_mask, logits_to_keep, *args, **kwargs
        )
        if scale is None:
            return out
        logps, entropies, aux_loss = out
        return scale_gradient(logps, scale), entropies, aux_loss

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
