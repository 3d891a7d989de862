"""DyCo on TRL's RLOOTrainer: stock behaviour at alpha = 0, a token-level form of RLOO's
sequence-level loss that is the stock loss exactly under equal weights, the signal from the
old-logps pass RLOO already runs (no extra forward, captured once per rollout), and end-to-end
training through `dyco_repro.train`."""

from __future__ import annotations

import mlflow
import pytest
import torch
from run_helpers import logged_runs as runs
from run_helpers import tiny_config as config
from trainer_settings import micro_batch, tiny_trainer_settings
from transformers import Qwen2_5_VLForConditionalGeneration
from trl import RLOOConfig, RLOOTrainer

from dyco_repro.algos import FAMILIES, dyco_join
from dyco_repro.algos.core import sequence_advantage, token_gradient_scale
from dyco_repro.algos.dyco_join import REWEIGHTED
from dyco_repro.algos.rloo import DyCoRLOOTrainer
from dyco_repro.dyco import DyCoConfig, capture, compute_signals, reweight
from dyco_repro.train import plan_run, run

B = 4
ADVANTAGES = torch.tensor([1.0, -0.5, 0.25, -0.75])
# old - new sequence log-prob per row: ratios 1 (inside the clip), 0.61 with A < 0 and 1.65 with A > 0
# (clipped: no gradient), 1.65 with A < 0 (outside the region, unclipped branch: full gradient).
OLD_SHIFT = torch.tensor([0.0, 0.5, -0.5, -0.5])


def length_reward(completions, **kwargs):
    """Varied rewards, so that RLOO's leave-one-out advantages are not all zero."""
    return [len(c if isinstance(c, str) else c[0]["content"]) / 10 for c in completions]


def make_trainer(cls, path, processor, dataset, tmp_path, args=None, **kwargs):
    torch.manual_seed(0)
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(path)
    config = RLOOConfig(
        **tiny_trainer_settings(tmp_path, per_device_train_batch_size=B, num_generations=B, **(args or {}))
    )
    return cls(
        model=model,
        reward_funcs=[length_reward],
        args=config,
        train_dataset=dataset,
        processing_class=processor,
        **kwargs,
    )


@pytest.fixture(scope="module")
def loss_inputs(tiny_processor, tiny_s_dir):
    """One training micro-batch as RLOO's `_compute_loss` receives it (old log-probs included)."""
    batch, inputs, P = micro_batch(tiny_processor, B)
    batch["advantages"] = ADVANTAGES.clone()
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_s_dir)
    labels = inputs["input_ids"].masked_fill(inputs["attention_mask"] == 0, -100)
    with torch.no_grad():
        logits = model(**inputs).logits[:, P - 1 : -1].float()
    logps = torch.log_softmax(logits, -1).gather(-1, inputs["input_ids"][:, P:, None])[..., 0]
    logps = (logps * (labels[:, P:] != -100)).sum(1)
    batch["old_logps"] = logps + OLD_SHIFT
    return batch


def rollout_rows(dataset, index=0):
    """A generation batch as RLOO's dataloader yields it: one prompt, num_generations times."""
    return [dataset[index]] * B


def loss_and_grads(trainer, inputs, loss=None):
    trainer.model.zero_grad()
    loss = (loss or trainer._compute_loss)(trainer.model, dict(inputs))
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.grad is not None}


def assert_same(got, want):
    (got_loss, got_grads), (want_loss, want_grads) = got, want
    assert torch.equal(got_loss, want_loss), (got_loss, want_loss)
    assert want_grads and want_grads.keys() == got_grads.keys()
    for name in want_grads:
        assert torch.equal(got_grads[name], want_grads[name]), name


# -- the token-level form ------------------------------------------------------------------------
def test_sequence_advantage_and_scale_are_exact_on_constant_rows():
    adv = torch.tensor([0.1, -0.3, 1 / 3, 0.0, 7.7])
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1], [1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0]])
    rows = adv[:, None].expand(5, 4).clone()
    assert torch.equal(sequence_advantage(rows, mask), adv)
    assert torch.equal(token_gradient_scale(rows, adv, mask), torch.ones(5, 4))
    # Otherwise: the mean over valid tokens, and A~ = A_bar * scale on valid tokens.
    tokens = torch.tensor([[1.0, 2.0, 3.0, 99.0], [-1.0, -1.0, -2.0, -4.0], [2.0, 5.0, 5.0, 5.0]] + [[0.0] * 4] * 2)
    mean = sequence_advantage(tokens, mask)
    torch.testing.assert_close(mean[:3], torch.tensor([2.0, -2.0, 2.0]))
    scale = token_gradient_scale(tokens, mean, mask)
    torch.testing.assert_close((mean[:, None] * scale)[mask.bool()], tokens[mask.bool()])
    assert torch.equal(scale[~mask.bool()], torch.ones(int((~mask.bool()).sum())))


def test_equal_weights_token_level_form_is_stock_rloo(tiny_s_dir, tiny_processor, dataset, loss_inputs, tmp_path):
    """Token advantages equal along each completion (all DyCo weights 1): the stock loss and gradient, bit for bit."""
    stock = make_trainer(RLOOTrainer, tiny_s_dir, tiny_processor, dataset, tmp_path)
    ours = make_trainer(DyCoRLOOTrainer, tiny_s_dir, tiny_processor, dataset, tmp_path, dyco=DyCoConfig())
    C = loss_inputs["completion_ids"].shape[1]
    rows = loss_inputs["advantages"][:, None].expand(B, C)
    assert_same(
        loss_and_grads(ours, loss_inputs, lambda m, x: ours.token_level_loss(m, x, rows)),
        loss_and_grads(stock, loss_inputs),
    )
    # A factor constant per completion (DyCo's sequence variant) is RLOO on the scaled advantages, exactly.
    factor = torch.tensor([1.2, 0.8, 1.0, 1.1])
    scaled = loss_inputs["advantages"] * factor
    assert_same(
        loss_and_grads(ours, dict(loss_inputs, **{REWEIGHTED: scaled[:, None].expand(B, C)})),
        loss_and_grads(stock, dict(loss_inputs, advantages=scaled)),
    )


def test_token_level_gradient_carries_each_token_advantage(
    tiny_s_dir, tiny_processor, dataset, loss_inputs, tmp_path, monkeypatch
):
    """d loss / d log pi(o_it) = -g_i r_i A~_it m_it / B: RLOO's sequence ratio and clip, per-token advantages."""
    ours = make_trainer(DyCoRLOOTrainer, tiny_s_dir, tiny_processor, dataset, tmp_path, dyco=DyCoConfig())
    seen = []
    real = RLOOTrainer._get_per_token_logps_and_entropies

    def keep(self, *args, **kwargs):
        out = real(self, *args, **kwargs)
        out[0].retain_grad()
        seen.append(out[0])
        return out

    monkeypatch.setattr(RLOOTrainer, "_get_per_token_logps_and_entropies", keep)
    mask = loss_inputs["completion_mask"].float()
    weights = 1 + torch.rand(mask.shape, generator=torch.Generator().manual_seed(0))  # positive, as DyCo's
    tokens = loss_inputs["advantages"][:, None] * weights
    loss = ours.token_level_loss(ours.model, dict(loss_inputs), tokens)
    loss.backward()

    (logps,) = seen
    ratio = torch.exp((logps.detach() * mask).sum(1) - loss_inputs["old_logps"])
    adv = loss_inputs["advantages"]
    clipped = ((ratio < 0.8) & (adv < 0)) | ((ratio > 1.2) & (adv > 0))
    assert clipped.tolist() == [False, True, True, False]
    want = -(~clipped).float()[:, None] * ratio[:, None] * tokens * mask / B
    torch.testing.assert_close(logps.grad, want, rtol=1e-5, atol=1e-8)
    assert logps.grad[0].unique().numel() > 2, "tokens of one completion get different weights"
    # The reported loss is RLOO's on each completion's mean token advantage.
    mean = (tokens * mask).sum(1) / mask.sum(1)
    stock = -torch.min(ratio * mean, ratio.clamp(0.8, 1.2) * mean).mean()
    torch.testing.assert_close(loss.detach(), stock)


# -- the trainer ---------------------------------------------------------------------------------
def test_alpha_zero_is_stock_trl(tiny_s_dir, tiny_processor, dataset, loss_inputs, tmp_path, monkeypatch):
    stock = make_trainer(RLOOTrainer, tiny_s_dir, tiny_processor, dataset, tmp_path)
    ours = make_trainer(DyCoRLOOTrainer, tiny_s_dir, tiny_processor, dataset, tmp_path, dyco=DyCoConfig(alpha=0))
    assert_same(loss_and_grads(ours, loss_inputs), loss_and_grads(stock, loss_inputs))

    # The rollout too: same generation, advantages and old log-probs; nothing captured, nothing added.
    monkeypatch.setattr(dyco_join, "capture_attention", lambda *a, **k: pytest.fail("alpha = 0 must not capture"))
    torch.manual_seed(3)
    want = stock._generate_and_score_completions(rollout_rows(dataset))
    torch.manual_seed(3)
    got = ours._generate_and_score_completions(rollout_rows(dataset))
    assert got.keys() == want.keys() and REWEIGHTED not in got
    for key, value in want.items():
        assert torch.equal(got[key], value) if torch.is_tensor(value) else got[key] == value, key


@pytest.mark.parametrize("variant", ["token", "sequence"])
def test_dyco_loss_is_token_level_loss_on_reweighted_advantages(tiny_s_dir, tiny_processor, dataset, tmp_path, variant):
    cfg = DyCoConfig(alpha=0.5, variant=variant, tau_txt=0.0)
    ours = make_trainer(DyCoRLOOTrainer, tiny_s_dir, tiny_processor, dataset, tmp_path, dyco=cfg)
    ref = make_trainer(DyCoRLOOTrainer, tiny_s_dir, tiny_processor, dataset, tmp_path, dyco=cfg)

    torch.manual_seed(4)
    rollout = ours._generate_and_score_completions(rollout_rows(dataset, 1))
    raw, mask = rollout["advantages"], rollout["completion_mask"]
    assert raw.dim() == 1 and (raw != 0).any(), "RLOO's own advantages stay in the rollout"
    assert {"dyco/visual_frac", "dyco/weight_mean"} <= ours._metrics["eval"].keys()

    # The advantages the loss uses are DyCo's reweighting of this rollout's own signals ...
    P = rollout["prompt_ids"].shape[1]
    model_inputs = {
        "input_ids": torch.cat([rollout["prompt_ids"], rollout["completion_ids"]], 1),
        "attention_mask": torch.cat([rollout["prompt_mask"], mask], 1),
        "pixel_values": rollout["pixel_values"],
        "image_grid_thw": rollout["image_grid_thw"],
        "mm_token_type_ids": rollout["mm_token_type_ids"],
    }
    signals = compute_signals(ref.model, model_inputs, P, cfg)
    assert (signals.role[mask.bool()] != 0).any(), "the check needs non-neutral tokens"
    expected = reweight(raw, signals, mask, cfg)
    # (the sequence variant z-scores over 4 completions, which magnifies last-bit differences)
    torch.testing.assert_close(rollout[REWEIGHTED], expected, rtol=1e-3, atol=1e-4)
    assert not torch.allclose(expected, raw[:, None].expand_as(expected))
    # ... and the loss is the token-level RLOO loss on exactly those advantages.
    got = loss_and_grads(ours, rollout)
    want = loss_and_grads(ref, rollout, lambda m, x: ref.token_level_loss(m, x, rollout[REWEIGHTED]))
    assert_same(got, want)


def test_signal_is_captured_in_the_old_logps_pass_once_per_rollout(
    tiny_s_dir, tiny_processor, dataset, tmp_path, monkeypatch
):
    cfg = DyCoConfig()
    two = {"num_iterations": 2}
    ours = make_trainer(DyCoRLOOTrainer, tiny_s_dir, tiny_processor, dataset, tmp_path, args=two, dyco=cfg)
    stock = make_trainer(RLOOTrainer, tiny_s_dir, tiny_processor, dataset, tmp_path, args=two)
    forwards = {}
    for name, trainer in (("ours", ours), ("stock", stock)):
        trainer.model.train()

        def count(*_, name=name):
            forwards[name] = forwards.get(name, 0) + 1

        trainer.model.register_forward_pre_hook(count)
    captures = []
    real = capture.AttentionCapture._reduce
    monkeypatch.setattr(capture.AttentionCapture, "_reduce", lambda self, p: captures.append(1) or real(self, p))

    rows = rollout_rows(dataset, 2)
    batches = []
    for step in range(2):  # num_iterations = 2: the second step reuses the buffered rollout
        for trainer in (ours, stock):
            trainer._step = step
            torch.manual_seed(5)
            batch = trainer._prepare_inputs(rows)
            if trainer is ours:
                batches.append(batch)
                assert len(captures) == 1, "captured by the first rollout's old-logps pass only"
    assert forwards["ours"] == forwards["stock"], "no extra forward pass"
    assert batches[0] is batches[1] and batches[0][REWEIGHTED].shape == batches[0]["completion_mask"].shape
    frozen = batches[0][REWEIGHTED].clone()
    for batch in batches:
        ours._compute_loss(ours.model, batch).backward()
    assert len(captures) == 1, "the loss forwards never capture"
    assert torch.equal(batches[1][REWEIGHTED], frozen)


# -- configuration and end to end ----------------------------------------------------------------
def test_rloo_algo_config_reaches_rloo_config(tmp_path):
    overrides = ("algo=rloo", "algo.trl.reward_clip_range=[-1,2]", "algo.trl.num_iterations=2", "seed=7")
    plan = plan_run(config(tmp_path, *overrides))
    assert FAMILIES[plan.cfg["algo"]["trainer"]] == (DyCoRLOOTrainer, RLOOConfig)
    args = plan.args
    assert isinstance(args, RLOOConfig)
    assert (args.beta, args.epsilon, args.epsilon_high, args.num_iterations) == (0.05, 0.2, None, 2)
    assert list(args.reward_clip_range) == [-1, 2] and args.normalize_advantages is False
    assert (args.seed, args.num_generations, args.per_device_train_batch_size) == (7, 4, 8)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["baseline", "dyco"])
def test_rloo_trains_and_logs(tmp_path, method):
    final = run(plan_run(config(tmp_path, "algo=rloo", f"method={method}", "train.max_steps=2")))
    assert (final / "config.json").is_file() and (final / "model.safetensors").is_file()
    assert (final / "preprocessor_config.json").is_file() or (final / "processor_config.json").is_file()
    (logged,) = runs(tmp_path)
    assert logged.data.tags["algo"] == "rloo" and logged.data.tags["method"] == method
    assert logged.data.params["algo.trainer"] == "rloo" and logged.data.params["algo.trl.beta"] == "0.05"
    assert logged.data.params["dyco.alpha"] == ("0.0" if method == "baseline" else "0.2")
    history = mlflow.MlflowClient().get_metric_history(logged.info.run_id, "reward")
    assert [m.step for m in history] == [1, 2]
    assert "kl" in logged.data.metrics  # beta > 0: RLOO's KL-in-reward ran
    has_dyco = "dyco/visual_frac" in logged.data.metrics
    assert has_dyco == (method == "dyco")
    if has_dyco:
        metrics = logged.data.metrics
        fracs = metrics["dyco/visual_frac"] + metrics["dyco/textual_frac"] + metrics["dyco/neutral_frac"]
        assert fracs == pytest.approx(1.0, abs=1e-6)
        assert metrics["dyco/weight_min"] - 1e-6 <= metrics["dyco/weight_mean"] <= metrics["dyco/weight_max"] + 1e-6
