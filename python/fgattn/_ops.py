"""Loads the op library (libfgattn_torch.so, built by CMake with -DFGATTN_BUILD_TORCH=ON) and registers the fake
(meta) kernels that let torch.compile trace torch.ops.fgattn.* without graph breaks: attention, and the plan ops,
whose key count (nnz) is data-dependent (an unbacked size)."""
from __future__ import annotations

import os
from pathlib import Path

import torch

_LIB_NAME = "libfgattn_torch.so"
_loaded_from: str | None = None


def _candidates() -> list[Path]:
    env = os.environ.get("FGATTN_TORCH_LIB")
    if env:
        return [Path(env)]
    here = Path(__file__).resolve().parent
    repo = here.parent.parent
    return [here / _LIB_NAME] + [repo / d / "python" / _LIB_NAME for d in ("build/torch", "build-torch", "build/cuda")]


def load_library() -> str:
    """Loads the op library once; returns its path. FGATTN_TORCH_LIB overrides the search."""
    global _loaded_from
    if _loaded_from is not None:
        return _loaded_from
    tried = _candidates()
    for path in tried:
        if path.is_file():
            torch.ops.load_library(str(path))
            _loaded_from = str(path)
            _register_fakes()
            return _loaded_from
    raise ImportError(
        "fgattn: the op library was not found (tried " + ", ".join(str(p) for p in tried) + "). Build it with "
        "cmake -DFGATTN_BUILD_TORCH=ON -DFGATTN_PYTHON=$(which python) ... && cmake --build <dir> --target "
        "fgattn_torch, or set FGATTN_TORCH_LIB to its path."
    )


def _register_fakes() -> None:
    @torch.library.register_fake("fgattn::attention")
    def _attention_fake(q, k, v, offsets, indices, block_m, scale=None, return_lse=False):
        torch._check(q.dim() == 4, lambda: f"q: must be 4-D in the logical [B, S, H, D] shape, got {q.dim()} dims")
        torch._check(k.dim() == 4 and v.dim() == 4, lambda: "k, v: must be 4-D in the logical [B, S, H, D] shape")
        out = torch.empty_like(q)
        if out.stride(3) != 1:
            out = q.new_empty(q.shape)
        if return_lse:
            lse = q.new_empty((q.shape[0], q.shape[2], q.shape[1]), dtype=torch.float32)
        else:
            lse = q.new_empty((0,), dtype=torch.float32)
        return out, lse

    def _plan_fake(q, k, block_m):
        """The plan ops' outputs on q's device (the GPU predictors keep their plans there), offsets [rows + 1] and
        indices [nnz]."""
        torch._check(q.dim() == 4 and k.dim() == 4, lambda: "q, k: must be 4-D in the logical [B, S, H, D] shape")
        torch._check(block_m >= 1, lambda: f"block_m: must be >= 1, got {block_m}")
        rows = q.shape[0] * q.shape[2] * ((q.shape[1] + block_m - 1) // block_m)
        nnz = torch.library.get_ctx().new_dynamic_size()
        return (torch.empty(rows + 1, dtype=torch.int64, device=q.device),
                torch.empty(nnz, dtype=torch.int32, device=q.device))

    @torch.library.register_fake("fgattn::oracle_plan")
    def _oracle_plan_fake(q, k, block_m, tau=None, lse=None):
        return _plan_fake(q, k, block_m)

    @torch.library.register_fake("fgattn::topcdf_plan")
    def _topcdf_plan_fake(q, k, block_m, pool, tau, sim_threshold):
        return _plan_fake(q, k, block_m)
