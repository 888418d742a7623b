"""Predictors that return a Plan, in torch ops (CPU or GPU; exact, meant for small inputs or chosen steps).

oracle: keep key j for query block i iff max over the block's queries of softmax probability P[q, j] > tau
(DESIGN.md; default tau = 0.5 / Skv). The C++ library's oracle (fgattn::oracle_plan) computes the same in double.
"""
from __future__ import annotations

import math

import torch

from .plan import Plan


def slice_scores(q: torch.Tensor, k: torch.Tensor, block_m: int = 128, layout: str = "bshd",
                 scale: float | None = None, chunk_elems: int = 1 << 24) -> torch.Tensor:
    """[B, H, nQB, Skv] fp32: max over each query block's queries of the softmax probability of each key.

    Computed per (batch, head) in chunks of query blocks, so at most ~chunk_elems scores live at once."""
    if layout not in ("bshd", "bhsd"):
        raise ValueError(f"layout: must be 'bshd' or 'bhsd', got {layout!r}")
    if q.dim() != 4 or k.dim() != 4:
        raise ValueError("q, k: must be 4-D")
    if layout == "bshd":
        q, k = q.transpose(1, 2), k.transpose(1, 2)  # -> [B, H, S, D]
    batch, heads, seq_q, dim = q.shape
    seq_kv = k.shape[2]
    scale = 1.0 / math.sqrt(dim) if scale is None else scale
    nqb = -(-seq_q // block_m)
    acc = torch.float64 if q.device.type == "cpu" else torch.float32
    out = torch.empty(batch, heads, nqb, seq_kv, dtype=torch.float32, device=q.device)
    blocks_per_chunk = max(1, chunk_elems // max(1, block_m * seq_kv))
    for b in range(batch):
        for h in range(heads):
            kk = k[b, h].to(acc)
            for qb0 in range(0, nqb, blocks_per_chunk):
                qb1 = min(nqb, qb0 + blocks_per_chunk)
                qq = q[b, h, qb0 * block_m: min(seq_q, qb1 * block_m)].to(acc)
                p = torch.softmax((qq @ kk.T) * scale, dim=-1)
                pad = (qb1 - qb0) * block_m - p.shape[0]
                if pad:
                    p = torch.cat([p, p.new_zeros(pad, seq_kv)])
                out[b, h, qb0:qb1] = p.view(qb1 - qb0, block_m, seq_kv).amax(dim=1).float()
    return out


def oracle_plan(q: torch.Tensor, k: torch.Tensor, block_m: int = 128, tau: float | None = None,
                layout: str = "bshd", scale: float | None = None) -> Plan:
    """The oracle M x 1 plan: keep key j for block i iff max_{q in i} P[q, j] > tau (default 0.5 / Skv)."""
    scores = slice_scores(q, k, block_m, layout, scale)
    seq_q = q.shape[1] if layout == "bshd" else q.shape[2]
    tau = 0.5 / scores.shape[3] if tau is None else tau
    return Plan.from_key_mask(scores > tau, seq_q, block_m)


def _cpu_bshd(t: torch.Tensor, layout: str) -> torch.Tensor:
    t = t.transpose(1, 2) if layout == "bhsd" else t
    return t.cpu() if t.dtype in (torch.float32, torch.bfloat16, torch.float16) else t.float().cpu()


def cpu_oracle_plan(q: torch.Tensor, k: torch.Tensor, block_m: int = 128, tau: float | None = None,
                    layout: str = "bshd") -> Plan:
    """The C++ library's oracle (double, threaded) on the CPU: the same rule as oracle_plan."""
    q, k = _cpu_bshd(q, layout), _cpu_bshd(k, layout)
    off, idx = torch.ops.fgattn.oracle_plan(q, k, block_m, tau)
    return Plan(off, idx, q.shape[0], q.shape[2], q.shape[1], k.shape[1], block_m)


def topcdf_plan(q: torch.Tensor, k: torch.Tensor, block_m: int = 128, pool: int = 16, tau: float = 0.9,
                sim_threshold: float = 0.5, layout: str = "bshd") -> Plan:
    """The library's pooled-block Top-CDF predictor with the self-similarity guard (DESIGN.md), on the CPU."""
    q, k = _cpu_bshd(q, layout), _cpu_bshd(k, layout)
    off, idx = torch.ops.fgattn.topcdf_plan(q, k, block_m, pool, tau, sim_threshold)
    return Plan(off, idx, q.shape[0], q.shape[2], q.shape[1], k.shape[1], block_m)


def oracle_plan_at_density(q: torch.Tensor, k: torch.Tensor, density: float, block_m: int = 128,
                           layout: str = "bshd", scores: torch.Tensor | None = None,
                           rel_tol: float = 1e-3) -> tuple[Plan, float]:
    """The oracle plan (keep key j for block i iff max_{q in i} P[q, j] > tau) with one tau for all heads, found by
    bisection so that the plan keeps `density` of the slices (within rel_tol, or as close as ties allow).

    Returns (plan, tau). `scores` (slice_scores of q, k) may be passed to build several densities from one pass.
    density >= 1 gives the dense plan (tau = 0)."""
    if not 0.0 < density <= 1.0:
        raise ValueError(f"density: must be in (0, 1], got {density}")
    if scores is None:
        scores = slice_scores(q, k, block_m, layout)
    seq_q = q.shape[1] if layout == "bshd" else q.shape[2]
    batch, heads, _, seq_kv = scores.shape
    if density >= 1.0:
        return Plan.dense(batch, heads, seq_q, seq_kv, block_m), 0.0
    kept = lambda t: float((scores > t).sum()) / scores.numel()  # noqa: E731
    lo, hi = math.log(max(float(scores[scores > 0].min()), 1e-38)) - 1.0, math.log(float(scores.max()))
    tau = math.exp(hi)
    for _ in range(64):  # on log tau: probabilities span many decades
        mid = 0.5 * (lo + hi)
        d = kept(math.exp(mid))
        tau = math.exp(mid)
        if abs(d - density) <= rel_tol * density:
            break
        lo, hi = (mid, hi) if d > density else (lo, mid)
    return Plan.from_key_mask(scores > tau, seq_q, block_m), tau
