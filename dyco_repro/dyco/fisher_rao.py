"""Fisher–Rao geodesic distance between categorical distributions (Eq. 7).

d_FR(p, q) = 2·arccos(sum_k sqrt(p_k q_k)). We evaluate the identical quantity as
4·arcsin(h/2) with h = ||sqrt(p) - sqrt(q)||_2 (since sum sqrt(pq) = 1 - h²/2): arccos loses
all precision near 1 in float32 and has an infinite slope there, arcsin(h/2) does neither.
"""

from __future__ import annotations

import torch

_TINY = 1e-30


def fisher_rao(p: torch.Tensor, q: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Distance in [0, pi] between p and q, each renormalised along `dim`.

    Computed in at least float32. An all-zero input is no distribution: callers mask it.
    """
    dtype = torch.promote_types(torch.promote_types(p.dtype, q.dtype), torch.float32)
    p, q = _normalise(p.to(dtype), dim), _normalise(q.to(dtype), dim)
    h2 = (p.clamp_min(_TINY).sqrt() - q.clamp_min(_TINY).sqrt()).pow(2).sum(dim)
    h = torch.where(h2 > 0, h2.clamp_min(_TINY).sqrt(), torch.zeros_like(h2))
    return 4 * torch.asin((h / 2).clamp(0, 1))


def _normalise(x: torch.Tensor, dim: int) -> torch.Tensor:
    x = x.clamp_min(0)
    total = x.sum(dim, keepdim=True)
    return x / torch.where(total > 0, total, 1.0)
