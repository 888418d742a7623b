"""fgattn: fine-grained (M x 1) sparse attention for video diffusion transformers, from PyTorch.

    import fgattn
    plan = fgattn.Plan.dense(B, H, Sq, Skv, block_m=128)        # or fgattn.oracle_plan(q, k), Plan.from_token_mask...
                                                                  # (oracle_plan on CUDA: the tensor-core predictor)
    out = fgattn.attention(q, k, v, plan)                         # q, k, v: [B, S, H, D] (layout="bhsd" for [B, H, S, D])

The op is torch.ops.fgattn.attention (schema in python/README.md); CPU tensors run the library's reference, CUDA
tensors its kernel. torch.compile traces it without graph breaks (fake kernels in _ops.py).
"""
from __future__ import annotations

import torch

from ._ops import load_library
from .plan import Plan, dense_plan
from .predict import built_with_cuda, cpu_oracle_plan, oracle_plan, oracle_plan_at_density, slice_scores, topcdf_plan
from .workload import video_workload

__all__ = ["attention", "set_plan_cache_budget", "Plan", "built_with_cuda", "dense_plan", "oracle_plan", "oracle_plan_at_density",
           "cpu_oracle_plan", "topcdf_plan", "slice_scores", "video_workload", "load_library", "FgattnProcessor",
           "SparsitySchedule", "HunyuanVideoFgattnProcessor"]

load_library()


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, plan: Plan, layout: str = "bshd",
              scale: float | None = None, return_lse: bool = False):
    """Attention of q over the keys `plan` keeps for each query block.

    q: [B, Sq, H, D] and k, v: [B, Skv, H, D] (layout="bshd", what video DiTs produce), or [B, H, S, D]
    (layout="bhsd"); any strides with the head dimension contiguous. Returns O in q's layout, and with
    return_lse=True also the fp32 LSE [B, H, Sq] (natural log; -inf for a query block with no keys, where O = 0).
    The plan's tensors may live on the CPU (the op uploads each plan to the device once and reuses it) or on q's
    GPU, as the GPU predictors leave them (run as they are, with no host round trip)."""
    if layout == "bhsd":
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
    elif layout != "bshd":
        raise ValueError(f"layout: must be 'bshd' or 'bhsd', got {layout!r}")
    if not isinstance(plan, Plan):
        raise TypeError(f"plan: must be an fgattn.Plan, got {type(plan).__name__}")
    out, lse = torch.ops.fgattn.attention(q, k, v, plan.offsets, plan.indices, plan.block_m, scale, return_lse)
    if layout == "bhsd":
        out = out.transpose(1, 2)
    return (out, lse) if return_lse else out


def set_plan_cache_budget(megabytes: int) -> None:
    """Device memory, in MB, that attention() may keep uploaded plans in (plans given as CPU tensors are uploaded
    once and kept, least recently used dropped first); 0 = a quarter of the device's memory, the default. Applies to
    the whole process (one cache); plans beyond a smaller budget are dropped at once. Without CUDA: checked, no
    effect."""
    if isinstance(megabytes, bool) or not isinstance(megabytes, int):
        raise TypeError(f"megabytes: must be an int, got {type(megabytes).__name__}")
    torch.ops.fgattn.set_plan_cache_budget(megabytes)


from .processor import FgattnProcessor, SparsitySchedule  # noqa: E402  (needs attention above)
from .processor_hunyuan import HunyuanVideoFgattnProcessor  # noqa: E402
