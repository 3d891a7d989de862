"""DyCo-RL on TRL's GRPOTrainer (GRPO, DAPO, GSPO, SAPO, and any other `loss_type` TRL ships).

The signal is captured during the training forward TRL already runs in `_compute_loss`, and the
reweighted `[B, C]` advantages are handed to the stock loss, which reads `inputs["advantages"]` after
that forward and accepts `[B, C]` (TRL 1.16.0). No extra forward pass, no change to generation. With
`num_iterations > 1` the signal of a rollout is computed on its first pass and reused.

DyCo z-scores within each prompt's group of completions, so every loss micro-batch must hold whole
groups: TRL 1.16.0's `_prepare_inputs` shuffles a rollout row by row before splitting it into
micro-batches; under DyCo the rows are shuffled group by group instead (`shuffle_groups`), which
needs `per_device_train_batch_size` to be a multiple of `num_generations`. `alpha = 0` is the stock
trainer, line for line (its own shuffle included).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from trl import GRPOTrainer

from .common import ResumeWeights
from .dyco_join import GROUP, REWEIGHTED, DyCoJoin


def shuffle_groups(batch: dict[str, Any]) -> dict[str, Any]:
    """TRL's `shuffle_sequence_dict` at group granularity: groups in random order, rows of a group together.

    `batch[GROUP]` `[B]` holds the group ids; every other value is permuted as TRL permutes it
    (tensors with a batch dimension and lists by row; 0-d tensors and None unchanged).
    """
    groups = batch[GROUP]
    _, idx = torch.unique(groups.cpu(), return_inverse=True)
    order = torch.randperm(int(idx.max()) + 1)[idx]  # each row's group's place in the new order
    permutation = torch.argsort(order * len(groups) + torch.arange(len(groups)))

    def permute(value: Any) -> Any:
        if value is None or (isinstance(value, torch.Tensor) and value.ndim == 0):
            return value
        if isinstance(value, torch.Tensor):
            return value[permutation.to(value.device)]
        return [value[i] for i in permutation]

    return {key: permute(value) for key, value in batch.items()}


@contextmanager
def _whole_group_shuffle() -> Iterator[None]:
    # TRL 1.16.0: `_prepare_inputs` calls the module-level `shuffle_sequence_dict` of grpo_trainer.py.
    from trl.trainer import grpo_trainer

    original = grpo_trainer.shuffle_sequence_dict
    grpo_trainer.shuffle_sequence_dict = shuffle_groups
    try:
        yield
    finally:
        grpo_trainer.shuffle_sequence_dict = original


class DyCoGRPOTrainer(ResumeWeights, DyCoJoin, GRPOTrainer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.dyco.alpha != 0 and self.args.per_device_train_batch_size % self.num_generations:
            raise ValueError(
                f"DyCo z-scores within prompt groups: per_device_train_batch_size "
                f"({self.args.per_device_train_batch_size}) must be a multiple of num_generations "
                f"({self.num_generations}) so that each loss micro-batch holds whole groups"
            )

    # TRL 1.16.0 private methods overridden below: _generate_and_score_completions (adds the group ids),
    # _prepare_inputs (group shuffle), _compute_loss (capture + reweight).
    def _generate_and_score_completions(self, inputs):
        output = super()._generate_and_score_completions(inputs)
        if self.dyco.alpha != 0:
            n = self.num_generations if self.model.training else self.num_generations_eval
            output[GROUP] = self.dyco_groups(len(output["completion_mask"]), n)
        return output

    def _prepare_inputs(self, generation_batch):
        if self.dyco.alpha == 0 or not self.model.training:
            return super()._prepare_inputs(generation_batch)
        with _whole_group_shuffle():
            return super()._prepare_inputs(generation_batch)

    def _compute_loss(self, model, inputs):
        if self.dyco.alpha == 0:
            return super()._compute_loss(model, inputs)
        if REWEIGHTED in inputs:  # a later iteration over the same rollout
            return super()._compute_loss(model, dict(inputs, advantages=inputs[REWEIGHTED]))
        batch = dict(inputs)  # the loss sees reweighted advantages; the rollout buffer keeps the raw ones

        def reweight_batch(signals, completion_mask):
            batch["advantages"] = self.dyco_advantages(batch["advantages"], signals, completion_mask, batch.get(GROUP))

        with self.dyco_capture(then=reweight_batch):
            loss = super()._compute_loss(model, batch)
        inputs[REWEIGHTED] = batch["advantages"]
        return loss
