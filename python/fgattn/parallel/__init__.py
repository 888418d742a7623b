"""Sequence parallelism for fgattn: the attention inside yunchang's Ulysses (what xDiT/xfuser runs), with plans
sliced per rank and heads assigned to ranks by plan cost. Needs `yunchang` (pinned: yunchang==0.6.4; pure Python,
no flash-attn needed). See python/README.md, "Sequence parallelism"."""
from . import balance
from .balance import balanced_assignment, contiguous_assignment, imbalance
from .ulysses import UlyssesFgattn, gather_sequence, shard_sequence

__all__ = ["UlyssesFgattn", "shard_sequence", "gather_sequence", "balance", "balanced_assignment",
           "contiguous_assignment", "imbalance"]
