"""PPO (ours, on TRL's GRPOTrainer): GAE against a float64 loop reference, the clipped losses, the
value head read from the trunk's last hidden state, token rewards with the KL penalty, and
python -m dyco_repro.train end to end (baseline / DyCo) with one value/old-logps pass per rollout."""

from __future__ import annotations

import random

import mlflow
import pytest
import torch
from batches import rollout_batch
from run_helpers import logged_runs as runs
from run_helpers import tiny_config as config
from safetensors import safe_open
from trainer_settings import tiny_trainer_settings
from transformers import AutoModelForImageTextToText, Qwen2_5_VLForConditionalGeneration
from trl import GRPOTrainer

from dyco_repro.algos import dyco_join
from dyco_repro.algos.core import gae, policy_loss, terminal_rewards, value_loss, whiten
from dyco_repro.algos.dyco_join import Captured
from dyco_repro.algos.ppo import DyCoPPOTrainer, PPOConfig
from dyco_repro.dyco import DyCoConfig, reweight
from dyco_repro.dyco.signals import DyCoSignals
from dyco_repro.tiny.shapes import random_scene, render
from dyco_repro.train import plan_run, run


def gae_reference(rewards, values, mask, gamma, lam):
    """Plain loops in float64 over each row's valid tokens."""
    B, C = len(rewards), len(rewards[0])
    adv = [[0.0] * C for _ in range(B)]
    ret = [[0.0] * C for _ in range(B)]
    for b in range(B):
        idx = [t for t in range(C) if mask[b][t]]
        last_gae, next_value = 0.0, 0.0
        for t in reversed(idx):
            delta = rewards[b][t] + gamma * next_value - values[b][t]
            last_gae = delta + gamma * lam * last_gae
            adv[b][t], ret[b][t] = last_gae, last_gae + values[b][t]
            next_value = values[b][t]
    return torch.tensor(adv, dtype=torch.float64), torch.tensor(ret, dtype=torch.float64)


@pytest.mark.parametrize("gamma,lam", [(1.0, 0.95), (0.9, 0.8), (1.0, 1.0), (0.99, 0.0)])
def test_gae_matches_float64_reference(gamma, lam):
    gen = torch.Generator().manual_seed(0)
    B, C = 6, 9
    rewards = torch.randn(B, C, generator=gen, dtype=torch.float64)
    values = torch.randn(B, C, generator=gen, dtype=torch.float64)
    lengths = torch.tensor([9, 5, 1, 0, 7, 3])  # ragged right padding, a 1-token and an empty row
    mask = (torch.arange(C)[None] < lengths[:, None]).long()
    mask[4, 2] = 0  # a hole inside a completion (e.g. a tool-output token): skipped
    adv, ret = gae(rewards, values, mask, gamma, lam)
    want_adv, want_ret = gae_reference(rewards.tolist(), values.tolist(), mask.tolist(), gamma, lam)
    torch.testing.assert_close(adv, want_adv, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ret, want_ret, rtol=1e-12, atol=1e-12)
    assert (adv[mask == 0] == 0).all() and (ret[mask == 0] == 0).all()


def test_gae_with_zero_values_decays_the_terminal_reward_by_gamma_lambda():
    mask = torch.tensor([[1, 1, 1, 0]])
    rewards = terminal_rewards(torch.tensor([2.0]), mask)
    assert rewards.tolist() == [[0.0, 0.0, 2.0, 0.0]]
    adv, ret = gae(rewards, torch.zeros(1, 4), mask, gamma=1.0, lam=0.5)
    assert adv.tolist() == [[0.5, 1.0, 2.0, 0.0]] and ret.tolist() == adv.tolist()  # (gamma lam)^(T-1-t) R
    adv, _ = gae(rewards, torch.zeros(1, 4), mask, gamma=1.0, lam=1.0)
    assert adv.tolist() == [[2.0, 2.0, 2.0, 0.0]]  # lambda = 1: the Monte Carlo return


def test_terminal_rewards_sit_on_the_last_valid_token():
    mask = torch.tensor([[1, 1, 0], [1, 0, 1], [0, 0, 0]])
    assert terminal_rewards(torch.tensor([1.0, 2.0, 3.0]), mask).tolist() == [[0, 1, 0], [0, 0, 2], [0, 0, 0]]


def test_whiten_uses_valid_tokens_only():
    x = torch.tensor([[1.0, 2.0, 100.0], [3.0, 4.0, -50.0]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 0]])
    w = whiten(x, mask)
    valid = w[mask.bool()]
    assert valid.mean().abs() < 1e-6 and valid.std() == pytest.approx(1.0, abs=1e-5)
    assert (w[~mask.bool()] == 0).all()


def test_policy_loss_clips_the_ratio():
    mask = torch.tensor([[1, 1, 0]])
    adv = torch.tensor([[1.0, -1.0, 5.0]])
    old = torch.zeros(1, 3)
    # ratio 1: the loss is -mean(A) over valid tokens, nothing clipped
    loss, clipfrac = policy_loss(torch.zeros(1, 3), old, adv, mask, epsilon=0.2)
    assert loss.item() == pytest.approx(0.0) and clipfrac.item() == 0.0
    # ratio 2 on both: A > 0 clips at 1.2 (no gradient), A < 0 keeps 2 (pessimistic)
    logps = torch.full((1, 3), torch.log(torch.tensor(2.0)).item(), requires_grad=True)
    loss, clipfrac = policy_loss(logps, old, adv, mask, epsilon=0.2)
    assert loss.item() == pytest.approx((-1.2 + 2.0) / 2)
    assert clipfrac.item() == pytest.approx(0.5)
    loss.backward()
    torch.testing.assert_close(logps.grad, torch.tensor([[0.0, 1.0, 0.0]]))  # d/dlogp (ratio / 2 tokens)


def test_value_loss_clips_the_update():
    mask = torch.tensor([[1, 1, 1, 0]])
    old = torch.zeros(1, 4)
    returns = torch.tensor([[1.0, 1.0, -1.0, 9.0]])
    values = torch.tensor([[0.1, 0.5, 0.5, 0.0]], requires_grad=True)
    loss, clipfrac = value_loss(values, old, returns, mask, cliprange=0.2)
    # token 0: inside the clip, 0.81; token 1: clipped to 0.2, max(0.25, 0.64) = 0.64;
    # token 2: moving away from the return, max(2.25, 1.44) = 2.25
    assert loss.item() == pytest.approx(0.5 * (0.81 + 0.64 + 2.25) / 3)
    assert clipfrac.item() == pytest.approx(1 / 3)
    loss.backward()
    torch.testing.assert_close(values.grad, torch.tensor([[-0.9 / 3, 0.0, 1.5 / 3, 0.0]]))


# -- the trainer on the tiny world ------------------------------------------------------------


def exact_reward(completions, solution, **kwargs):
    return [float(s in c[0]["content"]) for c, s in zip(completions, solution, strict=True)]


def make_trainer(path, processor, dataset, tmp_path, **args):
    torch.manual_seed(0)
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(path)
    # bf16=False: TRL's default autocasts to bf16, also on CPU
    config = PPOConfig(**tiny_trainer_settings(tmp_path, bf16=False, **{"max_steps": 1, **args}))
    return DyCoPPOTrainer(
        model=model, reward_funcs=[exact_reward], args=config, train_dataset=dataset, processing_class=processor
    )


def test_value_head_reads_the_last_hidden_state_and_learns(tiny_s_dir, tiny_processor, dataset, tmp_path):
    trainer = make_trainer(tiny_s_dir, tiny_processor, dataset, tmp_path)
    model = trainer.model.train()  # (the tiny model has no dropout)
    trainer.current_gradient_accumulation_steps = 1  # (set by train())
    torch.nn.init.normal_(model.v_head.summary.weight, std=0.1)
    rng = random.Random(1)
    prompts = [(render(random_scene(rng)), "How many red shapes are in the image?") for _ in range(4)]
    batch, P = rollout_batch(tiny_processor, prompts, [6, 3, 8, 5], seed=2)
    mask = batch["attention_mask"][:, P:]
    C = mask.shape[1]
    with torch.no_grad():
        hidden = model(**batch, output_hidden_states=True).hidden_states[-1]
    want_values = model.v_head(hidden[:, P - 1 : -1])
    inputs = {
        "prompt_ids": batch["input_ids"][:, :P],
        "prompt_mask": batch["attention_mask"][:, :P],
        "completion_ids": batch["input_ids"][:, P:],
        "completion_mask": mask,
        "pixel_values": batch["pixel_values"],
        "image_grid_thw": batch["image_grid_thw"],
        "num_images": [1] * 4,
        "mm_token_type_ids": batch["mm_token_type_ids"],
        "advantages": torch.randn(4, C, generator=torch.Generator().manual_seed(3)),
        "values": torch.zeros(4, C),
        "returns": torch.ones(4, C),
    }
    model.zero_grad()
    trainer._compute_loss(model, inputs).backward()
    assert model.v_head.summary.weight.grad.abs().sum() > 0
    logged = trainer._metrics["train"]
    want_vf, _ = value_loss(want_values, inputs["values"], inputs["returns"], mask, 0.2)
    assert logged["ppo/value_loss"][-1] == pytest.approx(want_vf.item(), rel=1e-4)
    assert logged["ppo/clipfrac"][-1] == 0.0  # on-policy: ratio 1


def test_rollout_advantages_are_gae_with_kl_in_the_reward(tiny_s_dir, tiny_processor, dataset, tmp_path):
    trainer = make_trainer(tiny_s_dir, tiny_processor, dataset, tmp_path, beta=0.1, whiten_advantages=False)
    gen = torch.Generator().manual_seed(0)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1], [1, 0, 0, 0], [1, 1, 0, 0]])
    state = {
        "values": torch.randn(4, 4, generator=gen),
        "old_logps": -torch.rand(4, 4, generator=gen),
        "rewards_per_func": torch.tensor([[1.0], [0.0], [1.0], [1.0]]),  # the same group: std would be 0
    }
    output = {"completion_mask": mask, "ref_per_token_logps": -torch.rand(4, 4, generator=gen)}
    trainer._ppo_advantages(output, state)
    values = state["values"] * mask
    rewards = terminal_rewards(torch.tensor([1.0, 0.0, 1.0, 1.0]), mask)
    rewards = rewards - 0.1 * (state["old_logps"] - output["ref_per_token_logps"]) * mask
    want_adv, want_ret = gae(rewards, values, mask, gamma=1.0, lam=0.95)
    torch.testing.assert_close(output["advantages"], want_adv)
    torch.testing.assert_close(output["returns"], want_ret)
    assert torch.equal(output["old_per_token_logps"], state["old_logps"])
    assert output["advantages"][1].abs().sum() > 0, "no group normalisation: a zero reward still has an advantage"


def test_dyco_reweights_the_gae_advantages_and_alpha_zero_leaves_them(tiny_s_dir, tiny_processor, dataset, tmp_path):
    trainer = make_trainer(tiny_s_dir, tiny_processor, dataset, tmp_path)
    trainer.model.train()
    gen = torch.Generator().manual_seed(1)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1], [1, 0, 0, 0], [1, 1, 0, 0]])
    r_vis = torch.rand(4, 4, generator=gen) * mask
    role = torch.tensor([[0, 1, -1, 0], [1, 1, 0, -1], [0, 0, 0, 0], [-1, 1, 0, 0]])
    score = torch.where(role == 1, r_vis, torch.where(role == -1, 1 - r_vis, 0.0))
    signals = DyCoSignals(r_vis, (1 - r_vis) * mask, torch.zeros(4, 4), torch.zeros(4, 4), role, score)

    def rollout():
        state = {
            "values": torch.randn(4, 4, generator=torch.Generator().manual_seed(0)),
            "old_logps": torch.zeros(4, 4),
            "rewards_per_func": torch.tensor([[1.0], [0.0], [1.0], [0.0]]),
            "captured": Captured(signals=signals),  # what the rollout pass's armed capture handed back
        }
        output = {"completion_mask": mask}
        trainer._ppo_advantages(output, state)
        return output, state

    plain, state = rollout()  # alpha = 0: whitened GAE, nothing else
    want, _ = gae(terminal_rewards(torch.tensor([1.0, 0.0, 1.0, 0.0]), mask), state["values"] * mask, mask, 1.0, 0.95)
    torch.testing.assert_close(plain["advantages"], whiten(want, mask))
    assert "dyco/visual_frac" not in trainer._metrics["train"]

    trainer.dyco = DyCoConfig(alpha=0.5)
    dyco, _ = rollout()
    torch.testing.assert_close(dyco["advantages"], reweight(plain["advantages"], signals, mask, trainer.dyco))
    assert not torch.allclose(dyco["advantages"], plain["advantages"])
    assert torch.equal(dyco["returns"], plain["returns"]), "DyCo reweights the policy's advantages only"
    assert trainer._metrics["train"]["dyco/visual_frac"] == [pytest.approx(4 / 10)]  # visual / valid tokens


@pytest.mark.slow
@pytest.mark.parametrize("method", ["baseline", "dyco"])
def test_ppo_trains_and_logs(tmp_path, monkeypatch, method):
    passes, captures = [], []
    real_pass = GRPOTrainer._get_per_token_logps_and_entropies

    def spy_pass(self, model, *args, **kwargs):
        passes.append(torch.is_grad_enabled())
        return real_pass(self, model, *args, **kwargs)

    real_capture = dyco_join.capture_attention

    def spy_capture(*args, **kwargs):
        captures.append(torch.is_grad_enabled())
        return real_capture(*args, **kwargs)

    monkeypatch.setattr(GRPOTrainer, "_get_per_token_logps_and_entropies", spy_pass)
    monkeypatch.setattr(dyco_join, "capture_attention", spy_capture)
    final = run(plan_run(config(tmp_path, "algo=ppo", f"method={method}", "train.max_steps=2")))

    # per step: one no-grad value/old-logps pass over the rollout, one training forward; nothing else
    assert passes == [False, True, False, True]
    # DyCo: captured once per rollout, in that no-grad pass, never in the loss forward
    assert captures == ([False, False] if method == "dyco" else [])

    assert (final / "config.json").is_file()
    with safe_open(final / "model.safetensors", "pt") as f:
        assert {"v_head.summary.weight", "v_head.summary.bias"} <= set(f.keys())
    assert isinstance(AutoModelForImageTextToText.from_pretrained(final), Qwen2_5_VLForConditionalGeneration)

    (logged,) = runs(tmp_path)
    assert logged.data.tags["algo"] == "ppo" and logged.data.tags["method"] == method
    client = mlflow.MlflowClient()
    for name in ("ppo/value_loss", "ppo/policy_loss", "reward"):
        assert [m.step for m in client.get_metric_history(logged.info.run_id, name)] == [1, 2], name
    assert ("dyco/visual_frac" in logged.data.metrics) == (method == "dyco")


def parity_reward(completions, **kwargs):
    return [float(len(c[0]["content"]) % 2) for c in completions]


@pytest.mark.slow
def test_training_moves_value_head_and_policy(tiny_s_dir, tiny_processor, dataset, tmp_path):
    trainer = make_trainer(
        tiny_s_dir, tiny_processor, dataset, tmp_path, beta=0.04, max_steps=2, logging_steps=1, learning_rate=1e-3
    )
    trainer.reward_funcs, trainer.reward_func_names = [parity_reward], ["parity_reward"]
    trainer.train()
    assert trainer.model.v_head.summary.weight.abs().sum() > 0, "the optimizer trains the value head"
    logs = [entry for entry in trainer.state.log_history if "ppo/value_loss" in entry]
    assert len(logs) == 2
    assert any(entry["ppo/value_loss"] > 0 for entry in logs)
    assert logs[-1]["ppo/kl"] != 0, "the policy moved away from the reference"


@pytest.mark.slow
def test_trl_old_logps_pass_is_the_value_pass(tiny_s_dir, tiny_processor, dataset, tmp_path, monkeypatch):
    """Generation every 2 steps: TRL runs its own old-logps pass, and that pass gives the values."""
    passes = []
    real_pass = GRPOTrainer._get_per_token_logps_and_entropies

    def spy_pass(self, model, *args, **kwargs):
        passes.append(torch.is_grad_enabled())
        return real_pass(self, model, *args, **kwargs)

    monkeypatch.setattr(GRPOTrainer, "_get_per_token_logps_and_entropies", spy_pass)
    trainer = make_trainer(
        tiny_s_dir, tiny_processor, dataset, tmp_path, max_steps=2, steps_per_generation=2, logging_steps=1
    )
    trainer.train()
    assert passes == [False, True, True]  # one rollout of 8, its single no-grad pass, two loss forwards
    assert len([e for e in trainer.state.log_history if "ppo/value_loss" in e]) == 2
