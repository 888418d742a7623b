"""The library's video-like generator (docs/workload.md) from Python: Q, K, V with a video DiT's attention structure
(3D-RoPE locality on a T x H x W latent grid, moving content, sinks, optional text tokens first). Random model
weights give no real sparsity, so benches impose plan densities with plans built from these tensors."""
from __future__ import annotations

import torch


def video_workload(frames: int, height: int, width: int, heads: int, head_dim: int, text_tokens: int = 0,
                   seed: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(q, k, v): fp32 CPU tensors [1, S, H, D], S = text_tokens + frames * height * width (post-patchify grid)."""
    return torch.ops.fgattn.workload(frames, height, width, heads, head_dim, text_tokens, seed)
