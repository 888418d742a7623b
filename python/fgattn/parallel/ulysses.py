"""fgattn inside yunchang's Ulysses sequence parallelism (the attention xDiT/xfuser runs on several GPUs).

Each rank holds a sequence shard [B, S_pad / P, H, D]. yunchang's all-to-all turns it into head slots over the
whole sequence [B, S_pad, ceil(H / P), D]; this rank runs fgattn on them with its slice of the plan; the all-to-all
back returns [B, S_pad / P, H, D]. Before the first all-to-all the heads are permuted (and padded to P * ceil(H / P)
slots), so the heads each rank receives are chosen by plan cost (balance.py) and H need not divide by P.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
import torch.distributed as dist
from yunchang import UlyssesAttention
from yunchang.globals import PROCESS_GROUP
from yunchang.kernels import AttnType

from ..plan import Plan
from . import balance


def _default_group(group):
    # xDiT sets yunchang's Ulysses group (set_seq_parallel_pg); plain torch.distributed users get the world
    return group if group is not None else (PROCESS_GROUP.ULYSSES_PG or dist.group.WORLD)


class UlyssesFgattn(UlyssesAttention):
    """yunchang's UlyssesAttention with fgattn as the inner attention.

        ulysses = UlyssesFgattn(group)                    # group: None = yunchang's Ulysses group, else the world
        out = ulysses(q_shard, k_shard, v_shard, plan)    # [B, S_pad / P, H, D] each; plan: all heads, unpadded

    `plan` is the global plan (every head, seq_q = seq_kv = the true length S <= S_pad), the same on every rank;
    each rank slices out its heads and pads it to S_pad so that padded keys are never attended (padded queries get
    O = 0 and are dropped by gather_sequence). Sliced plans are cached per plan (`cache_size` most recent), so a
    plan reused over many forwards is sliced, and on the GPU uploaded, once per rank.
    """

    def __init__(self, group: dist.ProcessGroup | None = None, balance_heads: bool = True, cache_size: int = 2,
                 use_sync: bool = False):
        # TORCH_MATH only so that the constructor needs no flash-attn; the attention actually run is attn_fn below
        super().__init__(_default_group(group), scatter_idx=2, gather_idx=1, use_sync=use_sync,
                         attn_type=AttnType.TORCH_MATH)
        self.attn_fn = self._fgattn  # UlyssesAttention.forward calls self.attn_fn between its all-to-alls
        self.balance_heads = balance_heads
        self.cache_size = cache_size
        self._cache: OrderedDict = OrderedDict()
        self._permutations: dict = {}  # (slots, heads, device) -> index tensors; a handful of slot orders per run
        self._plan: Plan | None = None
        self.last_balance: dict | None = None  # {"imbalance_before", "imbalance_after", "assignment", ...}

    @property
    def world_size(self) -> int:
        return dist.get_world_size(self.spg)

    @property
    def rank(self) -> int:
        return dist.get_rank(self.spg)

    def forward(self, query, key, value, plan: Plan, softmax_scale: float | None = None,
                heads_in_slot_order: bool = False, **kwargs):
        """heads_in_slot_order: query/key/value already hold the heads in `slot_order(plan, S_pad)` (P * ceil(H / P)
        of them), as a caller that permuted its projection weights produces; the output then keeps that order."""
        if query.dim() != 4 or key.shape != query.shape or value.shape != query.shape:
            raise ValueError("query, key, value: must be this rank's sequence shards [B, S_pad / P, H, D] of one "
                             f"shape, got {list(query.shape)}, {list(key.shape)}, {list(value.shape)}")
        if not isinstance(plan, Plan):
            raise TypeError(f"plan: must be an fgattn.Plan, got {type(plan).__name__}")
        batch, shard, heads, _ = query.shape
        seq_pad = shard * self.world_size
        plan_heads = self.world_size * balance.slots_per_rank(plan.heads, self.world_size) if heads_in_slot_order \
            else plan.heads
        if plan.batch != batch or plan_heads != heads or plan.seq_q != plan.seq_kv or plan.seq_q > seq_pad:
            raise ValueError(f"plan: must cover all {heads} heads{' (slots)' if heads_in_slot_order else ''} of "
                             f"batch {batch} with seq_q = seq_kv <= S_pad = {seq_pad} (P * shard), got "
                             f"B={plan.batch} H={plan.heads} seq_q={plan.seq_q} seq_kv={plan.seq_kv}")
        slots, self._plan = self._rank_plan(plan, seq_pad)
        permutation = None if heads_in_slot_order else self._head_permutation(slots, heads, query.device)
        if permutation is not None:
            query, key, value = (t.index_select(2, permutation[0]) for t in (query, key, value))
        out = super().forward(query, key, value, softmax_scale=softmax_scale, **kwargs)
        self._plan = None
        if permutation is not None:
            out = out.index_select(2, permutation[1])
        return out

    def _head_permutation(self, slots: list[int], heads: int, device: torch.device):
        """(slot -> head, head -> slot) index tensors on `device`, None when the slots are the heads in order. Kept
        per slot order: building them each call would copy from the host and synchronise the stream every layer."""
        if slots == list(range(heads)):
            return None
        key = (tuple(slots), heads, device)
        if key not in self._permutations:
            if len(self._permutations) >= 64:  # plans rebuilt many times with new balances: start over
                self._permutations.clear()
            to_slots = torch.tensor(slots, device=device).clamp(min=0)  # padding slots: any head (plan empty)
            to_heads = torch.tensor([slots.index(h) for h in range(heads)], device=device)
            self._permutations[key] = (to_slots, to_heads)
        return self._permutations[key]

    def slot_order(self, plan: Plan, seq_pad: int) -> list[int]:
        """The head in each all-to-all slot for `plan` (-1: a padding slot): rank r runs slots [r*n, (r+1)*n)."""
        return self._rank_plan(plan, seq_pad)[0]

    def _rank_plan(self, plan: Plan, seq_pad: int) -> tuple[list[int], Plan]:
        key = (id(plan), seq_pad, self.balance_heads)
        hit = self._cache.get(key)
        if hit is not None and hit[0] is plan:
            self._cache.move_to_end(key)
            self.last_balance = hit[3]
            return hit[1], hit[2]
        p, heads = self.world_size, plan.heads
        costs = plan.head_costs().tolist()
        before = balance.contiguous_assignment(heads, p)
        after = balance.balanced_assignment(costs, p) if self.balance_heads else before
        slots = balance.slot_order(after, heads)
        n = balance.slots_per_rank(heads, p)
        local = plan.select_heads(slots[self.rank * n:(self.rank + 1) * n]).pad(seq_pad, seq_pad)
        info = {"imbalance_before": balance.imbalance(costs, before), "imbalance_after": balance.imbalance(costs, after),
                "assignment": after, "rank_costs": balance.rank_costs(costs, after)}
        self._cache[key] = (plan, slots, local, info)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        self.last_balance = info
        return slots, local

    def _fgattn(self, q, k, v, dropout_p=0.0, softmax_scale=None, causal=False, window_size=(-1, -1), softcap=0.0,
                alibi_slopes=None, deterministic=False, return_attn_probs=False, **_):
        if dropout_p or causal or tuple(window_size) != (-1, -1) or softcap or alibi_slopes is not None or \
                return_attn_probs:
            raise ValueError("UlyssesFgattn: dropout_p, causal, window_size, softcap, alibi_slopes and "
                             "return_attn_probs are not supported (full non-causal attention under a plan)")
        from .. import attention  # late: the package imports this module lazily
        return attention(q, k, v, self._plan, scale=softmax_scale)


def shard_sequence(x: torch.Tensor, group: dist.ProcessGroup | None = None, dim: int = 1) -> torch.Tensor:
    """This rank's shard of x along `dim`, after zero-padding that dim to a multiple of the group size (the
    padding is masked by the padded plan and dropped by gather_sequence)."""
    group = _default_group(group)
    p, rank = dist.get_world_size(group), dist.get_rank(group)
    pad = -x.shape[dim] % p
    if pad:
        shape = list(x.shape)
        shape[dim] = pad
        x = torch.cat([x, x.new_zeros(shape)], dim=dim)
    return x.chunk(p, dim=dim)[rank]


def gather_sequence(x: torch.Tensor, seq_len: int, group: dist.ProcessGroup | None = None,
                    dim: int = 1) -> torch.Tensor:
    """The inverse of shard_sequence: all shards concatenated along `dim`, cut back to seq_len."""
    group = _default_group(group)
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size(group))]
    dist.all_gather(parts, x.contiguous(), group=group)
    return torch.cat(parts, dim=dim).narrow(dim, 0, seq_len)
