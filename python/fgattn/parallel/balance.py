"""Head-to-rank assignment for Ulysses sequence parallelism.

After the all-to-all every rank runs attention on a fixed number of head *slots* (ceil(H / P); padding slots hold
no head). The rank's time is the sum of its heads' plan costs (kept M x 1 slices), so the slowest rank sets the
layer's time. `contiguous_assignment` is what Ulysses does by default (rank r gets heads r*n .. r*n+n-1);
`balanced_assignment` is greedy longest-processing-time: heaviest head first, onto the least-loaded rank that still
has a free slot. Ties are broken by head/rank index, so every rank computes the same assignment from the same costs.
"""
from __future__ import annotations

from typing import Sequence


def _check(costs: Sequence[float], world_size: int) -> list[float]:
    costs = [float(c) for c in costs]
    if world_size < 1:
        raise ValueError(f"world_size: must be >= 1, got {world_size}")
    if not costs:
        raise ValueError("costs: must hold one cost per head, got none")
    if any(c < 0 for c in costs):
        raise ValueError(f"costs: must be >= 0, got {costs}")
    return costs


def slots_per_rank(heads: int, world_size: int) -> int:
    return -(-heads // world_size)


def contiguous_assignment(heads: int, world_size: int) -> list[list[int]]:
    """Ulysses' own split: rank r holds heads [r*n, (r+1)*n) with n = ceil(H / P) (the last ranks may hold fewer)."""
    n = slots_per_rank(heads, world_size)
    return [list(range(r * n, min(heads, (r + 1) * n))) for r in range(world_size)]


def balanced_assignment(costs: Sequence[float], world_size: int) -> list[list[int]]:
    """Greedy LPT with ceil(H / P) slots per rank: heads by cost descending, each to the least-loaded rank with a
    free slot. Within a rank, heads are listed in ascending order."""
    costs = _check(costs, world_size)
    n = slots_per_rank(len(costs), world_size)
    load = [0.0] * world_size
    ranks: list[list[int]] = [[] for _ in range(world_size)]
    for h in sorted(range(len(costs)), key=lambda h: (-costs[h], h)):
        r = min((r for r in range(world_size) if len(ranks[r]) < n), key=lambda r: (load[r], len(ranks[r]), r))
        ranks[r].append(h)
        load[r] += costs[h]
    return [sorted(hs) for hs in ranks]


def rank_costs(costs: Sequence[float], assignment: Sequence[Sequence[int]]) -> list[float]:
    costs = [float(c) for c in costs]
    return [sum(costs[h] for h in hs) for hs in assignment]


def imbalance(costs: Sequence[float], assignment: Sequence[Sequence[int]]) -> float:
    """max rank cost / mean rank cost (1.0 = perfectly balanced; P = everything on one rank)."""
    per_rank = rank_costs(costs, assignment)
    mean = sum(per_rank) / len(per_rank)
    return max(per_rank) / mean if mean > 0 else 1.0


def slot_order(assignment: Sequence[Sequence[int]], heads: int) -> list[int]:
    """The head in each all-to-all slot: rank r's slots are [r*n, (r+1)*n), -1 marks a padding slot. Checks that the
    assignment places every head exactly once within the slot budget."""
    n = slots_per_rank(heads, len(assignment))
    seen = sorted(h for hs in assignment for h in hs)
    if seen != list(range(heads)):
        raise ValueError(f"assignment: must place every head 0..{heads - 1} exactly once, got {list(assignment)}")
    if any(len(hs) > n for hs in assignment):
        raise ValueError(f"assignment: at most ceil(H / P) = {n} heads per rank, got {[len(hs) for hs in assignment]}")
    return [hs[i] if i < len(hs) else -1 for hs in assignment for i in range(n)]
