"""Fisher–Rao geodesic distance (docs/method.md, Eq. 7) against an independent float64 reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dyco_repro.dyco import fisher_rao


def reference_fr(p, q) -> float:
    """2·arccos(clamp(sum_k sqrt(p_k q_k), 0, 1)) in float64, inputs renormalised (one pair of vectors)."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    p = p / p.sum()
    q = q / q.sum()
    return 2.0 * math.acos(min(max(float(np.sum(np.sqrt(p * q))), 0.0), 1.0))


def random_simplex(gen: torch.Generator, *shape: int, dtype=torch.float64, peaky: float = 1.0) -> torch.Tensor:
    return torch.softmax(peaky * torch.randn(*shape, generator=gen, dtype=torch.float64), dim=-1).to(dtype)


def test_matches_float64_reference_on_random_pairs():
    gen = torch.Generator().manual_seed(0)
    for peaky in (0.1, 1.0, 5.0):
        p = random_simplex(gen, 64, 7, peaky=peaky)
        q = random_simplex(gen, 64, 7, peaky=peaky)
        # unnormalised inputs: the function must renormalise
        scale_p = torch.rand(64, 1, generator=gen, dtype=torch.float64) * 10 + 0.1
        scale_q = torch.rand(64, 1, generator=gen, dtype=torch.float64) * 10 + 0.1
        got = fisher_rao(p * scale_p, q * scale_q)
        assert got.shape == (64,)
        assert got.dtype == torch.float64
        want = torch.tensor([reference_fr(p[i], q[i]) for i in range(64)], dtype=torch.float64)
        torch.testing.assert_close(got, want, rtol=0, atol=1e-7)


def test_matches_reference_in_float32():
    gen = torch.Generator().manual_seed(1)
    p = random_simplex(gen, 32, 11)
    q = random_simplex(gen, 32, 11)
    got = fisher_rao(p.float(), q.float())
    assert got.dtype == torch.float32
    want = torch.tensor([reference_fr(p[i].float().double(), q[i].float().double()) for i in range(32)])
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)


def test_known_values():
    # Two-point distributions: d = 2·arccos(sqrt(p1 q1) + sqrt(p2 q2)).
    p = torch.tensor([0.5, 0.5], dtype=torch.float64)
    q = torch.tensor([1.0, 0.0], dtype=torch.float64)
    torch.testing.assert_close(fisher_rao(p, q), torch.tensor(2 * math.acos(math.sqrt(0.5)), dtype=torch.float64))
    torch.testing.assert_close(fisher_rao(p, q), torch.tensor(math.pi / 2, dtype=torch.float64))


def test_symmetric():
    gen = torch.Generator().manual_seed(2)
    p = random_simplex(gen, 50, 9, peaky=3.0)
    q = random_simplex(gen, 50, 9, peaky=3.0)
    torch.testing.assert_close(fisher_rao(p, q), fisher_rao(q, p), rtol=0, atol=1e-12)
    torch.testing.assert_close(fisher_rao(p.float(), q.float()), fisher_rao(q.float(), p.float()), rtol=0, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_zero_on_identical_and_rescaled_inputs(dtype):
    gen = torch.Generator().manual_seed(3)
    p = random_simplex(gen, 20, 6, dtype=dtype)
    assert torch.all(fisher_rao(p, p) == 0)
    # renormalisation: a rescaled copy is the same distribution
    assert torch.all(fisher_rao(p, 3.0 * p) < 1e-3 if dtype == torch.float32 else fisher_rao(p, 3.0 * p) < 1e-6)
    one_hot = torch.tensor([0.0, 1.0, 0.0], dtype=dtype)
    assert fisher_rao(one_hot, one_hot).item() == 0.0


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16, torch.bfloat16])
def test_pi_on_disjoint_supports(dtype):
    p = torch.tensor([[0.3, 0.7, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]], dtype=dtype)
    q = torch.tensor([[0.0, 0.0, 0.2, 0.8], [0.0, 0.0, 0.0, 5.0]], dtype=dtype)
    got = fisher_rao(p, q)
    torch.testing.assert_close(got.double(), torch.full((2,), math.pi, dtype=torch.float64), rtol=0, atol=1e-6)


def test_triangle_inequality_on_random_triples():
    gen = torch.Generator().manual_seed(4)
    for peaky in (0.5, 2.0, 8.0):
        p, q, r = (random_simplex(gen, 200, 5, peaky=peaky) for _ in range(3))
        # some sparse ones too (zeros on part of the support)
        p[:50, :2] = 0
        r[25:75, 3:] = 0
        d_pq, d_qr, d_pr = fisher_rao(p, q), fisher_rao(q, r), fisher_rao(p, r)
        assert torch.all(d_pr <= d_pq + d_qr + 1e-9)
        assert torch.all(d_pq <= d_pr + d_qr + 1e-9)


def test_range_is_zero_to_pi():
    gen = torch.Generator().manual_seed(5)
    p = random_simplex(gen, 500, 4, peaky=10.0)
    q = random_simplex(gen, 500, 4, peaky=10.0)
    mask = torch.rand(500, 4, generator=gen) < 0.4
    p = p.masked_fill(mask, 0.0)
    q = q.masked_fill(~mask, 0.0)  # many pairs disjoint or nearly so
    for dtype in (torch.float64, torch.float32, torch.float16, torch.bfloat16):
        got = fisher_rao(p.to(dtype), q.to(dtype))
        keep = (p.to(dtype).sum(-1) > 0) & (q.to(dtype).sum(-1) > 0)
        assert torch.all(torch.isfinite(got[keep]))
        assert torch.all(got[keep] >= 0)
        assert torch.all(got[keep] <= math.pi + 1e-6)


def test_along_non_last_dim():
    gen = torch.Generator().manual_seed(6)
    p = random_simplex(gen, 3, 4, 5)  # distributions of size 5 along the last dim ...
    q = random_simplex(gen, 3, 4, 5)
    pt, qt = p.transpose(1, 2).contiguous(), q.transpose(1, 2).contiguous()  # ... now along dim 1: [3, 5, 4]
    got = fisher_rao(pt, qt, dim=1)
    assert got.shape == (3, 4)
    want = torch.tensor([[reference_fr(pt[i, :, j], qt[i, :, j]) for j in range(4)] for i in range(3)])
    torch.testing.assert_close(got, want.double(), rtol=0, atol=1e-7)
    torch.testing.assert_close(got, fisher_rao(p, q, dim=-1), rtol=0, atol=1e-12)
    # a negative non-last dim too
    torch.testing.assert_close(fisher_rao(pt, qt, dim=-2), got, rtol=0, atol=0)


def test_along_dim_zero():
    p = torch.tensor([[0.2, 1.0], [0.8, 0.0]], dtype=torch.float64)  # columns are distributions
    q = torch.tensor([[0.6, 0.0], [0.4, 1.0]], dtype=torch.float64)
    got = fisher_rao(p, q, dim=0)
    want = torch.tensor([reference_fr(p[:, 0], q[:, 0]), reference_fr(p[:, 1], q[:, 1])], dtype=torch.float64)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-10)
    torch.testing.assert_close(got[1], torch.tensor(math.pi, dtype=torch.float64))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("eps", [0.0, 1e-12, 1e-8, 1e-5])
def test_gradients_finite_near_zero(dtype, eps):
    gen = torch.Generator().manual_seed(7)
    base = random_simplex(gen, 8, 6, dtype=dtype)
    base[:, 0] = 0  # zeros in the support as well
    p = base.clone().requires_grad_(True)
    q = (base + eps * torch.rand(8, 6, generator=gen, dtype=torch.float64).to(dtype)).requires_grad_(True)
    d = fisher_rao(p, q)
    assert torch.all(torch.isfinite(d))
    assert torch.all(d < 1e-2)
    d.sum().backward()
    assert torch.all(torch.isfinite(p.grad))
    assert torch.all(torch.isfinite(q.grad))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("eps", [0.0, 1e-12, 1e-8, 1e-4])
def test_gradients_finite_near_pi(dtype, eps):
    p = torch.tensor([[1.0 - eps, eps, 0.0, 0.0], [0.5, 0.5 - eps, eps, 0.0]], dtype=dtype, requires_grad=True)
    q = torch.tensor([[0.0, eps, 0.5, 0.5 - eps], [0.0, 0.0, eps, 1.0 - eps]], dtype=dtype, requires_grad=True)
    d = fisher_rao(p, q)
    assert torch.all(torch.isfinite(d))
    assert torch.all(d > math.pi - 0.05)
    d.sum().backward()
    assert torch.all(torch.isfinite(p.grad))
    assert torch.all(torch.isfinite(q.grad))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_inputs_give_finite_float32(dtype):
    gen = torch.Generator().manual_seed(8)
    p = random_simplex(gen, 40, 16, peaky=4.0)
    q = random_simplex(gen, 40, 16, peaky=4.0)
    p[:5] = q[:5]  # identical rows
    got = fisher_rao(p.to(dtype), q.to(dtype))
    assert got.dtype == torch.float32
    assert torch.all(torch.isfinite(got))
    assert torch.all((got >= 0) & (got <= math.pi + 1e-6))
    assert torch.all(got[:5] == 0)
    # close to the reference evaluated on the rounded inputs
    pr, qr = p.to(dtype).double(), q.to(dtype).double()
    want = torch.tensor([reference_fr(pr[i], qr[i]) for i in range(40)], dtype=torch.float32)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-4)
    # mixed precisions promote as well
    assert fisher_rao(p.to(torch.float16), q.to(torch.bfloat16)).dtype == torch.float32


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_renormalises_inputs_of_tiny_total_mass(dtype):
    p = torch.tensor([0.5, 0.5, 0.0], dtype=dtype)
    got = fisher_rao(p * 1e-35, p)
    assert got.item() < 1e-3
