"""DyCo-RL on TRL's GRPOTrainer (GRPO, DAPO, GSPO, SAPO share it).

The signal is captured during the training forward TRL already runs in `_compute_loss`
(`_get_per_token_logps_and_entropies`), and the reweighted `[B, C]` advantages are handed to the
stock loss, which reads `inputs["advantages"]` after that forward and accepts `[B, C]`. No extra
forward pass, no change to generation. With `num_iterations > 1` the signal of a rollout is
computed on its first pass and reused. `alpha = 0` is the stock trainer, line for line.
"""

from __future__ import annotations

from typing import Any

from trl import GRPOTrainer

from ..dyco import DyCoConfig, capture_attention, reweight
from .common import trainer_kwargs
from .dyco_metrics import DyCoMetricsMixin

REWEIGHTED = "dyco_advantages"  # key under which a rollout keeps its reweighted advantages


class DyCoGRPOTrainer(DyCoMetricsMixin, GRPOTrainer):
    def __init__(self, *args: Any, dyco: DyCoConfig | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dyco = dyco if dyco is not None else DyCoConfig(alpha=0.0)
        self._dyco_batch: dict[str, Any] | None = None  # the loss inputs waiting for their signal

    def _compute_loss(self, model, inputs):
        if self.dyco.alpha == 0:
            return super()._compute_loss(model, inputs)
        batch = dict(inputs)  # the loss sees reweighted advantages; the rollout buffer keeps the raw ones
        if REWEIGHTED in inputs:  # a later iteration over the same rollout
            batch["advantages"] = inputs[REWEIGHTED]
            return super()._compute_loss(model, batch)
        self._dyco_batch = batch
        try:
            loss = super()._compute_loss(model, batch)
        finally:
            self._dyco_batch = None
        inputs[REWEIGHTED] = batch["advantages"]
        return loss

    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep, *args, **kwargs):
        batch, self._dyco_batch = self._dyco_batch, None  # only the loss's own forward is captured
        if batch is None:
            return super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, *args, **kwargs
            )
        prompt_length = input_ids.shape[1] - logits_to_keep
        with capture_attention(self.accelerator.unwrap_model(model), prompt_length, self.dyco) as capture:
            out = super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, *args, **kwargs
            )
        completion_mask = attention_mask[:, prompt_length:]
        signals = capture.signals(completion_mask)
        batch["advantages"] = reweight(batch["advantages"], signals, completion_mask, self.dyco)
        self._log_dyco(signals, completion_mask)
        return out


def grpo_family_args(algo: dict[str, Any], train: dict[str, Any], output_dir: str, seed: int, run_name: str):
    """TRL's GRPOConfig from an `algo/*.yaml` of the GRPO family and the profile's `train` block."""
    from trl import GRPOConfig

    loss = {
        k: algo[k]
        for k in (
            "loss_type",
            "importance_sampling_level",
            "beta",
            "epsilon",
            "epsilon_high",
            "mask_truncated_completions",
            "num_iterations",
        )
    }
    loss.update({k: algo[k] for k in ("sapo_temperature_pos", "sapo_temperature_neg") if k in algo})
    return GRPOConfig(
        **trainer_kwargs(train, output_dir, seed, run_name),
        **loss,
    )
