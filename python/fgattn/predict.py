"""Predictors that return a Plan.

oracle: keep key j for query block i iff max over the block's queries of softmax probability P[q, j] > tau
(docs/design.md; default tau = 0.5 / Skv). Two implementations of the same rule:
- "kernel": the C++ library's (torch.ops.fgattn.oracle_plan): on CUDA tensors the tensor-core OraclePredictor (row
  LSE, then one bit per (query block, key); 1.1x a dense attention at Wan 480p, 0.5x given the LSE), on
  CPU tensors the exact oracle in double;
- "torch": torch ops on any device (fp32 on GPUs, fp64 on the CPU; S x S scores in chunks: exact but slow).
backend="auto" takes the kernel for the inputs the GPU predictor supports (see _gpu_inputs) and torch ops
otherwise. The kernel's plan equals the exact one except for keys whose score lies within rounding of tau.
"""
from __future__ import annotations

import math

import torch

from .plan import Plan

_BACKENDS = ("auto", "kernel", "torch")
GPU_DTYPES = (torch.bfloat16, torch.float16)  # what the CUDA kernel and GPU predictors take (include/fgattn/cuda.h)
GPU_HEAD_DIMS = (64, 128)
_GPU_BLOCK_M = (64, 128)
_GPU_MAX_KEY_POOLS = 5120  # include/fgattn/predict_cuda.h: Top-CDF on the GPU


def built_with_cuda() -> bool:
    """Whether the op library has its CUDA path (kernel and GPU predictors)."""
    return bool(torch.ops.fgattn.built_with_cuda())


def _check_backend(backend: str) -> None:
    if backend not in _BACKENDS:
        raise ValueError(f"backend: must be one of {_BACKENDS}, got {backend!r}")


def _gpu_inputs(q: torch.Tensor, block_m: int) -> bool:
    """The inputs the library's GPU predictors take (include/fgattn/predict_cuda.h); they check the rest."""
    return (q.is_cuda and q.dtype in GPU_DTYPES and q.dim() == 4 and q.shape[-1] in GPU_HEAD_DIMS
            and block_m in _GPU_BLOCK_M and built_with_cuda())


def _bshd(t: torch.Tensor, layout: str) -> torch.Tensor:
    return t.transpose(1, 2) if layout == "bhsd" else t


def slice_scores(q: torch.Tensor, k: torch.Tensor, block_m: int = 128, layout: str = "bshd",
                 scale: float | None = None, chunk_elems: int = 1 << 24,
                 lse: torch.Tensor | None = None) -> torch.Tensor:
    """[B, H, nQB, Skv] fp32: max over each query block's queries of the softmax probability of each key.

    Computed per (batch, head) in chunks of query blocks, so at most ~chunk_elems scores live at once. With `lse`
    (attention()'s [B, H, Sq] natural-log LSE at the same scale) P = exp(scale * q.k - lse) instead of a softmax."""
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
    if lse is not None and tuple(lse.shape) != (batch, heads, seq_q):
        raise ValueError(f"lse: must have shape [B, H, Sq] = {[batch, heads, seq_q]}, got {list(lse.shape)}")
    acc = torch.float64 if q.device.type == "cpu" else torch.float32
    out = torch.empty(batch, heads, nqb, seq_kv, dtype=torch.float32, device=q.device)
    blocks_per_chunk = max(1, chunk_elems // max(1, block_m * seq_kv))
    for b in range(batch):
        for h in range(heads):
            kk = k[b, h].to(acc)
            for qb0 in range(0, nqb, blocks_per_chunk):
                qb1 = min(nqb, qb0 + blocks_per_chunk)
                qq = q[b, h, qb0 * block_m: min(seq_q, qb1 * block_m)].to(acc)
                s = (qq @ kk.T) * scale
                if lse is None:
                    p = torch.softmax(s, dim=-1)
                else:
                    p = torch.exp(s - lse[b, h, qb0 * block_m: qb0 * block_m + s.shape[0], None].to(acc))
                pad = (qb1 - qb0) * block_m - p.shape[0]
                if pad:
                    p = torch.cat([p, p.new_zeros(pad, seq_kv)])
                out[b, h, qb0:qb1] = p.view(qb1 - qb0, block_m, seq_kv).amax(dim=1).float()
    return out


def _quality_rows(block_rows: int, samples: int) -> list[int]:
    """The queries of a block of block_rows that plan_quality measures (as quality_queries in src/cpu/plan_quality.cpp):
    all for samples = 0 or samples >= block_rows, else `samples` evenly spread."""
    if samples == 0 or samples >= block_rows:
        return list(range(block_rows))
    return [(2 * s + 1) * block_rows // (2 * samples) for s in range(samples)]


def plan_quality(q: torch.Tensor, k: torch.Tensor, plan: Plan, samples_per_block: int = 0, layout: str = "bshd",
                 scale: float | None = None) -> dict:
    """The softmax mass `plan` drops (Plan.quality): per measured query, 1 - sum of P[q, j] over the keys its block
    keeps (1 for a block with no key); mean and max over the measured queries. samples_per_block = 0 measures every
    query (exact; in double on the CPU, fp32 on a GPU), n > 0 measures n queries per block, evenly spread
    (estimated). The C++ library's plan_quality (include/fgattn/predict.h) computes the same."""
    if samples_per_block < 0:
        raise ValueError(f"samples_per_block: must be >= 0 (0: every query), got {samples_per_block}")
    qb, kb = _bshd(q, layout), _bshd(k, layout)  # [B, S, H, D]
    if not plan.shape_matches(qb.shape[0], qb.shape[2], qb.shape[1], kb.shape[1]):
        raise ValueError(f"plan: sizes {(plan.batch, plan.heads, plan.seq_q, plan.seq_kv)} must match q and k "
                         f"{(qb.shape[0], qb.shape[2], qb.shape[1], kb.shape[1])}")
    acc = torch.float64 if qb.device.type == "cpu" else torch.float32
    scale = 1.0 / math.sqrt(qb.shape[-1]) if scale is None else scale
    m, nqb = plan.block_m, plan.query_blocks
    rows_of_block = [_quality_rows(min(m, plan.seq_q - i * m), samples_per_block) for i in range(nqb)]
    positions = torch.tensor([i * m + r for i in range(nqb) for r in rows_of_block[i]], device=qb.device)
    block_of = torch.tensor([i for i in range(nqb) for _ in rows_of_block[i]], device=qb.device)
    mask = plan.key_mask().to(qb.device)  # [B, H, nQB, Skv]
    total, worst, count = 0.0, 0.0, 0
    for b in range(plan.batch):
        for h in range(plan.heads):
            kk = kb[b, :, h].to(acc)
            for chunk in torch.split(torch.arange(positions.numel(), device=qb.device), 4096):
                s = (qb[b, positions[chunk], h].to(acc) @ kk.T) * scale
                kept = s.masked_fill(~mask[b, h, block_of[chunk]], -math.inf)
                dropped = (1 - torch.exp(torch.logsumexp(kept, -1) - torch.logsumexp(s, -1))).clamp(0, 1)
                total += float(dropped.sum())
                worst = max(worst, float(dropped.max()))
                count += dropped.numel()
    estimated = any(len(r) < min(m, plan.seq_q - i * m) for i, r in enumerate(rows_of_block))
    return {"dropped_mass_mean": total / count, "dropped_mass_max": worst, "estimated": estimated, "queries": count}


def _tau_for_dropped_mass(q, k, scores, block_m, layout, max_dropped_mass) -> float:
    """The largest tau (bisection on log tau) whose oracle plan's exact mean dropped mass is <= max_dropped_mass, as
    OracleOptions::max_dropped_mass in the C++ library (0 if even keeping every positive score drops more)."""
    seq_q = q.shape[1] if layout == "bshd" else q.shape[2]
    mean = lambda t: plan_quality(q, k, Plan.from_key_mask(scores > t, seq_q, block_m),  # noqa: E731
                                  layout=layout)["dropped_mass_mean"]  # (t > 0 throughout)
    positive = scores[scores > 0]
    if positive.numel() == 0:
        return 0.0
    lo, hi = math.log(float(positive.min())) - 1.0, math.log(float(positive.max()))
    if mean(math.exp(lo)) > max_dropped_mass:
        return 0.0
    if mean(math.exp(hi)) <= max_dropped_mass:
        return math.exp(hi)
    for _ in range(24):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if mean(math.exp(mid)) <= max_dropped_mass else (lo, mid)
    return math.exp(lo)


def oracle_plan(q: torch.Tensor, k: torch.Tensor, block_m: int = 128, tau: float | None = None,
                layout: str = "bshd", scale: float | None = None, lse: torch.Tensor | None = None,
                backend: str = "auto", quality: bool = True, max_dropped_mass: float | None = None) -> Plan:
    """The oracle M x 1 plan: keep key j for block i iff max_{q in i} P[q, j] > tau (default 0.5 / Skv).

    lse: optional [B, H, Sq] fp32 LSE of q against all of k (attention(..., return_lse=True) with a dense plan and
    the same scale), e.g. from a dense forward the pipeline runs anyway: the GPU predictor then skips its LSE pass.
    backend: "auto" (the kernel on CUDA for bf16/fp16, D = 64 or 128, block_m = 64 or 128, the default scale; torch
    ops otherwise), "kernel" (the library: GPU, or the exact CPU oracle without lse) or "torch".
    quality: fill Plan.quality exactly (plan_quality over every query: one more Q K^T pass).
    max_dropped_mass: instead of tau, the largest tau whose plan's exact MEAN dropped mass over all queries stays
    <= this (bisection on log tau over the exact slice scores, ~26 quality passes; the max is reported, not bounded).
    """
    _check_backend(backend)
    if max_dropped_mass is not None:
        if not 0.0 <= max_dropped_mass <= 1.0:
            raise ValueError(f"max_dropped_mass: must be in [0, 1], got {max_dropped_mass}")
        if tau is not None:
            raise ValueError("tau: give tau or max_dropped_mass, not both")
        scores = slice_scores(q, k, block_m, layout, scale)
        seq_q = q.shape[1] if layout == "bshd" else q.shape[2]
        tau = _tau_for_dropped_mass(q, k, scores, block_m, layout, max_dropped_mass)
        plan = Plan.from_key_mask(scores > tau if tau > 0 else scores >= 0, seq_q, block_m)
        plan.quality = plan_quality(q, k, plan, layout=layout, scale=scale)
        return plan
    plan = _oracle_plan(q, k, block_m, tau, layout, scale, lse, backend)
    if quality:
        plan.quality = plan_quality(q, k, plan, layout=layout, scale=scale)
    return plan


def _oracle_plan(q, k, block_m, tau, layout, scale, lse, backend) -> Plan:
    use_kernel = backend == "kernel" or (backend == "auto" and scale is None and _gpu_inputs(q, block_m))
    if use_kernel:
        if scale is not None:
            raise ValueError("scale: the library's oracle uses the default 1/sqrt(D); pass backend='torch' for another")
        qb, kb = _bshd(q, layout), _bshd(k, layout)
        off, idx = torch.ops.fgattn.oracle_plan(qb, kb, block_m, tau, lse)
        return Plan(off, idx, qb.shape[0], qb.shape[2], qb.shape[1], kb.shape[1], block_m)
    scores = slice_scores(q, k, block_m, layout, scale, lse=lse)
    seq_q = q.shape[1] if layout == "bshd" else q.shape[2]
    tau = 0.5 / scores.shape[3] if tau is None else tau
    return Plan.from_key_mask(scores > tau, seq_q, block_m)


def _cpu_bshd(t: torch.Tensor, layout: str) -> torch.Tensor:
    t = _bshd(t, layout)
    return t.cpu() if t.dtype in (torch.float32, torch.bfloat16, torch.float16) else t.float().cpu()


def cpu_oracle_plan(q: torch.Tensor, k: torch.Tensor, block_m: int = 128, tau: float | None = None,
                    layout: str = "bshd") -> Plan:
    """The C++ library's exact oracle (double, threaded) on the CPU, wherever q and k live: the same rule as
    oracle_plan."""
    q, k = _cpu_bshd(q, layout), _cpu_bshd(k, layout)
    off, idx = torch.ops.fgattn.oracle_plan(q, k, block_m, tau)
    plan = Plan(off, idx, q.shape[0], q.shape[2], q.shape[1], k.shape[1], block_m)
    plan.quality = plan_quality(q, k, plan)
    return plan


def topcdf_plan(q: torch.Tensor, k: torch.Tensor, block_m: int = 128, pool: int = 16, tau: float = 0.9,
                sim_threshold: float = 0.5, layout: str = "bshd", backend: str = "auto",
                quality_samples: int = 4) -> Plan:
    """The library's pooled-block Top-CDF predictor with the self-similarity guard (docs/design.md).

    backend: "auto" runs it on the GPU for CUDA inputs it supports (bf16/fp16, D = 64 or 128, block_m = 64 or 128,
    pool dividing block_m with block_m / pool <= 16, at most 5,120 key pools) and on the CPU otherwise (CUDA inputs
    are copied there); "kernel" keeps q's device (errors name the rule a GPU input breaks); "torch" is refused (the
    predictor exists only in the library). Key pools holding a norm outlier (an attention sink) are always kept
    (TopCdfOptions::outlier_ratio = 1.5). quality_samples: Plan.quality estimated on this many queries per block
    (plan_quality; 0: none)."""
    _check_backend(backend)
    if quality_samples < 0:
        raise ValueError(f"quality_samples: must be >= 0 (0: none), got {quality_samples}")
    if backend == "torch":
        raise ValueError("backend: topcdf_plan has no torch-ops implementation; use 'auto' or 'kernel'")
    qb, kb = _bshd(q, layout), _bshd(k, layout)
    if backend == "kernel":
        on_gpu = qb.is_cuda
    else:  # auto
        on_gpu = (_gpu_inputs(qb, block_m) and pool > 0 and block_m % pool == 0 and block_m // pool <= 16
                  and -(-kb.shape[1] // pool) <= _GPU_MAX_KEY_POOLS)
    if not on_gpu:
        qb, kb = _cpu_bshd(q, layout), _cpu_bshd(k, layout)
    off, idx = torch.ops.fgattn.topcdf_plan(qb, kb, block_m, pool, tau, sim_threshold)
    plan = Plan(off, idx, qb.shape[0], qb.shape[2], qb.shape[1], kb.shape[1], block_m)
    if quality_samples:
        plan.quality = plan_quality(qb, kb, plan, quality_samples)
    return plan


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
