"""Advantage reweighting (token and sequence variants, docs/method.md) and DyCoConfig validation."""

from __future__ import annotations

import math
import statistics

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dyco_repro.dyco import (
    DyCoConfig,
    DyCoSignals,
    advantage_factor,
    reweight,
    sapo_length_factor,
    sequence_scores,
    token_weights,
)

FRIENDLY = settings(max_examples=50, deadline=None)


def make_signals(score, role) -> DyCoSignals:
    score = torch.as_tensor(score, dtype=torch.float32)
    role = torch.as_tensor(role, dtype=torch.long)
    zeros = torch.zeros_like(score)
    return DyCoSignals(r_vis=zeros, r_txt=zeros, v_vis=zeros, v_txt=zeros, role=role, score=score)


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


# ---------------------------------------------------------------------------------------------------------------
# token variant
# ---------------------------------------------------------------------------------------------------------------


def test_token_weights_hand_computed():
    score = torch.tensor([[0.0, 0.6, 0.4, 0.9], [0.5, 0.0, 0.0, 0.0], [0.3, 0.3, 0.3, 0.3]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]])
    w = token_weights(score, mask)
    e = [math.exp(0.0), math.exp(0.6), math.exp(0.4)]
    want0 = [3 * x / sum(e) for x in e] + [1.0]
    torch.testing.assert_close(w, torch.tensor([want0, [1.0] * 4, [1.0] * 4]))


def test_token_reweight_hand_computed():
    cfg = DyCoConfig(alpha=0.5, variant="token")
    score = [[0.0, 0.6, 0.4, 0.9], [0.2, 0.2, 0.0, 0.0]]
    role = [[0, 1, -1, 1], [1, 1, 0, 0]]
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    e = [math.exp(0.0), math.exp(0.6), math.exp(0.4)]
    w0 = [3 * x / sum(e) for x in e]
    adv = torch.tensor([2.0, -1.0])
    got = reweight(adv, make_signals(score, role), mask, cfg)
    want = [[2.0 * (1 + 0.5 * w) for w in w0] + [2.0], [-1.0 * 1.5, -1.0 * 1.5, -1.0, -1.0]]
    torch.testing.assert_close(got, torch.tensor(want))
    # [B, C] advantages: per-token values are scaled by the same factors
    adv2 = torch.tensor([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]])
    got2 = reweight(adv2, make_signals(score, role), mask, cfg)
    want2 = [[1.0 * (1 + 0.5 * w0[0]), 2.0 * (1 + 0.5 * w0[1]), 3.0 * (1 + 0.5 * w0[2]), 4.0], [7.5, 9.0, 7.0, 8.0]]
    torch.testing.assert_close(got2, torch.tensor(want2))


# ---------------------------------------------------------------------------------------------------------------
# sequence variant
# ---------------------------------------------------------------------------------------------------------------

SEQ_SCORE = [[0.0, 0.6, 0.4], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.9, 0.7, 0.0]]
SEQ_ROLE = [[0, 1, -1], [0, 0, 0], [0, 0, 0], [1, 1, 0]]
SEQ_MASK = torch.tensor([[1, 1, 1], [1, 1, 0], [0, 0, 0], [1, 1, 0]])


def expected_sequence_scores():
    raw = {0: sigmoid(0.5), 1: 0.5, 3: sigmoid(0.8)}  # completion 2 has no tokens: not in the statistics
    mean, std = statistics.mean(raw.values()), statistics.stdev(raw.values())  # stdev is the unbiased one
    z = {b: (r - mean) / std for b, r in raw.items()}
    return [math.tanh(z[0]), math.tanh(z[1]), 0.0, math.tanh(z[3])]


def test_sequence_scores_hand_computed():
    got = sequence_scores(make_signals(SEQ_SCORE, SEQ_ROLE), SEQ_MASK, DyCoConfig(variant="sequence"))
    want = expected_sequence_scores()
    assert got.shape == (4,)
    torch.testing.assert_close(got, torch.tensor(want, dtype=got.dtype))
    assert got[1] < 0  # no non-neutral token: its 0.5 is z-scored with the others (released), below their mean
    assert got[0] != 0 and got[3] != 0 and got[2] == 0


def test_sequence_scores_ignore_neutral_and_invalid_tokens():
    score = [row[:] for row in SEQ_SCORE]
    score[0][0] = 0.77  # a neutral token's score
    score[3][2] = 0.55  # an invalid token's score
    role = [row[:] for row in SEQ_ROLE]
    role[3][2] = 1  # an invalid token's role
    got = sequence_scores(make_signals(score, role), SEQ_MASK, DyCoConfig(variant="sequence"))
    torch.testing.assert_close(got, torch.tensor(expected_sequence_scores(), dtype=got.dtype))


def test_sequence_scores_min_completion_tokens():
    cfg = DyCoConfig(variant="sequence", min_completion_tokens=3)
    got = sequence_scores(make_signals(SEQ_SCORE, SEQ_ROLE), SEQ_MASK, cfg)
    want = expected_sequence_scores()
    # completions 1 and 3 have 2 < 3 valid tokens: -1; completion 2 (no token) keeps 0; completion 0 (3 tokens) keeps S
    torch.testing.assert_close(got, torch.tensor([want[0], -1.0, 0.0, -1.0], dtype=got.dtype))


def test_sequence_scores_degenerate_batches_give_zero():
    cfg = DyCoConfig(variant="sequence")
    # one completion with tokens: no spread to z-score against
    got = sequence_scores(
        make_signals([[0.9, 0.2], [0.0, 0.0]], [[1, -1], [0, 0]]), torch.tensor([[1, 1], [0, 0]]), cfg
    )
    assert got.tolist() == [0.0, 0.0]
    # equal raw scores: std 0
    got = sequence_scores(make_signals([[0.0, 0.4], [0.0, 0.4]], [[0, 1], [0, 1]]), torch.ones(2, 2), cfg)
    assert got.tolist() == [0.0, 0.0]
    # nothing valid at all
    got = sequence_scores(make_signals(torch.zeros(3, 2), torch.zeros(3, 2)), torch.zeros(3, 2), cfg)
    assert got.tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("adv_shape", ["B", "BC"])
def test_sequence_reweight_factor_and_clamp(adv_shape):
    signals = make_signals(SEQ_SCORE, SEQ_ROLE)
    S = expected_sequence_scores()
    adv = torch.tensor([1.0, -2.0, 3.0, 0.5]) if adv_shape == "B" else torch.arange(12.0).reshape(4, 3) - 5
    full = adv[:, None].expand(4, 3) if adv_shape == "B" else adv
    for alpha, clamp in ((0.1, 0.2), (0.5, 0.2), (3.0, 0.35)):
        cfg = DyCoConfig(variant="sequence", alpha=alpha, clamp=clamp)
        got = reweight(adv, signals, SEQ_MASK, cfg)
        factors = [min(max(1 + alpha * s, 1 - clamp), 1 + clamp) for s in S]
        want = full.clone()
        for b in range(4):
            want[b] = torch.where(SEQ_MASK[b].bool(), full[b] * factors[b], full[b])
        torch.testing.assert_close(got, want)
    # with a large alpha the factors sit at the clamp bounds
    got = reweight(torch.ones(4), signals, SEQ_MASK, DyCoConfig(variant="sequence", alpha=100.0, clamp=0.2))
    want = [1.0 + 0.2 * ((s > 0) - (s < 0)) for s in S]  # S = [+, -, 0 (no tokens), +] here
    assert want == [1.2, 0.8, 1.0, 1.2]
    torch.testing.assert_close(got, torch.where(SEQ_MASK.bool(), torch.tensor(want)[:, None], 1.0))
    # negative S: the lower bound
    flipped = make_signals(SEQ_SCORE, SEQ_ROLE)
    flipped.score[3] = torch.tensor([-5.0, -5.0, 0.0])  # drives completion 3 below the mean
    got = reweight(torch.ones(4), flipped, SEQ_MASK, DyCoConfig(variant="sequence", alpha=100.0, clamp=0.2))
    torch.testing.assert_close(got[3], torch.tensor([0.8, 0.8, 1.0]))


# ---------------------------------------------------------------------------------------------------------------
# properties (hypothesis)
# ---------------------------------------------------------------------------------------------------------------


@st.composite
def signal_batches(draw, max_b=4, max_c=5, min_c=0):
    B = draw(st.integers(1, max_b))
    C = draw(st.integers(min_c, max_c))
    mask = torch.tensor(draw(st.lists(st.lists(st.booleans(), min_size=C, max_size=C), min_size=B, max_size=B)))
    mask = mask.reshape(B, C).long()
    role = torch.tensor(draw(st.lists(st.sampled_from([-1, 0, 1]), min_size=B * C, max_size=B * C))).reshape(B, C)
    ratio = torch.tensor(draw(st.lists(st.floats(0, 1), min_size=B * C, max_size=B * C))).reshape(B, C)
    score = torch.where(role != 0, ratio, 0.0).float()
    role = torch.where(mask.bool(), role, 0)
    score = torch.where(mask.bool(), score, 0.0)
    return make_signals(score, role), mask


def cfgs(alpha=None):
    return st.builds(
        DyCoConfig,
        alpha=st.sampled_from([0.0, 0.2, 1.0, 10.0]) if alpha is None else alpha,
        variant=st.sampled_from(["token", "sequence"]),
        clamp=st.sampled_from([0.0, 0.2, 0.5]),
        min_completion_tokens=st.sampled_from([0, 2]),
    )


@FRIENDLY
@given(
    data=st.data(),
    B=st.integers(1, 4),
    C=st.integers(1, 6),
    scale=st.sampled_from([1.0, 10.0, 80.0]),
)
def test_property_token_weights_mean_one(data, B, C, scale):
    score = torch.tensor(data.draw(st.lists(st.floats(-1, 1), min_size=B * C, max_size=B * C))).reshape(B, C) * scale
    mask = torch.tensor(data.draw(st.lists(st.booleans(), min_size=B * C, max_size=B * C))).reshape(B, C)
    w = token_weights(score, mask.long())
    assert w.shape == (B, C)
    assert torch.all(torch.isfinite(w))
    assert torch.all(w[~mask] == 1)
    assert torch.all(w >= 0)
    for b in range(B):
        if mask[b].any():
            torch.testing.assert_close(w[b, mask[b]].double().mean(), torch.tensor(1.0, dtype=torch.float64))
        # equal scores give equal weights 1
    flat = token_weights(torch.full((B, C), 0.37), mask.long())
    torch.testing.assert_close(flat, torch.ones(B, C))


@FRIENDLY
@given(batch=signal_batches(), cfg=cfgs(alpha=st.just(0.0)), adv_1d=st.booleans(), seed=st.integers(0, 1000))
def test_property_alpha_zero_is_identity(batch, cfg, adv_1d, seed):
    signals, mask = batch
    B, C = mask.shape
    gen = torch.Generator().manual_seed(seed)
    adv = torch.randn(B, generator=gen) if adv_1d else torch.randn(B, C, generator=gen)
    got = reweight(adv, signals, mask, cfg)
    full = adv[:, None].expand(B, C) if adv_1d else adv
    assert got.shape == (B, C)
    assert got.dtype == adv.dtype
    assert torch.equal(got, full)


@pytest.mark.parametrize("variant", ["token", "sequence"])
@pytest.mark.parametrize("adv_shape", ["B", "BC"])
def test_alpha_zero_is_identity_with_strong_signals(variant, adv_shape):
    signals = make_signals(SEQ_SCORE, SEQ_ROLE)
    adv = torch.tensor([1.0, -2.0, 3.0, 0.5]) if adv_shape == "B" else torch.randn(4, 3)
    full = adv[:, None].expand(4, 3) if adv_shape == "B" else adv
    assert torch.equal(reweight(adv, signals, SEQ_MASK, DyCoConfig(variant=variant, alpha=0.0)), full)
    assert not torch.equal(reweight(adv, signals, SEQ_MASK, DyCoConfig(variant=variant, alpha=0.2)), full)


@FRIENDLY
@given(batch=signal_batches(), cfg=cfgs(), adv_1d=st.booleans(), seed=st.integers(0, 1000))
def test_property_reweight_finite_bounded_and_padding_unchanged(batch, cfg, adv_1d, seed):
    signals, mask = batch
    B, C = mask.shape
    gen = torch.Generator().manual_seed(seed)
    adv = torch.randn(B, generator=gen) if adv_1d else torch.randn(B, C, generator=gen)
    full = adv[:, None].expand(B, C) if adv_1d else adv
    got = reweight(adv, signals, mask, cfg)
    assert got.shape == (B, C)
    assert torch.all(torch.isfinite(got))
    valid = mask.bool()
    assert torch.equal(got[~valid], full[~valid])
    nonzero = full.abs() > 1e-6
    factor = got[valid & nonzero] / full[valid & nonzero]
    if cfg.variant == "token":
        n_max = max(1, int(valid.sum(1).max()) if C else 1)
        assert torch.all(factor >= 1 - 1e-5) and torch.all(factor <= 1 + cfg.alpha * n_max + 1e-4)
    else:
        assert torch.all(factor >= 1 - cfg.clamp - 1e-5) and torch.all(factor <= 1 + cfg.clamp + 1e-5)


@FRIENDLY
@given(batch=signal_batches(min_c=1), cfg=cfgs(), seed=st.integers(0, 1000))
def test_property_padding_never_changes_valid_weights(batch, cfg, seed):
    # anything at invalid positions (scores, roles) leaves every valid token's weight and advantage as it was
    signals, mask = batch
    B, C = mask.shape
    valid = mask.bool()
    gen = torch.Generator().manual_seed(seed)
    noisy = make_signals(
        torch.where(valid, signals.score, 50 * torch.randn(B, C, generator=gen)),
        torch.where(valid, signals.role, torch.randint(-1, 2, (B, C), generator=gen)),
    )
    w1, w2 = token_weights(signals.score, mask), token_weights(noisy.score, mask)
    assert torch.equal(w1[valid], w2[valid])
    assert torch.equal(w1, w2)  # and invalid weights stay 1
    adv = torch.randn(B, C, generator=gen)
    assert torch.equal(reweight(adv, signals, mask, cfg), reweight(adv, noisy, mask, cfg))


# ---------------------------------------------------------------------------------------------------------------
# DyCoConfig
# ---------------------------------------------------------------------------------------------------------------


def test_config_defaults_match_design():
    cfg = DyCoConfig()
    assert cfg.alpha == 0.2
    assert cfg.tau_vis == 0.0
    assert cfg.tau_txt == 0.05
    assert cfg.layers == (-1,)
    assert cfg.variant == "sequence"
    assert cfg.text_scope == "after_image"
    assert cfg.clamp == 0.2
    assert cfg.min_completion_tokens == 0  # per model in conf/model/*.yaml (60 / 150), not a library default
    assert cfg.sapo_length_tokens == 60
    assert cfg.token_mean_one is False


@pytest.mark.parametrize(
    "kwargs",
    [
        {"variant": "tokens"},
        {"variant": ""},
        {"text_scope": "before_image"},
        {"text_scope": "ALL"},
        {"layers": []},
        {"layers": ()},
        {"alpha": -0.1},
        {"alpha": -1e-9},
        {"sapo_length_tokens": -1},
    ],
)
def test_config_rejects_bad_values(kwargs):
    with pytest.raises(ValueError):
        DyCoConfig(**kwargs)


def test_config_layers_list_becomes_tuple():
    cfg = DyCoConfig(layers=[-1, 3, -4])
    assert cfg.layers == (-1, 3, -4)
    assert isinstance(cfg.layers, tuple)
    assert DyCoConfig(alpha=0.0).alpha == 0.0  # alpha = 0 (baseline) is valid
    assert DyCoConfig(variant="sequence", text_scope="all").variant == "sequence"


# ---------------------------------------------------------------------------------------------------------------
# prompt groups, the released rules and token_mean_one, against an independent float64 reference
# ---------------------------------------------------------------------------------------------------------------


def ref_factors(score, role, mask, cfg, groups=None, sapo_tokens=0):
    """Per-token factors `[B][C]` in float64, written from docs/method.md with plain Python."""
    B, C = len(mask), len(mask[0]) if mask else 0
    groups = [0] * B if groups is None else list(groups)
    n_valid = [sum(1 for t in range(C) if mask[b][t]) for b in range(B)]
    out = [[1.0] * C for _ in range(B)]
    if cfg.variant == "token":
        for b in range(B):
            valid = [t for t in range(C) if mask[b][t]]
            denom = sum(math.exp(score[b][t]) for t in valid)
            for t in valid:
                w = len(valid) * math.exp(score[b][t]) / denom
                out[b][t] = 1 + cfg.alpha * ((w - 1) if cfg.token_mean_one else w)
    else:
        raw = []
        for b in range(B):
            active = [score[b][t] for t in range(C) if mask[b][t] and role[b][t] != 0]
            raw.append(sigmoid(sum(active) / len(active)) if active else 0.5)
        seq = [0.0] * B
        for g in set(groups):
            members = [b for b in range(B) if groups[b] == g and n_valid[b] > 0]
            if len(members) < 2:
                continue
            std = statistics.stdev([raw[b] for b in members])
            if std > 1e-8:
                mean = statistics.fmean([raw[b] for b in members])
                for b in members:
                    seq[b] = math.tanh((raw[b] - mean) / std)
        for b in range(B):
            if cfg.min_completion_tokens and 0 < n_valid[b] < cfg.min_completion_tokens:
                seq[b] = -1.0
            f = min(max(1 + cfg.alpha * seq[b], 1 - cfg.clamp), 1 + cfg.clamp)
            for t in range(C):
                if mask[b][t]:
                    out[b][t] = f
    if sapo_tokens:
        for b in range(B):
            for t in range(C):
                if mask[b][t]:
                    out[b][t] *= min(n_valid[b] / sapo_tokens, 1.0)
    return torch.tensor(out, dtype=torch.float64)


def grouped_case():
    """Four prompt groups: of three, of one, of three all-equal, of three holding an all-neutral completion."""
    score = [
        [0.9, 0.1, 0.0, 0.0], [0.3, 0.2, 0.7, 0.0], [0.0, 0.5, 0.5, 0.5],  # group 7
        [0.6, 0.6, 0.0, 0.0],                                              # group 3: alone
        [0.4, 0.0, 0.0, 0.0], [0.4, 0.0, 0.0, 0.0], [0.4, 0.0, 0.0, 0.0],  # group 5: equal scores
        [0.8, 0.8, 0.8, 0.8], [0.0, 0.0, 0.0, 0.0], [0.2, 0.1, 0.0, 0.0],  # group 9: row 8 all neutral
    ]  # fmt: skip
    role = [[1 if x else 0 for x in row] for row in score]
    lengths = [2, 3, 4, 2, 1, 1, 1, 4, 3, 2]
    mask = [[1 if t < n else 0 for t in range(4)] for n in lengths]
    groups = [7, 7, 7, 3, 5, 5, 5, 9, 9, 9]
    return score, role, mask, groups


@pytest.mark.parametrize(
    "cfg",
    [
        DyCoConfig(),
        DyCoConfig(alpha=0.5, clamp=0.35),
        DyCoConfig(min_completion_tokens=3),
        DyCoConfig(variant="token"),
        DyCoConfig(variant="token", token_mean_one=True, alpha=0.7),
    ],
    ids=["sequence", "sequence-custom", "short-rule", "token", "token-mean-one"],
)
def test_grouped_reweight_matches_float64_reference(cfg):
    score, role, mask, groups = grouped_case()
    signals, mask_t = make_signals(score, role), torch.tensor(mask)
    adv = torch.linspace(-2.0, 2.5, len(mask))
    got = reweight(adv, signals, mask_t, cfg, groups=torch.tensor(groups))
    want = ref_factors(score, role, mask, cfg, groups) * adv.double()[:, None]
    torch.testing.assert_close(got.double(), want, rtol=1e-6, atol=1e-6)


def test_groups_decide_the_z_score():
    score, role, mask, groups = grouped_case()
    signals, mask_t, cfg = make_signals(score, role), torch.tensor(mask), DyCoConfig()
    seq = sequence_scores(signals, mask_t, cfg, torch.tensor(groups))
    assert seq[3] == 0, "a group of one has no spread"
    assert torch.all(seq[4:7] == 0), "a group of equal scores has no spread"
    raw = [sigmoid(0.8), 0.5, sigmoid(0.15)]  # group 9: the all-neutral completion enters as 0.5
    mean, std = statistics.fmean(raw), statistics.stdev(raw)
    torch.testing.assert_close(
        seq[7:].double(), torch.tensor([math.tanh((r - mean) / std) for r in raw]).double(), rtol=1e-6, atol=1e-6
    )
    assert seq[8] < 0
    # the same rows as one group z-score against each other: different scores
    assert not torch.allclose(seq, sequence_scores(signals, mask_t, cfg))
    # group ids are labels: renaming them changes nothing
    renamed = torch.tensor([{7: 0, 3: 100, 5: -4, 9: 2}[g] for g in groups])
    assert torch.equal(seq, sequence_scores(signals, mask_t, cfg, renamed))


def test_text_only_completions_are_neutral_and_score_one_half():
    # a text-only prompt's completion has only neutral tokens: raw 0.5, which still takes part in its group
    score = [[0.0, 0.0, 0.0], [0.9, 0.9, 0.0], [0.1, 0.0, 0.0]]
    role = [[0, 0, 0], [1, 1, 0], [-1, 0, 0]]
    mask = torch.tensor([[1, 1, 1], [1, 1, 0], [1, 0, 0]])
    got = sequence_scores(make_signals(score, role), mask, DyCoConfig())
    want = ref_factors(score, role, mask.tolist(), DyCoConfig(alpha=1.0, clamp=1.0))[:, 0] - 1  # = S
    torch.testing.assert_close(got.double(), want, rtol=1e-6, atol=1e-6)


def test_sapo_length_factor_matches_reference():
    score, role, mask, groups = grouped_case()
    mask_t = torch.tensor(mask)
    lengths = mask_t.sum(1).double()
    torch.testing.assert_close(sapo_length_factor(mask_t, 3).double(), (lengths / 3).clamp(max=1))
    assert torch.equal(sapo_length_factor(mask_t, 0), torch.ones(len(mask)))
    assert torch.equal(sapo_length_factor(mask_t, 60), mask_t.sum(1) / 60.0)  # the released 60: all short here
    cfg = DyCoConfig()
    factor = advantage_factor(make_signals(score, role), mask_t, cfg, torch.tensor(groups))
    with_length = torch.where(mask_t.bool(), factor * sapo_length_factor(mask_t, 3)[:, None], 1.0)
    torch.testing.assert_close(with_length.double(), ref_factors(score, role, mask, cfg, groups, sapo_tokens=3))


@FRIENDLY
@given(batch=signal_batches(max_b=6), cfg=cfgs(), data=st.data())
def test_property_grouped_factors_match_reference(batch, cfg, data):
    signals, mask = batch
    B = mask.shape[0]
    groups = data.draw(st.lists(st.integers(0, 2), min_size=B, max_size=B))
    got = advantage_factor(signals, mask, cfg, torch.tensor(groups))
    want = ref_factors(signals.score.double().tolist(), signals.role.tolist(), mask.tolist(), cfg, groups)
    torch.testing.assert_close(got.double(), want.reshape(got.shape), rtol=1e-5, atol=1e-5)


def test_token_mean_one_has_mean_factor_one():
    score, role, mask, _ = grouped_case()
    cfg = DyCoConfig(variant="token", token_mean_one=True, alpha=0.2)
    factor = advantage_factor(make_signals(score, role), torch.tensor(mask), cfg)
    for b, row in enumerate(mask):
        valid = torch.tensor(row).bool()
        torch.testing.assert_close(factor[b, valid].double().mean(), torch.tensor(1.0, dtype=torch.float64))
    plain = advantage_factor(make_signals(score, role), torch.tensor(mask), DyCoConfig(variant="token", alpha=0.2))
    torch.testing.assert_close(plain - factor, torch.where(torch.tensor(mask).bool(), 0.2, 0.0))
