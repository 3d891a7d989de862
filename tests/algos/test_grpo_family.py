"""DyCo on TRL's GRPOTrainer: stock behaviour at alpha = 0, reweighted advantages otherwise,
the signal from the training forward itself (captured once, reused across iterations)."""

from __future__ import annotations

import pytest
import torch
from trainer_settings import micro_batch, tiny_trainer_settings
from transformers import Qwen2_5_VLForConditionalGeneration
from trl import GRPOConfig, GRPOTrainer

from dyco_repro.algos.dyco_join import GROUP, REWEIGHTED
from dyco_repro.algos.grpo_family import DyCoGRPOTrainer
from dyco_repro.dyco import DyCoConfig, capture, compute_signals, reweight, sapo_length_factor

LOSSES = {  # the GRPO family as TRL configures it
    "grpo": {"loss_type": "grpo"},
    "dapo": {"loss_type": "dapo", "epsilon_high": 0.28},
    "sapo": {"loss_type": "sapo"},
    "gspo": {"loss_type": "grpo", "importance_sampling_level": "sequence"},
}


def exact_reward(completions, solution, **kwargs):
    return [
        float(s in (c if isinstance(c, str) else c[0]["content"])) for c, s in zip(completions, solution, strict=True)
    ]


def make_trainer(cls, path, processor, dataset, tmp_path, loss="grpo", **kwargs):
    torch.manual_seed(0)
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(path)
    extra = kwargs.pop("args", {})
    args = GRPOConfig(**tiny_trainer_settings(tmp_path, **LOSSES[loss], **extra))
    return cls(
        model=model, reward_funcs=[exact_reward], args=args, train_dataset=dataset, processing_class=processor, **kwargs
    )


@pytest.fixture(scope="module")
def loss_inputs(tiny_processor):
    """One training micro-batch as TRL's `_compute_loss` receives it."""
    batch, inputs, P = micro_batch(tiny_processor, 4)
    batch["advantages"] = torch.tensor([1.0, -0.5, 0.25, -0.75])
    batch["num_items_in_batch"] = inputs["attention_mask"][:, P:].sum().float()
    return batch, inputs, P


def loss_and_grads(trainer, inputs):
    trainer.model.zero_grad()
    loss = trainer._compute_loss(trainer.model, dict(inputs))
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_alpha_zero_is_stock_trl(tiny_s_dir, tiny_processor, dataset, loss_inputs, tmp_path, loss):
    inputs, _, _ = loss_inputs
    stock = make_trainer(GRPOTrainer, tiny_s_dir, tiny_processor, dataset, tmp_path, loss)
    ours = make_trainer(DyCoGRPOTrainer, tiny_s_dir, tiny_processor, dataset, tmp_path, loss, dyco=DyCoConfig(alpha=0))
    want_loss, want_grads = loss_and_grads(stock, inputs)
    got_loss, got_grads = loss_and_grads(ours, inputs)
    assert torch.equal(got_loss, want_loss)
    assert want_grads.keys() == got_grads.keys() and want_grads
    for name in want_grads:
        assert torch.equal(got_grads[name], want_grads[name]), name


@pytest.mark.parametrize("loss", sorted(LOSSES))
@pytest.mark.parametrize("variant", ["token", "sequence"])
def test_dyco_loss_is_stock_loss_on_reweighted_advantages(
    tiny_s_dir, tiny_processor, dataset, loss_inputs, tmp_path, loss, variant
):
    inputs, model_inputs, P = loss_inputs
    cfg = DyCoConfig(alpha=0.5, variant=variant, tau_txt=0.0)
    ours = make_trainer(DyCoGRPOTrainer, tiny_s_dir, tiny_processor, dataset, tmp_path, loss, dyco=cfg)
    stock = make_trainer(GRPOTrainer, tiny_s_dir, tiny_processor, dataset, tmp_path, loss)

    rollout = dict(inputs)
    ours.model.zero_grad()
    got_loss = ours._compute_loss(ours.model, rollout)
    got_loss.backward()
    got_grads = {n: p.grad.clone() for n, p in ours.model.named_parameters() if p.grad is not None}

    # The advantages the loss used are DyCo's reweighting of this batch's own signals ...
    signals = compute_signals(stock.model, model_inputs, P, cfg)
    assert (signals.role != 0).any(), "the check needs non-neutral tokens"
    expected = reweight(inputs["advantages"], signals, inputs["completion_mask"], cfg)
    if loss == "sapo":  # the released length factor min(|o| / 60, 1) rides along under SAPO
        length = sapo_length_factor(inputs["completion_mask"], cfg.sapo_length_tokens)[:, None]
        expected = torch.where(inputs["completion_mask"].bool(), expected * length, expected)
    # (the sequence variant z-scores over 4 completions, which magnifies last-bit differences)
    torch.testing.assert_close(rollout[REWEIGHTED], expected, rtol=1e-3, atol=1e-4)
    assert not torch.allclose(expected, inputs["advantages"][:, None].expand_as(expected))
    # ... and the loss is TRL's stock loss on exactly those advantages.
    want_loss, want_grads = loss_and_grads(stock, dict(inputs, advantages=rollout[REWEIGHTED]))
    assert torch.equal(got_loss.detach(), want_loss)
    for name in want_grads:
        assert torch.equal(got_grads[name], want_grads[name]), name


def test_signal_is_captured_once_per_rollout_and_reused(
    tiny_s_dir, tiny_processor, dataset, loss_inputs, tmp_path, monkeypatch
):
    inputs, _, _ = loss_inputs
    trainer = make_trainer(DyCoGRPOTrainer, tiny_s_dir, tiny_processor, dataset, tmp_path, dyco=DyCoConfig())
    trainer.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    captures = []
    real = capture.AttentionCapture._reduce
    monkeypatch.setattr(capture.AttentionCapture, "_reduce", lambda self, p: captures.append(1) or real(self, p))
    rollout = dict(inputs)
    raw = rollout["advantages"].clone()
    for _ in range(2):  # num_iterations = 2 over the same buffered rollout
        trainer._compute_loss(trainer.model, rollout).backward()
    assert len(captures) == 1
    assert torch.equal(rollout["advantages"], raw), "the rollout buffer keeps the raw advantages"
    assert rollout[REWEIGHTED].shape == inputs["completion_mask"].shape


@pytest.mark.slow
def test_training_logs_dyco_metrics(tiny_s_dir, tiny_processor, dataset, tmp_path):
    trainer = make_trainer(
        DyCoGRPOTrainer, tiny_s_dir, tiny_processor, dataset, tmp_path, dyco=DyCoConfig(), args={"logging_steps": 1}
    )
    trainer.train()
    logged = [entry for entry in trainer.state.log_history if "dyco/visual_frac" in entry]
    assert len(logged) == 2
    for entry in logged:
        fracs = entry["dyco/visual_frac"] + entry["dyco/textual_frac"] + entry["dyco/neutral_frac"]
        assert fracs == pytest.approx(1.0, abs=1e-6)
        assert entry["dyco/weight_min"] - 1e-6 <= entry["dyco/weight_mean"] <= entry["dyco/weight_max"] + 1e-6


@pytest.mark.slow
def test_loss_micro_batches_hold_whole_prompt_groups(tiny_s_dir, tiny_processor, dataset, tmp_path, monkeypatch):
    # 2 micro-batches of 4 rows per rollout of 8 = 4 prompts x 2 completions: TRL's row shuffle would split groups
    seen = []
    real = GRPOTrainer._compute_loss

    def spy(self, model, inputs):
        seen.append(inputs[GROUP].tolist())
        return real(self, model, inputs)

    monkeypatch.setattr(GRPOTrainer, "_compute_loss", spy)
    settings = {"num_generations": 2, "gradient_accumulation_steps": 2, "max_steps": 1}
    trainer = make_trainer(
        DyCoGRPOTrainer, tiny_s_dir, tiny_processor, dataset, tmp_path, dyco=DyCoConfig(), args=settings
    )
    trainer.train()
    assert len(seen) == 2
    assert sorted(g for batch in seen for g in batch) == [0, 0, 1, 1, 2, 2, 3, 3]
    for batch in seen:
        assert all(batch.count(g) == 2 for g in batch), f"a micro-batch split a prompt group: {batch}"


def test_dyco_needs_micro_batches_of_whole_groups(tiny_s_dir, tiny_processor, dataset, tmp_path):
    with pytest.raises(ValueError, match="multiple of num_generations"):
        make_trainer(
            DyCoGRPOTrainer, tiny_s_dir, tiny_processor, dataset, tmp_path, dyco=DyCoConfig(),
            args={"per_device_train_batch_size": 2, "gradient_accumulation_steps": 2},
        )  # fmt: skip
