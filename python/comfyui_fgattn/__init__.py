"""A ComfyUI custom node: fgattn's fine-grained sparse self-attention for video models (Wan2.1).

Install: `pip install --no-build-isolation .` from the repository root with ComfyUI's Python (python/README.md), then
link this folder into ComfyUI's custom_nodes (`ln -s $PWD/python/comfyui_fgattn ComfyUI/custom_nodes/fgattn`). Without
the pip install the node falls back to the package beside this folder and the op library of FGATTN_TORCH_LIB or the
repository's build folders. The node "fgattn sparse attention" takes a MODEL and returns a clone whose
self-attention runs fgattn (fgattn.comfy: cross-attention and masked calls stay with ComfyUI's attention).
"""
from __future__ import annotations

import sys
from pathlib import Path

try:
    import fgattn
except ImportError:  # run from the repository (linked into custom_nodes): the package sits beside this folder
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import fgattn

import fgattn.comfy


def parse_steps(text: str) -> tuple[int, ...]:
    """"0, 15, 30" -> (0, 15, 30); refuses anything but comma-separated non-negative integers."""
    steps = []
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        if not part.isdigit():
            raise ValueError(f"refresh_steps: expected comma-separated step numbers such as '0,15,30', got {text!r}")
        steps.append(int(part))
    return tuple(sorted(set(steps)))


class FgattnSparseAttention:
    """Patches a model's self-attention to fgattn: the first `dense_steps` sampling steps stay dense, plans are rebuilt
    at `refresh_steps` and reused in between. predictor "oracle": keep key j for a block of block_m queries iff some
    query gives it probability above tau = tau_factor / sequence length (on the GPU about 1.2x one dense attention per
    layer and build); "topcdf": pooled blocks of 16 tokens kept until their cumulative probability reaches topcdf_tau
    (about 0.04x)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "model": ("MODEL",),
            "enabled": ("BOOLEAN", {"default": True}),
            "dense_steps": ("INT", {"default": 2, "min": 0, "max": 10000}),
            "refresh_steps": ("STRING", {"default": "0,5,10,15,20,25,30,40"}),
            "block_m": (["128", "64"],),
            "tau_factor": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0e6, "step": 0.05}),
        }, "optional": {
            "predictor": (["oracle", "topcdf"],),
            "topcdf_tau": ("FLOAT", {"default": 0.9, "min": 0.0, "max": 1.0, "step": 0.01}),
            # device memory for uploaded plans (fgattn.set_plan_cache_budget); 0 = a quarter of the GPU's memory
            "plan_cache_mb": ("INT", {"default": 0, "min": 0, "max": 1 << 30}),
        }}

    RETURN_TYPES = ("MODEL",)
    FUNCTION = "patch"
    CATEGORY = "model_patches/attention"

    def patch(self, model, enabled, dense_steps, refresh_steps, block_m, tau_factor, predictor="oracle",
              topcdf_tau=0.9, plan_cache_mb=0):
        if tau_factor < 0:
            raise ValueError(f"tau_factor: must be >= 0, got {tau_factor}")
        if predictor not in ("oracle", "topcdf"):
            raise ValueError(f"predictor: must be 'oracle' or 'topcdf', got {predictor!r}")
        if not 0.0 < topcdf_tau <= 1.0:
            raise ValueError(f"topcdf_tau: must be in (0, 1], got {topcdf_tau}")
        m = int(block_m)

        def oracle(q, k):
            return fgattn.oracle_plan(q, k, block_m=m, tau=tau_factor / k.shape[1])

        def topcdf(q, k):
            return fgattn.topcdf_plan(q, k, block_m=m, pool=16, tau=topcdf_tau)

        schedule = fgattn.SparsitySchedule(dense_forwards=int(dense_steps), refresh_at=parse_steps(refresh_steps),
                                           block_m=m, predictor=oracle if predictor == "oracle" else topcdf,
                                           enabled=bool(enabled))
        return (fgattn.comfy.patch_model(model, schedule, plan_cache_mb=int(plan_cache_mb)),)


NODE_CLASS_MAPPINGS = {"FgattnSparseAttention": FgattnSparseAttention}
NODE_DISPLAY_NAME_MAPPINGS = {"FgattnSparseAttention": "fgattn sparse attention"}
