"""Where DyCo joins a TRL trainer: one mixin, listed before the TRL trainer class.

    class DyCoGRPOTrainer(DyCoJoin, GRPOTrainer): ...

It adds a `dyco=` keyword (a `DyCoConfig`; None or `alpha=0`: the stock trainer, untouched) and:

* `dyco_capture(then=None)`: arms the attention capture for the next policy forward, i.e. the next
  call of TRL's `_get_per_token_logps_and_entropies` (checked against TRL 1.16.0, where every policy
  and reference forward goes through it). After that forward the block's object holds the `signals`
  (`[B, C]`, `dyco.DyCoSignals`); `then(signals, completion_mask)` runs right after it, before TRL
  reads anything else (the GRPO family reweights the loss's advantages there).
* `dyco_groups(rows, num_generations)`: the prompt-group id of each of this process's rows.
* `dyco_advantages(advantages, signals, completion_mask, groups)`: `dyco.reweight` (plus the released
  SAPO length factor when the trainer's `loss_type` is `sapo`), logging the dyco/* metrics.

Arm only around a pass that runs anyway: the capture adds no forward.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

from ..dyco import DyCoConfig, advantage_factor, capture_attention, sapo_length_factor
from ..dyco.signals import NEUTRAL, TEXTUAL, VISUAL, DyCoSignals
from ..viewer.samples import RoleSampleRows, record_role_samples

REWEIGHTED = "dyco_advantages"  # key under which a rollout keeps its reweighted advantages (raw ones stay)
GROUP = "dyco_group"  # key under which a rollout keeps its rows' prompt-group ids `[B]`


@dataclass
class Captured:
    """What an armed capture hands back: the signals of the forward it captured (None until then)."""

    then: Callable[[DyCoSignals, torch.Tensor], None] | None = None
    signals: DyCoSignals | None = None


class DyCoJoin(RoleSampleRows):
    """Mixin for a TRL trainer with `self.model`, `self.accelerator`, `self._metrics` (TRL 1.16.0)."""

    def __init__(self, *args: Any, dyco: DyCoConfig | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dyco = dyco if dyco is not None else DyCoConfig(alpha=0.0)
        self._dyco_armed: Captured | None = None
        self._dyco_sapo = getattr(self.args, "loss_type", None) == "sapo"

    # -- capture -----------------------------------------------------------------------------
    @contextmanager
    def dyco_capture(self, then: Callable[[DyCoSignals, torch.Tensor], None] | None = None) -> Iterator[Captured]:
        """Arm the capture for the next policy forward inside the block (at most one)."""
        captured = Captured(then=then)
        self._dyco_armed = captured
        try:
            yield captured
        finally:
            self._dyco_armed = None

    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep, *args, **kwargs):
        # TRL 1.16.0 signature: (model, input_ids, attention_mask, logits_to_keep, batch_size=None, ...).
        captured, self._dyco_armed = self._dyco_armed, None  # one forward per arming
        if captured is None:
            return super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, *args, **kwargs
            )
        prompt_length = input_ids.shape[1] - logits_to_keep
        with capture_attention(self.accelerator.unwrap_model(model), prompt_length, self.dyco) as capture:
            out = super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, *args, **kwargs
            )
        completion_mask = attention_mask[:, prompt_length:]
        captured.signals = capture.signals(completion_mask)
        if captured.then is not None:
            captured.then(captured.signals, completion_mask)
        return out

    # -- groups and advantages ---------------------------------------------------------------
    def dyco_groups(self, rows: int, num_generations: int) -> torch.Tensor:
        """`[rows]` prompt-group ids of this process's rows of a rollout.

        TRL's RepeatSampler lays out a generation batch as consecutive groups of `num_generations`
        completions of one prompt, and process p holds rows `[p·rows, (p+1)·rows)` of it.
        """
        start = self.accelerator.process_index * rows
        return (start + torch.arange(rows, device=self.accelerator.device)) // num_generations

    def dyco_advantages(
        self,
        advantages: torch.Tensor,
        signals: DyCoSignals,
        completion_mask: torch.Tensor,
        groups: torch.Tensor | None,
    ) -> torch.Tensor:
        """`[B, C]` reweighted advantages from `[B]` or `[B, C]` ones (see the module docstring)."""
        B, C = completion_mask.shape
        factor = advantage_factor(signals, completion_mask, self.dyco, groups)
        if self._dyco_sapo and self.dyco.sapo_length_tokens > 0:
            length = sapo_length_factor(completion_mask, self.dyco.sapo_length_tokens)
            factor = torch.where(completion_mask.bool(), factor * length[:, None], 1.0)
        self._log_dyco(signals, completion_mask, factor)
        adv = advantages[:, None] if advantages.dim() == 1 else advantages
        return torch.broadcast_to(adv, (B, C)) * factor.to(adv.dtype)

    def _log_dyco(self, signals: DyCoSignals, completion_mask: torch.Tensor, factor: torch.Tensor) -> None:
        """Role fractions, mean ~r_vis and the advantage multiplier over valid completion tokens.

        Every process makes the same gathers, whether or not its micro-batch has a valid token (a process
        that skipped them would leave the others waiting forever); a process with none sends NaN.
        """
        record_role_samples(self, signals, completion_mask, factor)  # the token-role viewer (main process only)
        valid = completion_mask.bool()
        n = valid.sum().clamp_min(1)
        none = not bool(valid.any())

        def mean(x: torch.Tensor) -> torch.Tensor:
            value = (x.float() * valid).sum() / n
            return torch.full_like(value, float("nan")) if none else value

        stats = {
            "dyco/visual_frac": mean(signals.role == VISUAL),
            "dyco/textual_frac": mean(signals.role == TEXTUAL),
            "dyco/neutral_frac": mean(signals.role == NEUTRAL),
            "dyco/r_vis_mean": mean(signals.r_vis),
            "dyco/weight_mean": mean(factor),
        }
        factor = factor.detach().float()
        low = torch.where(valid, factor, float("inf")).amin()
        high = torch.where(valid, factor, float("-inf")).amax()
        mode = "train" if self.model.training else "eval"
        for name, value in stats.items():
            gathered = self.accelerator.gather(value.detach())
            if not gathered.isnan().all():  # the same answer on every process: it saw the same tensor
                self._metrics[mode][name].append(gathered.nanmean().item())
        low, high = self.accelerator.gather(low).min(), self.accelerator.gather(high).max()
        if torch.isfinite(low):
            self._metrics[mode]["dyco/weight_min"].append(low.item())
            self._metrics[mode]["dyco/weight_max"].append(high.item())
