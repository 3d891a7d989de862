"""The dyco/* training metrics every DyCo trainer logs (TRL trainers keep `_metrics[mode]`)."""

from __future__ import annotations

import torch

from ..dyco import advantage_factor
from ..dyco.signals import NEUTRAL, TEXTUAL, VISUAL, DyCoSignals
from ..viewer.samples import RoleSampleRows, record_role_samples


class DyCoMetricsMixin(RoleSampleRows):
    """`_log_dyco` for a TRL trainer with `self.dyco`, `self.model`, `self.accelerator`, `self._metrics`."""

    def _log_dyco(self, signals: DyCoSignals, completion_mask: torch.Tensor) -> None:
        """Role fractions, mean ~r_vis and the advantage multiplier, over valid completion tokens."""
        valid = completion_mask.bool()
        if not valid.any():
            return
        full_factor = advantage_factor(signals, completion_mask, self.dyco)
        record_role_samples(self, signals, completion_mask, full_factor)  # the token-role viewer's samples
        factor = full_factor[valid]
        stats = {
            "dyco/visual_frac": (signals.role[valid] == VISUAL).float().mean(),
            "dyco/textual_frac": (signals.role[valid] == TEXTUAL).float().mean(),
            "dyco/neutral_frac": (signals.role[valid] == NEUTRAL).float().mean(),
            "dyco/r_vis_mean": signals.r_vis[valid].mean(),
            "dyco/weight_mean": factor.mean(),
        }
        mode = "train" if self.model.training else "eval"
        for name, value in stats.items():
            self._metrics[mode][name].append(self.accelerator.gather(value.detach()).nanmean().item())
        self._metrics[mode]["dyco/weight_min"].append(self.accelerator.gather(factor.min()).min().item())
        self._metrics[mode]["dyco/weight_max"].append(self.accelerator.gather(factor.max()).max().item())
