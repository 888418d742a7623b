"""A drop-in self-attention processor for diffusers-style Wan2.1 transformers (WanAttnProcessor-compatible).

    schedule = fgattn.SparsitySchedule(dense_forwards=2, refresh_at=(0, 15, 30, 45, 60, 80))
    fgattn.FgattnProcessor.install(transformer, schedule)   # self-attention (attn1) only; cross-attention stays stock
    transformer.compile_repeated_blocks(fullgraph=True)      # optional (diffusers' regional torch.compile)
    ... run the pipeline ...                                  # schedule.reset() before the next video
    schedule.enabled = False                                  # switch back to dense (stock attention) at any time
    fgattn.FgattnProcessor.uninstall(transformer)

Each layer keeps its own plan (a per-layer cache). A layer's k-th call is forward k of the transformer; forwards
below `dense_forwards` run the stock attention; at each forward in `refresh_at` (and whenever the cached plan is
missing or no longer matches the shapes) the predictor builds a new plan from this forward's q and k; the other
forwards reuse the cached plan (the paper's mask-reuse strategy). The default predictor is fgattn.oracle_plan: on
CUDA bf16/fp16 inputs with head dim 64 or 128 the library's tensor-core oracle (about 1.2x one dense attention at Wan
480p), elsewhere torch ops.

torch.compile: the schedule advances outside the blocks. install() puts a forward pre-hook on the transformer that,
before each forward, gives every layer its mode for that forward ("stock", "build", "plan" or "sdpa"); a block reads
only that mode, which changes at schedule boundaries, so a compiled block has one graph per mode and no guard on a
counter. A cached plan's tensors are graph inputs, its key count (nnz) a dynamic size: a refreshed plan of another
density runs in the same graph. A build forward runs the predictor inside the op fgattn::processor_build (eager
Python behind an op whose output shape does not depend on the plan), so blocks compile with fullgraph=True on every
forward. Compiling the whole transformer works too (the hook stays eager). A processor set by hand
(module.set_processor, no install) advances its own counter on each call, with a graph break there.
"""
from __future__ import annotations

import itertools
import weakref
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

    def report(self) -> list[dict]:
        """One dict per layer (the order of `processors`): {"layer": i, "density": its plan's density or None} plus
        what the plan's `quality` holds (a dict the predictors may attach, e.g. dropped_mass_mean; absent: nothing)."""
        rows = []
        for i, p in enumerate(self.processors):
            plan = p.plan
            row = {"layer": i, "density": plan.density() if plan is not None else None}
            quality = getattr(plan, "quality", None) if plan is not None else None
            row.update({k: v for k, v in (quality or {}).items() if k not in row})
            rows.append(row)
        return rows


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


def _keeps_every_key(plan: Plan) -> bool:
    return plan.nnz == plan.rows * plan.seq_kv


# Processors by key, for the build op (a compiled graph passes a layer's key as a tensor, not the object).
_PROCESSORS: "weakref.WeakValueDictionary[int, FgattnProcessor]" = weakref.WeakValueDictionary()
_KEYS = itertools.count()


@torch.library.custom_op("fgattn::processor_build", mutates_args=())
def _processor_build(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """A build forward of one layer as one op: its processor (found by `key`) predicts a plan from q, k, caches it
    and runs it. An op, so that torch.compile (fullgraph too) keeps the predictor out of the graph without a graph
    break; the output is shaped like attention's whatever the plan."""
    proc = _PROCESSORS.get(int(key))
    if proc is None:
        raise ValueError(f"key: no live FgattnProcessor has key {int(key)}")
    return proc._build_and_attend(q, k, v).contiguous()


@_processor_build.register_fake
def _(q, k, v, key):
    return q.new_empty((*q.shape[:3], v.shape[3]))


class FgattnProcessor:
    """Self-attention processor running fgattn.attention with a per-layer plan (see the module docstring).
    plan_cache_mb: when given, the op's device-plan cache budget in MB (fgattn.set_plan_cache_budget; 0 = a quarter
    of the device's memory); None leaves it as it is."""

    MODES = ("stock", "build", "plan", "sdpa")  # what a forward runs: fallback, predictor + plan, cached plan, SDPA

    def __init__(self, schedule: SparsitySchedule, fallback=None, plan_cache_mb: int | None = None):
        _set_plan_cache_budget(plan_cache_mb)
        self.schedule = schedule
        self.fallback = fallback  # the stock processor: used for dense forwards and any cross-attention call
        self.calls = 0    # forwards seen by this layer
        self.forward = 0  # the current forward's index
        self.plan: Plan | None = None
        self.mode = "stock"  # this forward's mode (MODES), set by begin_forward
        self.advance_per_call = True  # install() clears it: the transformer's pre-hook calls begin_forward instead
        self._register()

    def _register(self) -> None:
        self._key = torch.tensor([next(_KEYS)], dtype=torch.int64)  # a CPU tensor: no device sync to read
        _PROCESSORS[int(self._key)] = self

    def __getstate__(self):  # a copy (copy.deepcopy of a model, pickling) is another layer: it gets its own key
        return {n: v for n, v in self.__dict__.items() if n != "_key"}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._register()

    @staticmethod
    def _selects(module: torch.nn.Module) -> bool:
        """The modules this processor replaces: Wan's self-attention (attn1; is_cross_attention=False)."""
        return hasattr(module, "set_processor") and hasattr(module, "to_q") and \
            not getattr(module, "is_cross_attention", True)

    @classmethod
    def install(cls, transformer: torch.nn.Module, schedule: SparsitySchedule | None = None,
                plan_cache_mb: int | None = None) -> SparsitySchedule:
        """Installs one processor per self-attention module (cross-attention keeps its processor; fgattn processors of
        an earlier install() are replaced) and a forward pre-hook on `transformer` that advances their schedule
        before each forward (module docstring); plan_cache_mb as the constructor's."""
        _set_plan_cache_budget(plan_cache_mb)
        schedule = schedule or SparsitySchedule()
        procs = []
        for module in transformer.modules():
            if cls._selects(module):
                stock = module.processor  # a processor an earlier install() left is replaced, not wrapped
                procs.append(cls(schedule, fallback=stock.fallback if isinstance(stock, FgattnProcessor) else stock))
                module.set_processor(procs[-1])
        if not procs:
            raise ValueError(f"transformer: no module that {cls.__name__} replaces was found "
                             f"({cls._selects.__doc__.strip()})")
        schedule.processors.extend(procs)
        _remove_hook(transformer)
        for proc in procs:
            proc.advance_per_call = False
        # Kept on the transformer, as the hook's handle: a deep copy of the model gets its own processors' list.
        transformer._fgattn_processors = procs
        transformer._fgattn_pre_hook = transformer.register_forward_pre_hook(_begin_forward)
        return schedule

    @staticmethod
    def uninstall(transformer: torch.nn.Module) -> None:
        """Puts every fgattn processor's stock processor back (any model, any fgattn processor class) and removes
        install()'s pre-hook."""
        _remove_hook(transformer)
        for module in transformer.modules():
            if isinstance(getattr(module, "processor", None), FgattnProcessor):
                module.set_processor(module.processor.fallback)

    def begin_forward(self) -> None:
        """Advances this layer's forward counter and sets the mode of the forward about to run (eager: install()'s
        pre-hook calls it before each forward of the transformer)."""
        self.forward = self.calls
        self.calls += 1
        s, plan = self.schedule, self.plan
        if not s.enabled or self.forward < s.dense_forwards:
            self.mode = "stock"
        elif plan is None or self.forward in s.refresh_at:
            self.mode = "build"
        else:
            self._reuse(plan)

    def _reuse(self, plan: Plan) -> None:
        """Mode "plan" or "sdpa" for a cached plan, whose nnz a compiled graph takes as a dynamic size (no recompile
        for a plan of another density, a user's plan included)."""
        self.mode = "sdpa" if self.schedule.sdpa_for_dense_plans and _keeps_every_key(plan) else "plan"
        torch._dynamo.maybe_mark_dynamic(plan.indices, 0)

    @torch.compiler.disable
    def _advance(self) -> None:
        """begin_forward for a processor without install()'s hook: once per call (a graph break under compile)."""
        self.begin_forward()

    def _stock_forward(self, cross: bool) -> bool:
        """True when this call runs the stock attention (advancing the schedule first when no hook does)."""
        if self.advance_per_call:
            self._advance()
        return cross or self.mode == "stock"

    def _predict(self, q: torch.Tensor, k: torch.Tensor) -> Plan:
        """A new plan from q, k, cached; the mode becomes "plan" or "sdpa" (a second call this forward reuses it)."""
        with torch.no_grad():
            self.plan = self.schedule.predict(q.detach(), k.detach())
        self._reuse(self.plan)
        return self.plan

    def _build_and_attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Eager (the processor_build op's body): predict, cache, run."""
        plan = self._predict(q, k)
        if self.mode == "sdpa":
            return _sdpa(q, k, v)
        from . import attention  # late: the package imports this module
        return attention(q, k, v, plan)

    @torch.compiler.disable
    def _plan_for(self, q: torch.Tensor, k: torch.Tensor) -> Plan:
        """Eager: the cached plan, or a new one on a build forward or when the shapes differ (processor_hunyuan.py,
        whose text rules need the padding mask on the host: a graph break on every sparse forward there)."""
        plan = self.plan
        B, S, H, _ = q.shape
        if self.mode == "build" or plan is None or not plan.shape_matches(B, H, S, k.shape[1]):
            plan = self._predict(q, k)
        return plan

    def _qkv(self, attn, hidden_states, rotary_emb):
        return project_qkv(attn, hidden_states, rotary_emb)

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Traced under torch.compile: reads the mode and the cached plan's tensors only."""
        plan = self.plan
        B, S, H, _ = q.shape
        if self.mode == "build" or plan is None or not plan.shape_matches(B, H, S, k.shape[1]):
            return torch.ops.fgattn.processor_build(q, k, v, self._key)
        if self.mode == "sdpa":
            return _sdpa(q, k, v)
        from . import attention  # late: the package imports this module
        return attention(q, k, v, plan)

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, rotary_emb=None,
                 **kwargs):
        cross = encoder_hidden_states is not None or attention_mask is not None
        if self._stock_forward(cross):
            if self.fallback is not None:
                return self.fallback(attn, hidden_states, encoder_hidden_states, attention_mask, rotary_emb, **kwargs)
            if cross:
                raise ValueError("FgattnProcessor: self-attention only (no encoder_hidden_states, no attention_mask)")
            q, k, v = self._qkv(attn, hidden_states, rotary_emb)
            out = _sdpa(q, k, v)
        else:
            q, k, v = self._qkv(attn, hidden_states, rotary_emb)
            out = self._attend(q, k, v)
        out = out.flatten(2, 3).type_as(q)
        out = attn.to_out[0](out)
        return attn.to_out[1](out)


@torch.compiler.disable  # eager also when the whole transformer is compiled: the counters must not become guards
def _begin_forward(transformer: torch.nn.Module, args) -> None:
    """install()'s forward pre-hook: every installed processor's mode for the forward about to run."""
    for proc in transformer.__dict__.get("_fgattn_processors", ()):
        proc.begin_forward()


def _remove_hook(transformer: torch.nn.Module) -> None:
    transformer.__dict__.pop("_fgattn_processors", None)
    handle = transformer.__dict__.pop("_fgattn_pre_hook", None)
    if handle is not None:
        handle.remove()
