"""A drop-in self-attention processor for diffusers-style Wan2.1 transformers (WanAttnProcessor-compatible).

    schedule = fgattn.SparsitySchedule(dense_forwards=2, refresh_at=(0, 15, 30, 45, 60, 80))
    fgattn.FgattnProcessor.install(transformer, schedule)   # self-attention (attn1) only; cross-attention stays stock
    ... run the pipeline ...                                  # schedule.reset() before the next video
    schedule.enabled = False                                  # switch back to dense (stock attention) at any time
    fgattn.FgattnProcessor.uninstall(transformer)

Each layer keeps its own plan (a per-layer cache). A layer's k-th call is forward k of the transformer; forwards
below `dense_forwards` run the stock attention; at each forward in `refresh_at` (and whenever the cached plan is
missing or no longer matches the shapes) the predictor builds a new plan from this forward's q and k; the other
forwards reuse the cached plan (the paper's mask-reuse strategy). The default predictor is fgattn.oracle_plan: on
CUDA bf16/fp16 inputs with head dim 64 or 128 the library's tensor-core oracle (about 1.2x one dense attention at Wan
480p), elsewhere torch ops.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch.func import functional_call

from .plan import Plan
from .predict import oracle_plan


def _oracle(block_m: int, tau: float | None) -> Callable[[torch.Tensor, torch.Tensor], Plan]:
    return lambda q, k: oracle_plan(q, k, block_m=block_m, tau=tau)


@dataclass
class SparsitySchedule:
    dense_forwards: int = 2                       # the first forwards run dense (stock attention)
    refresh_at: tuple[int, ...] = (0, 15, 30, 45, 60, 80)  # forwards at which each layer rebuilds its plan
    block_m: int = 128
    tau: float | None = None                      # oracle threshold; None = 0.5 / Skv
    predictor: Callable[[torch.Tensor, torch.Tensor], Plan] | None = None  # (q, k in [B, S, H, D]) -> Plan
    enabled: bool = True                          # False: every layer runs the stock (dense) attention
    # True: a plan that keeps every key runs torch SDPA instead of the fgattn kernel (the same math). On an H200 at the
    # Wan shapes fgattn's dense M=128 kernel is the faster one (bench/results/kernel/bench.md, beside cuDNN in the same run),
    # level at D=64; the switch is for GPUs and shapes where PyTorch's path wins.
    sdpa_for_dense_plans: bool = False
    processors: list = field(default_factory=list, repr=False)

    def predict(self, q: torch.Tensor, k: torch.Tensor) -> Plan:
        return (self.predictor or _oracle(self.block_m, self.tau))(q, k)

    def plan_for(self, plan: Plan | None, forward: int, q: torch.Tensor, k: torch.Tensor,
                 built_at: int | None = None) -> tuple[Plan, bool]:
        """(plan, rebuilt): a layer's cached `plan`, or a new one from this forward's q, k ([B, S, H, D]) when it has
        none, its shapes differ, or `forward` is a refresh forward other than `built_at` (the forward that built it,
        for hooks called more than once per forward)."""
        B, S, H, _ = q.shape
        if plan is None or (forward in self.refresh_at and forward != built_at) or \
                not plan.shape_matches(B, H, S, k.shape[1]):
            with torch.no_grad():
                return self.predict(q.detach(), k.detach()), True
        return plan, False

    def reset(self) -> None:
        """Start a new generation: forward counters to 0, every cached plan dropped."""
        for p in self.processors:
            p.calls, p.plan = 0, None

    def densities(self) -> list[float | None]:
        return [p.plan.density() if p.plan is not None else None for p in self.processors]


def _sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Stock attention on [B, S, H, D] tensors."""
    return F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)).transpose(1, 2)


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    # Wan's rotary embedding on interleaved (even, odd) pairs of the head dimension.
    even, odd = x.unflatten(-1, (-1, 2)).unbind(-1)
    c, s = cos[..., 0::2], sin[..., 1::2]
    return torch.stack((even * c - odd * s, even * s + odd * c), dim=-1).flatten(-2).type_as(x)


def project_qkv(attn, hidden_states: torch.Tensor, rotary_emb, channels: torch.Tensor | None = None):
    """Wan's q, k, v [B, S, H, D]: projections, q/k norms, RoPE. With `channels` (the q/k/v channels in another head
    order; fgattn.parallel) the heads come out in that order: the projections' rows and the norms' per-channel
    parameters are permuted, a few MB per layer, instead of the activations. For plain Linear projections and q/k
    norms over the whole vector only: those commute with a permutation of the channels, and RoPE is the same for
    every head."""
    fused = getattr(attn, "fused_projections", False)
    if channels is None:
        q, k, v = attn.to_qkv(hidden_states).chunk(3, dim=-1) if fused else \
            (attn.to_q(hidden_states), attn.to_k(hidden_states), attn.to_v(hidden_states))
        q, k = attn.norm_q(q), attn.norm_k(k)
    else:
        def rows(linear, index):
            return F.linear(hidden_states, linear.weight[index], None if linear.bias is None else linear.bias[index])

        def norm(module, x):
            state = {name: t[channels] for name, t in [*module.named_parameters(), *module.named_buffers()]}
            return functional_call(module, state, (x,))

        if fused:
            width = attn.to_qkv.out_features // 3
            q, k, v = rows(attn.to_qkv, torch.cat([channels, channels + width, channels + 2 * width])).chunk(3, -1)
        else:
            q, k, v = (rows(m, channels) for m in (attn.to_q, attn.to_k, attn.to_v))
        q, k = norm(attn.norm_q, q), norm(attn.norm_k, k)
    q, k, v = (t.unflatten(2, (attn.heads, -1)) for t in (q, k, v))  # [B, S, H, D]
    if rotary_emb is not None:
        q, k = _rotate(q, *rotary_emb), _rotate(k, *rotary_emb)
    return q, k, v


def _set_plan_cache_budget(plan_cache_mb: int | None) -> None:
    if plan_cache_mb is not None:
        from . import set_plan_cache_budget  # late: the package imports this module
        set_plan_cache_budget(plan_cache_mb)


class FgattnProcessor:
    """Self-attention processor running fgattn.attention with a per-layer plan (see the module docstring).
    plan_cache_mb: when given, the op's device-plan cache budget in MB (fgattn.set_plan_cache_budget; 0 = a quarter
    of the device's memory); None leaves it as it is."""

    def __init__(self, schedule: SparsitySchedule, fallback=None, plan_cache_mb: int | None = None):
        _set_plan_cache_budget(plan_cache_mb)
        self.schedule = schedule
        self.fallback = fallback  # the stock processor: used for dense forwards and any cross-attention call
        self.calls = 0    # forwards seen by this layer
        self.forward = 0  # the current forward's index
        self.plan: Plan | None = None

    @staticmethod
    def _selects(module: torch.nn.Module) -> bool:
        """The modules this processor replaces: Wan's self-attention (attn1; is_cross_attention=False)."""
        return hasattr(module, "set_processor") and hasattr(module, "to_q") and \
            not getattr(module, "is_cross_attention", True)

    @classmethod
    def install(cls, transformer: torch.nn.Module, schedule: SparsitySchedule | None = None,
                plan_cache_mb: int | None = None) -> SparsitySchedule:
        """Installs one processor per self-attention module (cross-attention keeps its processor); plan_cache_mb as
        the constructor's."""
        _set_plan_cache_budget(plan_cache_mb)
        schedule = schedule or SparsitySchedule()
        for module in transformer.modules():
            if cls._selects(module):
                proc = cls(schedule, fallback=module.processor)
                schedule.processors.append(proc)
                module.set_processor(proc)
        if not schedule.processors:
            raise ValueError(f"transformer: no module that {cls.__name__} replaces was found "
                             f"({cls._selects.__doc__.strip()})")
        return schedule

    @staticmethod
    def uninstall(transformer: torch.nn.Module) -> None:
        """Puts every fgattn processor's stock processor back (any model, any fgattn processor class)."""
        for module in transformer.modules():
            if isinstance(getattr(module, "processor", None), FgattnProcessor):
                module.set_processor(module.processor.fallback)

    def _qkv(self, attn, hidden_states, rotary_emb):
        return project_qkv(attn, hidden_states, rotary_emb)

    @torch.compiler.disable
    def _use_stock(self, cross: bool) -> bool:
        """Advances this layer's forward counter; True when this forward runs the stock attention. Kept out of
        torch.compile's graph (the counter would otherwise be a guard and recompile every forward)."""
        self.forward = self.calls
        self.calls += 1
        s = self.schedule
        return cross or not s.enabled or self.forward < s.dense_forwards

    @torch.compiler.disable
    def _plan_for(self, q: torch.Tensor, k: torch.Tensor) -> Plan:
        """The cached plan, rebuilt at the schedule's refresh forwards or when the shapes change (a graph break
        under torch.compile: building a plan has data-dependent sizes; running it does not)."""
        self.plan, _ = self.schedule.plan_for(self.plan, self.forward, q, k)
        return self.plan

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, rotary_emb=None,
                 **kwargs):
        cross = encoder_hidden_states is not None or attention_mask is not None
        if self._use_stock(cross):
            if self.fallback is not None:
                return self.fallback(attn, hidden_states, encoder_hidden_states, attention_mask, rotary_emb, **kwargs)
            if cross:
                raise ValueError("FgattnProcessor: self-attention only (no encoder_hidden_states, no attention_mask)")
            q, k, v = self._qkv(attn, hidden_states, rotary_emb)
            out = _sdpa(q, k, v)
        else:
            q, k, v = self._qkv(attn, hidden_states, rotary_emb)
            plan = self._plan_for(q, k)
            if self.schedule.sdpa_for_dense_plans and plan.nnz == plan.rows * plan.seq_kv:
                out = _sdpa(q, k, v)
            else:
                from . import attention  # late: the package imports this module
                out = attention(q, k, v, plan)
        out = out.flatten(2, 3).type_as(q)
        out = attn.to_out[0](out)
        return attn.to_out[1](out)
