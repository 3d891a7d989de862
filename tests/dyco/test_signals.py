"""DyCo signals (Eq. 6-9) and both reweighting variants against an independent float64 reference.

The reference below uses plain Python loops over batch and tokens and none of the package's helpers
(not even `fisher_rao`), following docs/method.md and the project's decisions on degenerate cases.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dyco_repro.dyco import DyCoConfig, key_masks, reweight, signals_from_attention

SIGNAL_FIELDS = ("r_vis", "r_txt", "v_vis", "v_txt", "role", "score")
ROLE_MARGIN = 1e-4  # float32 vs float64: roles are compared only when no token is this close to a threshold


# ---------------------------------------------------------------------------------------------------------------
# The independent reference
# ---------------------------------------------------------------------------------------------------------------


def ref_fisher_rao(p: list[float], q: list[float]) -> float:
    sp, sq = sum(p), sum(q)
    bc = sum(math.sqrt((a / sp) * (b / sq)) for a, b in zip(p, q, strict=True))
    distance = 2.0 * math.acos(min(max(bc, 0.0), 1.0))
    if distance < 1e-6:
        # arccos cannot resolve bc within 1e-16 of 1 (it returns exactly 0 for distinct
        # distributions); the identical chord form 4·asin(||sqrt p - sqrt q|| / 2) can.
        chord = math.sqrt(sum((math.sqrt(a / sp) - math.sqrt(b / sq)) ** 2 for a, b in zip(p, q, strict=True)))
        distance = 4.0 * math.asin(chord / 2)
    return distance


def ref_shift(prev: list[float], now: list[float], support: list[int], masses: list[float]) -> float:
    """d_FR of the two rows restricted to `support` and renormalised; 0 if either side has no mass there."""
    p = [prev[k] for k in support]
    q = [now[k] for k in support]
    if not support or sum(p) <= 0 or sum(q) <= 0:
        return 0.0
    masses += [sum(p), sum(q)]
    return ref_fisher_rao(p, q)


@dataclass
class Reference:
    r_vis: torch.Tensor
    r_txt: torch.Tensor
    v_vis: torch.Tensor
    v_txt: torch.Tensor
    role: torch.Tensor
    score: torch.Tensor
    advantages: torch.Tensor | None
    margin: float  # smallest distance of an eligible token's (v_vis - v_txt) to a role threshold
    min_mass: float  # smallest non-zero mass the reference renormalised by


def reference(attn, image_mask, text_mask, completion_mask, prompt_length, cfg, advantages=None) -> Reference:
    attn = attn.detach().double().tolist()
    image_mask = image_mask.bool().tolist()
    text_mask = text_mask.bool().tolist()
    completion_mask = completion_mask.bool().tolist()
    B, C, P = len(attn), len(completion_mask[0]), prompt_length
    K = P + C
    out = {name: [[0.0] * C for _ in range(B)] for name in SIGNAL_FIELDS}
    margin = math.inf
    masses = []
    for b in range(B):
        has_image = any(image_mask[b])
        for t in range(1, C + 1):  # 1-based token index; row t sees keys up to P+t-1
            i = t - 1
            if not completion_mask[b][i]:
                continue
            row = attn[b][i]
            q_pos = P + t - 1
            img = [k for k in range(K) if image_mask[b][k] and k <= q_pos]
            txt = [k for k in range(K) if text_mask[b][k] and k <= q_pos]
            vis_mass = sum(row[k] for k in img)
            txt_mass = sum(row[k] for k in txt)
            total = vis_mass + txt_mass
            if total > 0:
                masses.append(total)
                out["r_vis"][b][i] = vis_mass / total
                out["r_txt"][b][i] = 1.0 - vis_mass / total
            if t >= 2:
                prev = attn[b][i - 1]
                # T_{t-1}: the visible text keys row t-1 attended to (keys new to row t never count)
                common_txt = [k for k in range(K) if text_mask[b][k] and k <= q_pos - 1 and prev[k] > 0]
                out["v_vis"][b][i] = ref_shift(prev, row, img, masses)
                out["v_txt"][b][i] = ref_shift(prev, row, common_txt, masses)
            if t == 1 or total <= 0 or not has_image:
                continue  # forced neutral
            d = out["v_vis"][b][i] - out["v_txt"][b][i]
            if out["v_vis"][b][i] or out["v_txt"][b][i]:  # both exactly 0 (no shift by rule) is an exact tie
                margin = min(margin, abs(d - cfg.tau_vis), abs(-d - cfg.tau_txt))
            if d > cfg.tau_vis:
                out["role"][b][i] = 1
                out["score"][b][i] = out["r_vis"][b][i]
            elif -d > cfg.tau_txt:
                out["role"][b][i] = -1
                out["score"][b][i] = out["r_txt"][b][i]
    adv = None
    if advantages is not None:
        adv = ref_reweight(advantages, out["score"], out["role"], completion_mask, cfg)
    tensors = {k: torch.tensor(v, dtype=torch.float64) for k, v in out.items()}
    tensors["role"] = tensors["role"].long()
    return Reference(**tensors, advantages=adv, margin=margin, min_mass=min(masses, default=math.inf))


def ref_sequence_scores(score, role, completion_mask, cfg) -> list[float]:
    B, C = len(score), len(completion_mask[0])
    n_valid = [sum(bool(m) for m in completion_mask[b]) for b in range(B)]
    raw, n_active = [], []
    for b in range(B):
        active = [score[b][t] for t in range(C) if completion_mask[b][t] and role[b][t] != 0]
        n_active.append(len(active))
        raw.append(1.0 / (1.0 + math.exp(-sum(active) / len(active))) if active else 0.5)
    present = [b for b in range(B) if n_valid[b] > 0]
    z = [0.0] * B
    if len(present) >= 2:
        mean = sum(raw[b] for b in present) / len(present)
        std = math.sqrt(sum((raw[b] - mean) ** 2 for b in present) / (len(present) - 1))
        if std > 1e-8:
            z = [(raw[b] - mean) / std for b in range(B)]
    seq = []
    for b in range(B):
        s = math.tanh(z[b]) if n_valid[b] > 0 else 0.0  # an all-neutral completion's 0.5 is z-scored too
        if cfg.min_completion_tokens > 0 and 0 < n_valid[b] < cfg.min_completion_tokens:
            s = -1.0
        seq.append(s)
    return seq


def ref_reweight(advantages, score, role, completion_mask, cfg) -> torch.Tensor:
    adv = advantages.detach().double().tolist()
    B, C = len(completion_mask), len(completion_mask[0])
    per_token = [[a] * C for a in adv] if advantages.dim() == 1 else adv
    out = [list(r) for r in per_token]
    if cfg.alpha == 0:
        return torch.tensor(out, dtype=torch.float64)
    if cfg.variant == "token":
        for b in range(B):
            valid = [t for t in range(C) if completion_mask[b][t]]
            if not valid:
                continue
            denom = sum(math.exp(score[b][t]) for t in valid)
            for t in valid:
                w = len(valid) * math.exp(score[b][t]) / denom
                out[b][t] = (1.0 + cfg.alpha * w) * per_token[b][t]
    else:
        seq = ref_sequence_scores(score, role, completion_mask, cfg)
        for b in range(B):
            factor = min(max(1.0 + cfg.alpha * seq[b], 1.0 - cfg.clamp), 1.0 + cfg.clamp)
            for t in range(C):
                if completion_mask[b][t]:
                    out[b][t] = factor * per_token[b][t]
    return torch.tensor(out, dtype=torch.float64)


# ---------------------------------------------------------------------------------------------------------------
# Inputs: prompts as lists of key kinds, rows as proper causal distributions
# ---------------------------------------------------------------------------------------------------------------

PAD, SYS, IMG, TXT = "pad", "sys", "img", "txt"  # SYS: text before the image (system prompt, <|vision_start|>)


def prompt(n_pad: int = 0, n_sys: int = 2, n_img: int = 4, n_txt: int = 3) -> list[str]:
    return [PAD] * n_pad + [SYS] * n_sys + [IMG] * n_img + [TXT] * n_txt


def make_batch(prompts, lengths, C, seed=0, scope="after_image", temperature=None, dtype=torch.float32):
    """Returns attn [B,C,K], image_mask, text_mask, completion_mask [B,C], P.

    Prompts are left padded (PAD kinds) to the longest one, P. Completion keys beyond a completion's
    length are padding keys; row t only sees non-pad keys 0..P+t-1.
    """
    gen = torch.Generator().manual_seed(seed)
    P = max(len(p) for p in prompts)
    prompts = [[PAD] * (P - len(p)) + list(p) for p in prompts]
    B, K = len(prompts), P + C
    key_valid = torch.zeros(B, K, dtype=torch.bool)
    image_mask = torch.zeros(B, K, dtype=torch.bool)
    text_mask = torch.zeros(B, K, dtype=torch.bool)
    completion_mask = torch.zeros(B, C, dtype=torch.long)
    for b, (kinds, n) in enumerate(zip(prompts, lengths, strict=True)):
        has_img = IMG in kinds
        for k, kind in enumerate(kinds):
            key_valid[b, k] = kind != PAD
            image_mask[b, k] = kind == IMG
            in_scope = kind == TXT or (kind == SYS and (scope == "all" or not has_img))
            text_mask[b, k] = in_scope
        key_valid[b, P : P + n] = True
        text_mask[b, P : P + n] = True
        completion_mask[b, :n] = 1
    attn = torch.zeros(B, C, K, dtype=torch.float64)
    keys = torch.arange(K)
    for b in range(B):
        temp = temperature if temperature is not None else [0.5, 1.5, 3.0, 6.0][b % 4]
        for i in range(C):
            allowed = key_valid[b] & (keys <= P + i)
            if not allowed.any():
                continue
            logits = temp * torch.randn(K, generator=gen, dtype=torch.float64)
            attn[b, i] = torch.softmax(logits.masked_fill(~allowed, -math.inf), dim=0)
    return attn.to(dtype), image_mask, text_mask, completion_mask, P


def advantages_for(B, C, shape, seed=1):
    gen = torch.Generator().manual_seed(seed)
    if shape == "B":
        return torch.randn(B, generator=gen)
    return torch.randn(B, C, generator=gen)


def check_rows_are_causal_distributions(attn, image_mask, text_mask, P):
    B, C, K = attn.shape
    keys = torch.arange(K)
    for i in range(C):
        assert torch.all(attn[:, i, keys > P + i] == 0)
    torch.testing.assert_close(attn.double().sum(-1), torch.ones(B, C, dtype=torch.float64))
    assert not torch.any(image_mask & text_mask)


def assert_matches(sig, ref: Reference, completion_mask, adv=None, atol=1e-5, check_roles=True):
    assert ref.margin > ROLE_MARGIN, "fixture has a token too close to a role threshold; pick another seed"
    for name in ("r_vis", "r_txt", "v_vis", "v_txt", "score"):
        got = getattr(sig, name)
        assert got.shape == completion_mask.shape, name
        assert torch.all(torch.isfinite(got)), name
        torch.testing.assert_close(got.double(), getattr(ref, name), rtol=0, atol=atol, msg=name)
    if check_roles:
        assert torch.equal(sig.role.long(), ref.role), (sig.role, ref.role)
    if adv is not None:
        assert torch.all(torch.isfinite(adv))
        torch.testing.assert_close(adv.double(), ref.advantages, rtol=1e-4, atol=max(atol, 1e-4))


CFGS = {
    "default-token": DyCoConfig(variant="token"),
    "default-sequence": DyCoConfig(),
    "custom-token": DyCoConfig(variant="token", alpha=0.7, tau_vis=0.03, tau_txt=0.1),
    "custom-sequence": DyCoConfig(variant="sequence", alpha=0.5, tau_vis=-0.02, tau_txt=0.2, clamp=0.35),
}


def run_case(batch, cfg, adv_shape="B", atol=1e-5, adv_seed=1):
    attn, image_mask, text_mask, completion_mask, P = batch
    B, C = completion_mask.shape
    advantages = advantages_for(B, C, adv_shape, seed=adv_seed)
    sig = signals_from_attention(attn, image_mask, text_mask, completion_mask, P, cfg)
    got_adv = reweight(advantages, sig, completion_mask, cfg)
    ref = reference(attn, image_mask, text_mask, completion_mask, P, cfg, advantages)
    assert_matches(sig, ref, completion_mask, got_adv, atol=atol)
    return sig, ref, got_adv


# ---------------------------------------------------------------------------------------------------------------
# A hand-computed example (no reference code involved)
# ---------------------------------------------------------------------------------------------------------------


def test_hand_computed_example():
    # prompt: [img, img, question]; completion of 3 tokens; K = 6. Row t is the query at P+t-1 = t+2.
    P = 3
    image_mask = torch.tensor([[1, 1, 0, 0, 0, 0]], dtype=torch.bool)
    text_mask = torch.tensor([[0, 0, 1, 1, 1, 1]], dtype=torch.bool)
    attn = torch.tensor(
        [
            [
                [0.25, 0.25, 0.40, 0.10, 0.00, 0.0],  # token 1 (sees 0..3): neutral, no predecessor
                [0.60, 0.00, 0.24, 0.06, 0.10, 0.0],  # token 2: p_vis [.5,.5] -> [1,0]; text on T_1={2,3} unchanged
                [0.60, 0.00, 0.05, 0.15, 0.10, 0.1],  # token 3: p_vis unchanged; text on T_2={2,3,4} moves
            ]
        ]
    )
    completion_mask = torch.ones(1, 3)
    sig = signals_from_attention(attn, image_mask, text_mask, completion_mask, P, DyCoConfig())
    torch.testing.assert_close(sig.r_vis, torch.tensor([[0.5, 0.6, 0.6]]))
    torch.testing.assert_close(sig.r_txt, torch.tensor([[0.5, 0.4, 0.4]]))
    torch.testing.assert_close(sig.v_vis, torch.tensor([[0.0, math.pi / 2, 0.0]]))
    p, q = [0.24 / 0.4, 0.06 / 0.4, 0.10 / 0.4], [0.05 / 0.3, 0.15 / 0.3, 0.10 / 0.3]
    v3 = 2 * math.acos(sum(math.sqrt(a * b) for a, b in zip(p, q, strict=True)))
    assert 0.9 < v3 < 1.1
    torch.testing.assert_close(sig.v_txt, torch.tensor([[0.0, 0.0, v3]]))
    assert sig.role.tolist() == [[0, 1, -1]]
    torch.testing.assert_close(sig.score, torch.tensor([[0.0, 0.6, 0.4]]))

    cfg = DyCoConfig(alpha=0.2, variant="token")
    e = [math.exp(0.0), math.exp(0.6), math.exp(0.4)]
    w = [3 * x / sum(e) for x in e]
    got = reweight(torch.tensor([2.0]), sig, completion_mask, cfg)
    torch.testing.assert_close(got, torch.tensor([[2.0 * (1 + 0.2 * x) for x in w]]))

    # the reference agrees with the hand computation
    ref = reference(attn, image_mask, text_mask, completion_mask, P, cfg)
    torch.testing.assert_close(ref.v_txt, torch.tensor([[0.0, 0.0, v3]], dtype=torch.float64))
    assert ref.role.tolist() == [[0, 1, -1]]


# ---------------------------------------------------------------------------------------------------------------
# Against the reference
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("adv_shape", ["B", "BC"])
@pytest.mark.parametrize("cfg_name", list(CFGS))
def test_random_rows_match_reference(cfg_name, adv_shape):
    batch = make_batch([prompt()] * 4, [8, 8, 8, 8], C=8, seed=11)
    check_rows_are_causal_distributions(batch[0], batch[1], batch[2], batch[4])
    sig, ref, _ = run_case(batch, CFGS[cfg_name], adv_shape)
    # the fixture exercises every role (otherwise this test would prove little)
    roles = set(ref.role[:, 1:].flatten().tolist())
    assert roles == {-1, 0, 1}, roles


@pytest.mark.parametrize("adv_shape", ["B", "BC"])
@pytest.mark.parametrize("cfg_name", list(CFGS))
def test_ragged_completions_match_reference(cfg_name, adv_shape):
    batch = make_batch([prompt()] * 5, [7, 4, 1, 0, 2], C=7, seed=12)
    sig, ref, adv = run_case(batch, CFGS[cfg_name], adv_shape)
    completion_mask = batch[3].bool()
    for name in SIGNAL_FIELDS:
        assert torch.all(getattr(sig, name)[~completion_mask] == 0), name
    advantages = advantages_for(5, 7, adv_shape)
    full = advantages[:, None].expand(5, 7) if adv_shape == "B" else advantages
    assert torch.equal(adv[~completion_mask], full[~completion_mask])  # padding passes through unchanged


@pytest.mark.parametrize("cfg_name", list(CFGS))
def test_left_padded_prompts_match_reference(cfg_name):
    prompts = [prompt(n_pad=0), prompt(n_pad=3, n_sys=1, n_img=2, n_txt=3), prompt(n_pad=5, n_sys=1, n_img=1, n_txt=2)]
    batch = make_batch(prompts, [6, 5, 6], C=6, seed=13)
    attn, image_mask, text_mask, _, P = batch
    assert torch.all(attn[1, :, :3] == 0) and torch.all(attn[2, :, :5] == 0)
    assert not (image_mask | text_mask)[1, :3].any()
    run_case(batch, CFGS[cfg_name], "BC")


@pytest.mark.parametrize("cfg_name", list(CFGS))
def test_prompt_without_image_in_batch(cfg_name):
    prompts = [prompt(), prompt(n_pad=2, n_sys=3, n_img=0, n_txt=4), prompt(n_pad=1, n_img=3)]
    batch = make_batch(prompts, [5, 5, 3], C=5, seed=14)
    _, image_mask, text_mask, _, _ = batch
    assert not image_mask[1].any()
    assert text_mask[1, 2:9].all()  # text-only prompt: every non-pad key is a text key
    sig, ref, _ = run_case(batch, CFGS[cfg_name], "B")
    assert torch.all(sig.role[1] == 0) and torch.all(sig.score[1] == 0)
    assert torch.all(sig.v_vis[1] == 0) and torch.all(sig.r_vis[1] == 0)
    assert torch.all(sig.r_txt[1] == 1)  # all visible mass is text
    assert (sig.role[0] != 0).any()  # the other prompts still get roles


@pytest.mark.parametrize("cfg_name", list(CFGS))
def test_one_token_completions(cfg_name):
    batch = make_batch([prompt(), prompt(n_pad=1, n_txt=2), prompt(n_img=0, n_txt=5)], [1, 1, 1], C=1, seed=15)
    sig, ref, adv = run_case(batch, CFGS[cfg_name], "B")
    assert torch.all(sig.role == 0) and torch.all(sig.score == 0)
    assert torch.all(sig.v_vis == 0) and torch.all(sig.v_txt == 0)
    assert torch.all(sig.r_vis[:2] > 0)
    # mixed with longer completions too
    batch = make_batch([prompt()] * 3, [1, 4, 1], C=4, seed=16)
    run_case(batch, CFGS[cfg_name], "BC")


@pytest.mark.parametrize("variant", ["token", "sequence"])
def test_all_neutral_completions(variant):
    cfg = DyCoConfig(variant=variant, alpha=0.3, tau_vis=10.0, tau_txt=10.0)  # no shift exceeds pi < 10
    batch = make_batch([prompt()] * 3, [5, 3, 5], C=5, seed=17)
    sig, ref, adv = run_case(batch, cfg, "B")
    assert torch.all(sig.role == 0) and torch.all(sig.score == 0)
    advantages = advantages_for(3, 5, "B")
    mask = batch[3].bool()
    expected = advantages[:, None].expand(3, 5).clone()
    if variant == "token":
        expected[mask] = expected[mask] * 1.3  # w_t = 1 everywhere
    torch.testing.assert_close(adv, expected)


@pytest.mark.parametrize("adv_shape", ["B", "BC"])
def test_sequence_variant_with_min_completion_tokens(adv_shape):
    cfg = DyCoConfig(variant="sequence", alpha=0.5, min_completion_tokens=4, clamp=0.3)
    prompts = [prompt(), prompt(), prompt(n_pad=1, n_txt=2), prompt(), prompt(n_img=0, n_txt=4)]
    batch = make_batch(prompts, [6, 3, 0, 1, 2], C=6, seed=18)
    sig, ref, adv = run_case(batch, cfg, adv_shape)
    advantages = advantages_for(5, 6, adv_shape)
    full = advantages[:, None].expand(5, 6) if adv_shape == "B" else advantages
    # completions 1, 3 and 4 are too short: S = -1 -> factor clamp(1 - 0.5, 0.7, 1.3) = 0.7
    for b, n in ((1, 3), (3, 1), (4, 2)):
        torch.testing.assert_close(adv[b, :n], 0.7 * full[b, :n])
        assert torch.equal(adv[b, n:], full[b, n:])
    assert torch.equal(adv[2], full[2])  # no tokens: unchanged


def test_sequence_variant_single_completion_and_constant_scores():
    cfg = DyCoConfig(variant="sequence", alpha=0.5)
    # a single completion with tokens: z = 0 -> factor 1
    batch = make_batch([prompt(), prompt()], [5, 0], C=5, seed=19)
    _, _, adv = run_case(batch, cfg, "B")
    torch.testing.assert_close(adv, advantages_for(2, 5, "B")[:, None].expand(2, 5))
    # identical completions: std 0 -> factor 1
    attn, image_mask, text_mask, completion_mask, P = make_batch([prompt()], [5], C=5, seed=20)
    batch = (
        attn.expand(3, -1, -1),
        image_mask.expand(3, -1),
        text_mask.expand(3, -1),
        completion_mask.expand(3, -1),
        P,
    )
    _, _, adv = run_case(batch, cfg, "BC")
    torch.testing.assert_close(adv, advantages_for(3, 5, "BC"))


@pytest.mark.parametrize("cfg_name", list(CFGS))
def test_text_scope_all_masks_match_reference(cfg_name):
    prompts = [prompt(n_sys=3), prompt(n_pad=2, n_sys=1), prompt(n_img=0, n_sys=3, n_txt=4)]
    batch = make_batch(prompts, [6, 4, 6], C=6, seed=21, scope="all")
    run_case(batch, CFGS[cfg_name], "BC")


@pytest.mark.parametrize("variant", ["token", "sequence"])
def test_signals_do_not_depend_on_cfg_text_scope(variant):
    # the masks carry the scope; cfg.text_scope only matters where the masks are built (key_masks)
    batch = make_batch([prompt(), prompt(n_pad=2, n_sys=1, n_txt=2), prompt(n_img=0)], [6, 4, 5], C=6, seed=22)
    attn, image_mask, text_mask, completion_mask, P = batch
    a = DyCoConfig(variant=variant, text_scope="after_image")
    b = DyCoConfig(variant=variant, text_scope="all")
    sa = signals_from_attention(attn, image_mask, text_mask, completion_mask, P, a)
    sb = signals_from_attention(attn, image_mask, text_mask, completion_mask, P, b)
    for name in SIGNAL_FIELDS:
        assert torch.equal(getattr(sa, name), getattr(sb, name)), name
    adv = advantages_for(3, 6, "B")
    assert torch.equal(reweight(adv, sa, completion_mask, a), reweight(adv, sb, completion_mask, b))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("cfg_name", ["default-token", "default-sequence"])
def test_low_precision_attention(dtype, cfg_name):
    cfg = CFGS[cfg_name]
    prompts = [prompt(), prompt(n_pad=2, n_sys=1, n_txt=2), prompt(n_img=0, n_txt=4), prompt(n_img=6)]
    attn64, image_mask, text_mask, completion_mask, P = make_batch(
        prompts, [7, 3, 7, 1], C=7, seed=23, dtype=torch.float64
    )
    attn = attn64.to(dtype)
    advantages = advantages_for(4, 7, "B").to(dtype)
    sig = signals_from_attention(attn, image_mask, text_mask, completion_mask, P, cfg)
    adv = reweight(advantages, sig, completion_mask, cfg)
    for name in SIGNAL_FIELDS:
        assert torch.all(torch.isfinite(getattr(sig, name).double())), name
    assert torch.all(torch.isfinite(adv.double()))
    for name in ("r_vis", "r_txt", "v_vis", "v_txt", "score"):
        assert getattr(sig, name).dtype == torch.float32, name
    # exact reference on the rounded attention (only float32 arithmetic differs) ...
    ref = reference(attn, image_mask, text_mask, completion_mask, P, cfg, advantages)
    assert_matches(sig, ref, completion_mask, atol=1e-4)
    torch.testing.assert_close(adv.double(), ref.advantages, rtol=1e-2, atol=1e-2)
    # ... and the float64 reference on the unrounded attention, loosely (roles may flip near thresholds)
    ref64 = reference(attn64, image_mask, text_mask, completion_mask, P, cfg)
    for name in ("r_vis", "r_txt"):
        torch.testing.assert_close(getattr(sig, name).double(), getattr(ref64, name), rtol=0, atol=2e-2)
    for name in ("v_vis", "v_txt"):
        torch.testing.assert_close(getattr(sig, name).double(), getattr(ref64, name), rtol=0, atol=5e-2)


def test_zero_attention_rows_and_fully_padded_prompt_match_reference():
    prompts = [prompt(), [PAD] * 9, prompt(n_pad=2, n_sys=1, n_txt=2)]
    attn, image_mask, text_mask, completion_mask, P = make_batch(prompts, [5, 3, 5], C=5, seed=24)
    attn = attn.clone()
    attn[0, 2] = 0  # an all-zero row in the middle of a completion
    attn[2, 0] = 0  # and as token 1
    # a row whose mass lies only outside both masks (system tokens before the image, after_image scope)
    attn[2, 3] = 0
    attn[2, 3, 2] = 1.0
    for cfg in CFGS.values():
        sig, ref, _ = run_case((attn, image_mask, text_mask, completion_mask, P), cfg, "BC")
        assert sig.r_vis[0, 2] == 0 and sig.r_txt[0, 2] == 0 and sig.role[0, 2] == 0
        assert sig.v_vis[0, 3] == 0 and sig.v_txt[0, 3] == 0  # predecessor has no mass
        assert sig.r_vis[2, 3] == 0 and sig.r_txt[2, 3] == 0 and sig.role[2, 3] == 0
        assert torch.all(sig.role[1] == 0) and torch.all(sig.r_vis[1] == 0)


def test_tiny_but_nonzero_masses_are_renormalised():
    # Extreme but legal float32 attention: almost all mass on a system token outside both masks.
    attn = torch.tensor([[[1.0, 1e-35, 1e-35, 0.0, 0.0], [1.0, 1e-35, 1e-35, 1e-35, 0.0]]])
    image_mask = torch.tensor([[0, 1, 0, 0, 0]], dtype=torch.bool)
    text_mask = torch.tensor([[0, 0, 1, 1, 1]], dtype=torch.bool)
    completion_mask = torch.ones(1, 2)
    sig = signals_from_attention(attn, image_mask, text_mask, completion_mask, 3, DyCoConfig())
    ref = reference(attn, image_mask, text_mask, completion_mask, 3, DyCoConfig())
    torch.testing.assert_close(sig.r_vis.double(), ref.r_vis, rtol=0, atol=1e-5)  # [0.5, 1/3]
    torch.testing.assert_close(sig.v_txt.double(), ref.v_txt, rtol=0, atol=1e-5)  # [0, 0]


def test_zero_length_completion_tensors():
    attn = torch.zeros(2, 0, 4)
    image_mask = torch.tensor([[1, 1, 0, 0], [0, 0, 0, 0]], dtype=torch.bool)
    text_mask = torch.tensor([[0, 0, 1, 1], [0, 1, 1, 1]], dtype=torch.bool)
    completion_mask = torch.zeros(2, 0)
    for cfg in CFGS.values():
        sig = signals_from_attention(attn, image_mask, text_mask, completion_mask, 4, cfg)
        for name in SIGNAL_FIELDS:
            assert getattr(sig, name).shape == (2, 0)
        assert reweight(torch.ones(2), sig, completion_mask, cfg).shape == (2, 0)


def test_attention_shape_is_checked():
    attn = torch.zeros(1, 3, 5)
    with pytest.raises(ValueError):
        signals_from_attention(attn, torch.zeros(1, 5, dtype=torch.bool), torch.zeros(1, 5, dtype=torch.bool),
                               torch.ones(1, 3), 3, DyCoConfig())  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# key_masks
# ---------------------------------------------------------------------------------------------------------------


def test_key_masks_both_scopes():
    IMG_ID = 9
    # ids: 0 = pad; 1 = system; 2 = <|vision_start|>; 3 = <|vision_end|>; 4.. = question / completion
    input_ids = torch.tensor(
        [
            [0, 0, 1, 2, 9, 9, 3, 4, 5, 6, 7],  # left padded, one image block
            [1, 2, 9, 3, 4, 2, 9, 9, 3, 5, 6],  # two image blocks: text between them is before the LAST image
            [0, 1, 4, 5, 6, 7, 8, 4, 5, 0, 0],  # no image; completion right padded
            [1, 2, 9, 9, 9, 9, 9, 9, 9, 9, 9],  # ends in image tokens: no text key after it
        ]
    )
    attention_mask = torch.tensor(
        [
            [0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1],
            [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
            [0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0],
            [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
        ]
    )
    image, text = key_masks(input_ids, attention_mask, IMG_ID, "after_image")
    want_image = [
        [0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0],
        [0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1],
    ]
    want_text_after = [
        [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1],
        [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1],
        [0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    ]
    assert image.dtype == torch.bool and text.dtype == torch.bool
    assert image.int().tolist() == want_image
    assert text.int().tolist() == want_text_after

    image_all, text_all = key_masks(input_ids, attention_mask, IMG_ID, "all")
    want_text_all = [
        [0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1],
        [1, 1, 0, 1, 1, 1, 0, 0, 1, 1, 1],
        [0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0],
        [1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    ]
    assert image_all.int().tolist() == want_image
    assert text_all.int().tolist() == want_text_all


def test_key_masks_feed_signals_consistently_with_reference():
    # key_masks + signals_from_attention end to end, against masks written by hand for the same layout
    IMG_ID = 9
    kinds = [prompt(n_pad=2, n_sys=2, n_img=3, n_txt=2), prompt(n_pad=2, n_sys=3, n_img=0, n_txt=4)]
    assert len(kinds[0]) == len(kinds[1])
    ids_of = {PAD: 0, SYS: 1, IMG: IMG_ID, TXT: 4}
    attn, image_mask, text_mask, completion_mask, P = make_batch(kinds, [4, 2], C=4, seed=25)
    input_ids = torch.tensor([[ids_of[k] for k in ks] + [5] * 4 for ks in kinds])
    attention_mask = torch.cat([torch.tensor([[k != PAD for k in ks] for ks in kinds]).long(), completion_mask], 1)
    for scope in ("after_image", "all"):
        image, text = key_masks(input_ids, attention_mask, IMG_ID, scope)
        hand = make_batch(kinds, [4, 2], C=4, seed=25, scope=scope)
        assert torch.equal(image, hand[1])
        assert torch.equal(text, hand[2])


# ---------------------------------------------------------------------------------------------------------------
# Properties (hypothesis)
# ---------------------------------------------------------------------------------------------------------------

FRIENDLY = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
values = st.one_of(
    st.floats(0.0, 1.0, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, 0.0, 1e-30, 1e-12, 1e-6, 1.0, 1000.0]),
)


@st.composite
def degenerate_batches(draw, right_padded=True, healthy=False):
    """Small batches with every degenerate feature: zero-length and 1-token completions, fully padded
    prompts, all-zero rows, no image, rows that are not normalised, low-precision dtypes.

    healthy=True: prompts of 4-6 keys with at most one pad and at least two image keys, so that roles occur.
    """
    B = draw(st.integers(1, 3))
    P = draw(st.integers(4, 6) if healthy else st.integers(1, 5))
    C = draw(st.integers(2, 5) if healthy else st.integers(1, 5))
    K = P + C
    kinds = []
    for _ in range(B):
        n_pad = draw(st.integers(0, 1 if healthy else P))
        head = [IMG, IMG] if healthy else []
        n_body = P - n_pad - len(head)
        body = draw(st.lists(st.sampled_from([SYS, IMG, IMG, TXT]), min_size=n_body, max_size=n_body))
        kinds.append([PAD] * n_pad + draw(st.permutations(head + body)))
    if right_padded:
        lengths = [draw(st.integers(0, C)) for _ in range(B)]
        completion_mask = torch.tensor([[1] * n + [0] * (C - n) for n in lengths])
    else:
        completion_mask = torch.tensor(
            draw(st.lists(st.lists(st.booleans(), min_size=C, max_size=C), min_size=B, max_size=B))
        ).long()
    scope = draw(st.sampled_from(["after_image", "all"]))
    key_valid = torch.tensor([[k != PAD for k in ks] for ks in kinds]).reshape(B, P)
    key_valid = torch.cat([key_valid, completion_mask.bool()], 1)
    image_mask = torch.cat(
        [torch.tensor([[k == IMG for k in ks] for ks in kinds]).reshape(B, P), torch.zeros(B, C, dtype=torch.bool)], 1
    )
    text_mask = torch.zeros(B, K, dtype=torch.bool)
    for b, ks in enumerate(kinds):
        last_img = max([k for k, kind in enumerate(ks) if kind == IMG], default=-1)
        for k in range(K):
            if key_valid[b, k] and not image_mask[b, k]:
                text_mask[b, k] = scope == "all" or k > last_img
    if draw(st.booleans()):  # hypothesis-chosen values (zeros, tiny, huge, repeated) ...
        raw = torch.tensor(draw(st.lists(values, min_size=B * C * K, max_size=B * C * K)), dtype=torch.float64)
        raw = raw.reshape(B, C, K)
    else:  # ... or generic random rows of a drawn peakiness
        gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
        logits = draw(st.sampled_from([0.5, 2.0, 6.0])) * torch.randn(B, C, K, generator=gen, dtype=torch.float64)
        raw = torch.exp(logits.clamp(max=6.9))  # at most ~1000 (finite in float16, like the other branch)
    keys = torch.arange(K)
    causal = keys[None, :] <= (P + torch.arange(C))[:, None]
    attn = raw * (key_valid[:, None, :] & causal[None])
    if draw(st.booleans()):
        attn = attn / attn.sum(-1, keepdim=True).where(attn.sum(-1, keepdim=True) > 0, torch.ones(()))
    if draw(st.booleans()):
        zero_rows = torch.tensor(draw(st.lists(st.booleans(), min_size=B * C, max_size=B * C))).reshape(B, C)
        attn = attn.masked_fill(zero_rows[..., None], 0.0)
    dtype = draw(st.sampled_from([torch.float32, torch.float64, torch.float16, torch.bfloat16]))
    return attn.to(dtype), image_mask, text_mask, completion_mask, P


def cfg_strategy():
    return st.builds(
        DyCoConfig,
        alpha=st.sampled_from([0.0, 0.2, 1.0, 5.0]),
        tau_vis=st.sampled_from([0.0, 0.1]),
        tau_txt=st.sampled_from([0.0, 0.05]),
        variant=st.sampled_from(["token", "sequence"]),
        min_completion_tokens=st.sampled_from([0, 2]),
    )


@FRIENDLY
@given(batch=degenerate_batches(right_padded=False), cfg=cfg_strategy(), adv_1d=st.booleans(), seed=st.integers(0, 99))
def test_property_never_nan_or_inf(batch, cfg, adv_1d, seed):
    attn, image_mask, text_mask, completion_mask, P = batch
    B, C = completion_mask.shape
    sig = signals_from_attention(attn, image_mask, text_mask, completion_mask, P, cfg)
    for name in SIGNAL_FIELDS:
        value = getattr(sig, name)
        assert value.shape == (B, C), name
        assert torch.all(torch.isfinite(value.double())), name
    valid = completion_mask.bool()
    assert torch.all((sig.r_vis >= 0) & (sig.r_vis <= 1)) and torch.all((sig.r_txt >= 0) & (sig.r_txt <= 1))
    has_mass = (sig.r_vis + sig.r_txt) > 0
    torch.testing.assert_close(
        (sig.r_vis + sig.r_txt)[has_mass], torch.ones(int(has_mass.sum()), dtype=sig.r_vis.dtype)
    )
    assert torch.all((sig.v_vis >= 0) & (sig.v_vis <= math.pi + 1e-5))
    assert torch.all((sig.v_txt >= 0) & (sig.v_txt <= math.pi + 1e-5))
    assert set(sig.role.unique().tolist()) <= {-1, 0, 1}
    assert torch.all((sig.score >= 0) & (sig.score <= 1))
    # forced neutral: invalid tokens, token 1, text-only prompts
    for name in SIGNAL_FIELDS:
        assert torch.all(getattr(sig, name)[~valid] == 0), name
    assert torch.all(sig.role[:, 0] == 0)
    assert torch.all(sig.role[~image_mask.any(1)] == 0)

    gen = torch.Generator().manual_seed(seed)
    advantages = torch.randn(B, generator=gen) if adv_1d else torch.randn(B, C, generator=gen)
    adv = reweight(advantages, sig, completion_mask, cfg)
    assert adv.shape == (B, C)
    assert torch.all(torch.isfinite(adv))
    full = advantages[:, None].expand(B, C) if adv_1d else advantages
    assert torch.equal(adv[~valid], full[~valid])


@FRIENDLY
@given(batch=st.one_of(degenerate_batches(), degenerate_batches(healthy=True)), cfg=cfg_strategy())
def test_property_matches_reference(batch, cfg):
    attn, image_mask, text_mask, completion_mask, P = batch
    B, C = completion_mask.shape
    advantages = torch.linspace(-1, 1, B)
    ref = reference(attn, image_mask, text_mask, completion_mask, P, cfg, advantages)
    if ref.margin <= ROLE_MARGIN:
        return  # roles ambiguous in float32
    sig = signals_from_attention(attn, image_mask, text_mask, completion_mask, P, cfg)
    assert_matches(sig, ref, completion_mask, reweight(advantages, sig, completion_mask, cfg), atol=1e-5)


@FRIENDLY
@given(batch=degenerate_batches(right_padded=True), cfg=cfg_strategy(), seed=st.integers(0, 10_000))
def test_property_padding_rows_do_not_change_valid_tokens(batch, cfg, seed):
    # For right-padded completions, the attention rows of padding positions are noise: changing them must not
    # change any valid token's signals, weight or advantage.
    attn, image_mask, text_mask, completion_mask, P = batch
    B, C, K = attn.shape
    valid = completion_mask.bool()
    gen = torch.Generator().manual_seed(seed)
    noise = torch.rand(B, C, K, generator=gen).to(attn.dtype)
    attn2 = torch.where(valid[..., None], attn, noise)
    advantages = torch.randn(B, C, generator=gen)
    s1 = signals_from_attention(attn, image_mask, text_mask, completion_mask, P, cfg)
    s2 = signals_from_attention(attn2, image_mask, text_mask, completion_mask, P, cfg)
    for name in SIGNAL_FIELDS:
        assert torch.equal(getattr(s1, name)[valid], getattr(s2, name)[valid]), name
    a1 = reweight(advantages, s1, completion_mask, cfg)
    a2 = reweight(advantages, s2, completion_mask, cfg)
    assert torch.equal(a1, a2)


def test_text_shift_ignores_the_key_new_to_row_t():
    """Rows of the predicting queries (eager rows P-1.. of [T, T]): row t sees one key more than
    row t-1. That key must not count as a shift, or every token would look textual."""
    P = 2  # keys: [image, question | completion 1, completion 2]
    attn = torch.tensor([[[0.5, 0.5, 0.0, 0.0], [0.5, 0.25, 0.25, 0.0]]])
    image_mask = torch.tensor([[1, 0, 0, 0]], dtype=torch.bool)
    text_mask = ~image_mask
    sig = signals_from_attention(attn, image_mask, text_mask, torch.ones(1, 2), P, DyCoConfig())
    assert sig.v_txt[0, 1] == 0 and sig.v_vis[0, 1] == 0
    assert sig.role[0].tolist() == [0, 0]


def test_image_pad_token_in_the_completion_is_not_an_image_key():
    """The issue: an image-pad token the policy generates counted as an image key (only prompt positions do)."""
    IMG, P = 9, 5
    input_ids = torch.tensor([[1, IMG, IMG, 2, 3, 4, IMG, 5], [1, 2, 3, 4, 5, IMG, 6, 7]])  # row 2: text-only prompt
    mask = torch.ones_like(input_ids)
    image, text = key_masks(input_ids, mask, IMG, "after_image", prompt_length=P)
    assert image.tolist() == [[False, True, True, False, False, False, False, False], [False] * 8]
    assert text[0].tolist() == [False, False, False, True, True, True, True, True]  # the generated pad is text
    assert text[1].all()  # ours: a text-only prompt stays without image keys (its completion all neutral)
    legacy, _ = key_masks(input_ids, mask, IMG, "after_image")  # without prompt_length: every position
    assert legacy[0, 6] and legacy[1, 5]
