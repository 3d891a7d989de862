"""PPO with a learned value function and GAE, on TRL's GRPOTrainer (TRL 1.16 has no PPO trainer).

TRL does the rest: generation, reward functions, the rollout buffer and its batching, logging.
What changes, per rollout (`_generate_and_score_completions`):

* one no-grad forward of the policy over prompt + completion gives the old log-probs and, through a
  forward hook on the decoder's final norm, the last hidden states, read by a scalar value head
  (`ValueHead`, as in TRL's classic `AutoModelForCausalLMWithValueHead`). When TRL itself runs its
  old-logps pass, that pass is the one used; otherwise we run it. Either way: one pass.
* token-level rewards: the terminal verifiable reward (reward functions summed with their weights, as
  TRL combines them) on the last valid completion token, minus `beta * (logp_old - logp_ref)` on
  every token when `beta > 0` (TRL's reference model gives `logp_ref`);
* `gae` turns rewards and values into `[B, C]` advantages and returns (optionally whitened over valid
  tokens); no group normalisation.

The loss (`_compute_loss`) is PPO's clipped surrogate plus `vf_coef` times the clipped value loss,
token-level masked means, values read by the same hook during the training forward.

DyCo: the attention capture is armed around the rollout's value/old-logps pass (zero extra forward
passes; never during the loss forward) and the GAE advantages go through `dyco.reweight`.
`alpha = 0` leaves PPO unchanged.

The value head is a submodule `v_head` of the policy model: the optimizer trains it, checkpoints save
and resume it (`v_head.summary.{weight,bias}` in the model's safetensors), and the final checkpoint
still loads with `AutoModelForImageTextToText` (which reports the two extra keys as unexpected and
ignores them).
"""

from __future__ import annotations

from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from trl import GRPOConfig, GRPOTrainer
from trl.models.utils import disable_gradient_checkpointing

from .common import ResumeWeights
from .core import gae, masked_mean, policy_loss, terminal_rewards, value_loss, whiten
from .dyco_join import DyCoJoin

MULTIMODAL_KEYS = (
    "pixel_values",
    "image_grid_thw",
    "num_images",
    "pixel_attention_mask",
    "spatial_shapes",
    "num_tiles",
    "image_sizes",
    "token_type_ids",
    "mm_token_type_ids",
    "image_position_ids",
)


@dataclass
class PPOConfig(GRPOConfig):
    """GRPOConfig (generation, batching, `beta`, `epsilon`, `num_iterations`) plus PPO's knobs."""

    gamma: float = field(default=1.0, metadata={"help": "discount factor"})
    lam: float = field(default=0.95, metadata={"help": "GAE lambda"})
    cliprange_value: float = field(default=0.2, metadata={"help": "clip range of the value update"})
    vf_coef: float = field(default=0.1, metadata={"help": "value loss coefficient"})
    whiten_advantages: bool = field(default=True, metadata={"help": "whiten advantages over valid tokens"})


class ValueHead(nn.Module):
    """Scalar value head on the trunk's last hidden state, as TRL's classic value-head model.

    Zero-initialised (values start at 0) and kept in float32.
    """

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.summary = nn.Linear(hidden_size, 1)
        nn.init.zeros_(self.summary.weight)
        nn.init.zeros_(self.summary.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.summary(hidden.to(self.summary.weight.dtype)).squeeze(-1)


def _final_norm(model: nn.Module) -> nn.Module:
    """The decoder's last norm, whose output is the trunk's last hidden state."""
    inner = getattr(model, "model", None)
    language_model = getattr(inner, "language_model", None)
    if language_model is not None and hasattr(language_model, "norm"):
        return language_model.norm
    return model.get_decoder().norm


class DyCoPPOTrainer(ResumeWeights, DyCoJoin, GRPOTrainer):
    # TRL 1.16.0 private methods overridden below: _get_per_token_logps_and_entropies (values from the
    # rollout pass), _calculate_rewards (keeps the per-function rewards), _generate_and_score_completions
    # (the rollout pass, GAE), _compute_loss (PPO's losses).
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not hasattr(self.model, "v_head"):  # the optimizer is built later, in train(): it sees v_head
            hidden = self.model.config.get_text_config().hidden_size
            self.model.add_module("v_head", ValueHead(hidden).to(self.model.device))
        self._rollout_pass: dict[str, Any] | None = None  # armed: the next policy forward is the rollout's
        self._rollout_state: dict[str, Any] | None = None  # what the rollout in progress has collected

    # -- hooks -------------------------------------------------------------------------------
    @contextmanager
    def _hidden_states(self, model: nn.Module):
        """Collect the last hidden states of every forward inside the block (chunks in order)."""
        chunks: list[torch.Tensor] = []
        handle = _final_norm(self.accelerator.unwrap_model(model)).register_forward_hook(
            lambda module, args, output: chunks.append(output)
        )
        try:
            yield chunks
        finally:
            handle.remove()

    def _values(self, model: nn.Module, chunks: list[torch.Tensor], logits_to_keep: int) -> torch.Tensor:
        """`[B, C]`: V at the query predicting each completion token (position P + t - 1)."""
        hidden = torch.cat(chunks, dim=0)[:, -logits_to_keep - 1 : -1]
        return self.accelerator.unwrap_model(model).v_head(hidden)

    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep, *args, **kwargs):
        state = self._rollout_pass
        if state is None or model is not self.model:  # not armed, or the reference model's pass
            return super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, *args, **kwargs
            )
        self._rollout_pass = None  # one pass per rollout; DyCo's capture (DyCoJoin) is armed for the same one
        with self._hidden_states(model) as chunks:
            out = super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, *args, **kwargs
            )
        state["values"] = self._values(model, chunks, logits_to_keep).detach()
        state["old_logps"] = out[0]
        return out

    @contextmanager
    def _arm_rollout_pass(self, state: dict[str, Any]):
        """The next policy forward is the rollout's: values, old log-probs and (under DyCo) the signal."""
        self._rollout_pass = state
        with ExitStack() as stack:
            if self.dyco.alpha != 0:
                state["captured"] = stack.enter_context(self.dyco_capture())
            try:
                yield
            finally:
                self._rollout_pass = None

    # -- rollout -----------------------------------------------------------------------------
    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        if self._rollout_state is not None:  # gathered over processes, as TRL computes them
            self._rollout_state["rewards_per_func"] = rewards_per_func
        return rewards_per_func

    def _generate_and_score_completions(self, inputs):
        state: dict[str, Any] = {}
        self._rollout_state = state
        # TRL runs its own old-logps pass (first policy forward after generation) under these conditions
        # (grpo_trainer.py, TRL 1.16.0); that pass is then ours. Otherwise nothing is armed inside TRL (under
        # PEFT its reference pass runs the same module) and we run the pass below.
        generate_every = self.args.steps_per_generation * self.num_iterations
        trl_pass = self.args.gradient_accumulation_steps % generate_every != 0 or (
            self.use_vllm and self.vllm_importance_sampling_correction
        )
        try:
            with self._arm_rollout_pass(state) if trl_pass else ExitStack():
                output = super()._generate_and_score_completions(inputs)
            if "values" not in state:  # TRL ran no old-logps pass: run it here (the same single pass)
                prompt_completion_ids = torch.cat([output["prompt_ids"], output["completion_ids"]], dim=1)
                attention_mask = torch.cat([output["prompt_mask"], output["completion_mask"]], dim=1)
                mode = "train" if self.model.training else "eval"
                batch_size = self.args.per_device_train_batch_size if mode == "train" else None
                gc_kwargs = self.args.gradient_checkpointing_kwargs
                with (
                    self._arm_rollout_pass(state),
                    torch.no_grad(),
                    disable_gradient_checkpointing(self.model, gc_kwargs),  # as TRL's pass
                ):
                    self._get_per_token_logps_and_entropies(
                        self.model,
                        prompt_completion_ids,
                        attention_mask,
                        output["completion_ids"].size(1),
                        batch_size=batch_size,
                        **{k: output[k] for k in MULTIMODAL_KEYS if k in output},
                    )
        finally:
            self._rollout_state = None
        if "values" not in state:
            raise RuntimeError("PPO: no value pass ran over this rollout")
        self._ppo_advantages(output, state)
        return output

    def _ppo_advantages(self, output: dict[str, Any], state: dict[str, Any]) -> None:
        """Token rewards -> GAE advantages/returns (+ DyCo) into the rollout, in place."""
        mask = (
            output["completion_mask"] if "tool_mask" not in output else output["completion_mask"] * output["tool_mask"]
        )
        values, old_logps = state["values"].float() * mask, state["old_logps"]
        B = mask.shape[0]
        rewards_per_func = state["rewards_per_func"]
        score = (rewards_per_func * self.reward_weights.to(rewards_per_func.device)).nansum(dim=1)
        start = self.accelerator.process_index * B
        score = score[start : start + B].to(values.device)

        rewards = terminal_rewards(score, mask)
        kl = torch.zeros_like(rewards)
        if self.beta != 0.0 and "ref_per_token_logps" in output:
            kl = (old_logps - output["ref_per_token_logps"]) * mask
            rewards = rewards - self.beta * kl
        advantages, returns = gae(rewards, values, mask, self.args.gamma, self.args.lam)
        if self.args.whiten_advantages:
            advantages = whiten(advantages, mask)
        output["old_per_token_logps"] = old_logps
        output["values"], output["returns"] = values, returns
        output["advantages"] = advantages
        if self.dyco.alpha != 0:
            completion_mask = output["completion_mask"]
            n = self.num_generations if self.model.training else self.num_generations_eval
            groups = self.dyco_groups(len(completion_mask), n)
            output["advantages"] = self.dyco_advantages(advantages, state["captured"].signals, completion_mask, groups)
        mode = "train" if self.model.training else "eval"
        for name, value in (("ppo/values", values), ("ppo/returns", returns), ("ppo/kl", kl)):
            self._metrics[mode][name].append(self.accelerator.gather(masked_mean(value, mask)).mean().item())

    # -- loss --------------------------------------------------------------------------------
    def _compute_loss(self, model, inputs):
        prompt_ids, prompt_mask = inputs["prompt_ids"], inputs["prompt_mask"]
        completion_ids, completion_mask = inputs["completion_ids"], inputs["completion_mask"]
        input_ids = torch.cat([prompt_ids, completion_ids], dim=1)
        attention_mask = torch.cat([prompt_mask, completion_mask], dim=1)
        logits_to_keep = completion_ids.size(1)
        mask = completion_mask if "tool_mask" not in inputs else completion_mask * inputs["tool_mask"]
        with self._hidden_states(model) as chunks:
            logps, _, _ = self._get_per_token_logps_and_entropies(
                model,
                input_ids,
                attention_mask,
                logits_to_keep,
                **{k: inputs.get(k) for k in MULTIMODAL_KEYS},
            )
        values = self._values(model, chunks, logits_to_keep)
        old_logps = inputs.get("old_per_token_logps")
        old_logps = logps.detach() if old_logps is None else old_logps
        pg_loss, pg_clipfrac = policy_loss(logps, old_logps, inputs["advantages"], mask, self.epsilon_low)
        vf_loss, vf_clipfrac = value_loss(values, inputs["values"], inputs["returns"], mask, self.args.cliprange_value)
        loss = pg_loss + self.args.vf_coef * vf_loss

        mode = "train" if self.model.training else "eval"
        for name, value in (
            ("ppo/policy_loss", pg_loss),
            ("ppo/value_loss", vf_loss),
            ("ppo/clipfrac", pg_clipfrac),
            ("ppo/vf_clipfrac", vf_clipfrac),
        ):
            self._metrics[mode][name].append(self.accelerator.gather(value.detach()).mean().item())
        normalizer = self.current_gradient_accumulation_steps if mode == "train" else 1.0
        return loss / normalizer
