"""fgattn inside ComfyUI, through its attention hook (no change to ComfyUI's code).

ComfyUI routes every call of its `optimized_attention` through `transformer_options["optimized_attention_override"]`
when that key is set: the override is called as `override(func, q, k, v, heads, mask=None, attn_precision=None,
skip_reshape=False, skip_output_reshape=False, transformer_options=..., ...)`, with `func` the attention ComfyUI
would have run. q, k, v are [B, S, H*D] (or [B, H, S, D] with skip_reshape) and the result is [B, S, H*D] (or
[B, H, S, D] with skip_output_reshape).

    import fgattn.comfy
    patched = fgattn.comfy.patch_model(model, fgattn.SparsitySchedule(dense_forwards=2, refresh_at=(0, 10, 20)))

(or the "fgattn sparse attention" node of python/comfyui_fgattn). What runs fgattn: self-attention calls, i.e. calls
without a mask whose q and k have the same length (Wan's self-attention; its text and image cross-attention have
512 and 257 keys and stay with `func`), in bf16/fp16 with head dim 64 or 128 on CUDA (fp32 too on the CPU).
Everything else goes to `func` (or to an override installed before this one).

The schedule's forward index is the sampling step: the position of transformer_options["sigmas"] in
["sample_sigmas"] (as ComfyUI sets them while sampling; a sigma between two of them, as 2nd-order samplers evaluate,
counts as the last step seen, and a step builds its plan once), else a count of calls per layer. Steps below
`dense_forwards` run `func`; at the steps in `refresh_at` (and when a layer has no plan or its shapes change) the
schedule's predictor builds the plan from that step's q and k; the other steps reuse it. Plans are kept per layer
(transformer_options["block_index"], ["block_type"]) and per batch composition (["cond_or_uncond"]: conditional and
unconditional passes attend differently). A step index that goes back (a new generation) drops the plans.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .plan import Plan
from .predict import GPU_DTYPES, GPU_HEAD_DIMS
from .processor import SparsitySchedule

_DTYPES = {"cuda": GPU_DTYPES, "cpu": GPU_DTYPES + (torch.float32,)}


@dataclass
class _LayerState:
    """One layer's plan for one batch composition. `calls` and `plan` are the fields SparsitySchedule.reset() clears
    and .densities() reads, as for the diffusers processors."""
    calls: int = 0
    plan: Plan | None = None
    last_step: int = -1
    built_at: int = -1  # the step whose q, k built `plan`


def sampling_step(transformer_options: dict) -> int | None:
    """The index of the current sigma in the sampler's schedule, or None when ComfyUI did not provide both."""
    sigmas, schedule = transformer_options.get("sigmas"), transformer_options.get("sample_sigmas")
    if not torch.is_tensor(sigmas) or not torch.is_tensor(schedule) or sigmas.numel() == 0 or schedule.dim() != 1:
        return None
    current = sigmas.flatten()[0].to(schedule.device, schedule.dtype)
    gap = (schedule - current).abs()
    step = int(gap.argmin())
    return step if bool(gap[step] <= 1e-4 * current.abs().clamp_min(1e-6)) else None


class FgattnAttentionOverride:
    """A ComfyUI `optimized_attention_override` that runs fgattn on self-attention (see the module docstring)."""

    def __init__(self, schedule: SparsitySchedule | None = None, previous=None, plan_cache_mb: int | None = None):
        if plan_cache_mb is not None:  # the op's device-plan cache budget
            from . import set_plan_cache_budget  # late: the package imports processor, which this module imports
            set_plan_cache_budget(plan_cache_mb)
        self.schedule = schedule or SparsitySchedule()
        self.previous = previous  # an override installed before this one: it gets every call fgattn does not take
        self.layers: dict[tuple, _LayerState] = {}

    def __deepcopy__(self, memo):
        # ComfyUI deep-copies model_options whenever it clones a model: every clone shares this override, so the
        # schedule the caller holds (enabled, reset(), densities()) keeps steering it.
        return self

    def _stock(self, func, args, kwargs):
        if self.previous is not None:
            return self.previous(func, *args, **kwargs)
        return func(*args, **kwargs)

    @staticmethod
    def _bshd(t: torch.Tensor, heads: int, skip_reshape: bool) -> torch.Tensor:
        """[B, S, H*D] or [B, H, S, D] (skip_reshape) as a [B, S, H, D] view."""
        return t.transpose(1, 2) if skip_reshape else t.unflatten(-1, (heads, -1))

    def _takes(self, q, k, v, heads, mask, skip_reshape) -> bool:
        if not self.schedule.enabled or mask is not None or q.dim() != (4 if skip_reshape else 3):
            return False
        if q.dtype not in _DTYPES.get(q.device.type, ()) or k.dtype != q.dtype or v.dtype != q.dtype or \
                k.device != q.device or v.device != q.device:
            return False
        seq = 2 if skip_reshape else 1
        if k.dim() != q.dim() or q.shape[seq] != k.shape[seq] or v.shape[seq] != k.shape[seq]:
            return False  # cross-attention (text or image keys)
        if not skip_reshape and (not isinstance(heads, int) or heads < 1 or q.shape[-1] % heads != 0):
            return False
        head_dim = q.shape[-1] if skip_reshape else q.shape[-1] // heads
        return q.device.type == "cpu" or head_dim in GPU_HEAD_DIMS

    def _layer(self, transformer_options: dict) -> _LayerState:
        key = (transformer_options.get("block_type"), transformer_options.get("block_index"),
               tuple(transformer_options.get("cond_or_uncond", ())))
        state = self.layers.get(key)
        if state is None:
            state = self.layers[key] = _LayerState()
            self.schedule.processors.append(state)
        return state

    def __call__(self, func, *args, **kwargs):
        q, k, v, heads = (list(args) + [kwargs.get(n) for n in ("q", "k", "v", "heads")][len(args):])[:4]
        mask = kwargs.get("mask", args[4] if len(args) > 4 else None)
        skip_reshape = bool(kwargs.get("skip_reshape", False))
        skip_output_reshape = bool(kwargs.get("skip_output_reshape", False))
        if not all(torch.is_tensor(t) for t in (q, k, v)) or not self._takes(q, k, v, heads, mask, skip_reshape):
            return self._stock(func, args, kwargs)
        options = kwargs.get("transformer_options") or {}
        state = self._layer(options)
        step = sampling_step(options)
        if step is None and "sample_sigmas" in options and state.last_step >= 0:
            step = state.last_step  # a sigma between two of the schedule's (a 2nd-order sampler's extra evaluation)
        elif step is None:
            step = state.calls  # no sampling context: count this layer's calls, as the diffusers processors do
        elif step < state.last_step:  # a new generation: the old plans do not apply
            state.plan = None
        state.calls, state.last_step = state.calls + 1, step
        if step < self.schedule.dense_forwards:
            return self._stock(func, args, kwargs)

        qb, kb, vb = (self._bshd(t, heads, skip_reshape) for t in (q, k, v))
        state.plan, rebuilt = self.schedule.plan_for(state.plan, step, qb, kb, built_at=state.built_at)
        if rebuilt:
            state.built_at = step
        from . import attention  # late: the package imports this module
        out = attention(qb, kb, vb, state.plan)  # [B, S, H, D]
        return out.transpose(1, 2) if skip_output_reshape else out.flatten(2)


def patch_model(model, schedule: SparsitySchedule | None = None, plan_cache_mb: int | None = None):
    """A clone of a ComfyUI ModelPatcher whose attention calls go through FgattnAttentionOverride (an override
    already there keeps every call fgattn does not take). The model passed in is not changed. plan_cache_mb: as
    FgattnAttentionOverride's (None leaves the op's budget as it is)."""
    patched = model.clone()
    options = patched.model_options.setdefault("transformer_options", {})
    options["optimized_attention_override"] = FgattnAttentionOverride(
        schedule, previous=options.get("optimized_attention_override"), plan_cache_mb=plan_cache_mb)
    return patched
