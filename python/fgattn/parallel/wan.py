"""Wan2.1 (diffusers' WanTransformer3DModel, and xDiT's wrapper of it) with fgattn inside Ulysses.

    procs = install_wan(transformer, plan)           # attn1 of every block -> UlyssesWanProcessor (same plan)
    out = sequence_parallel_forward(transformer, latents, timestep, text)   # plain diffusers model: shard, run, gather

Under xDiT (xfuser) the transformer is xFuserWanTransformer3DWrapper, whose forward already pads the sequence to a
multiple of the Ulysses degree, shards it and gathers the output, so install_wan alone switches it to fgattn.
"""
from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F

from ..plan import Plan
from ..processor import project_qkv
from .ulysses import UlyssesFgattn, _default_group, gather_sequence, shard_sequence


class UlyssesWanProcessor:
    """Self-attention processor: Wan's q/k/v (projections, RMS norms, RoPE on this rank's tokens), then fgattn in
    yunchang's Ulysses. Cross-attention (text keys, replicated on every rank) keeps the stock processor.
    `plan`: the global plan (all heads, the unpadded sequence), or a callable returning it for the current forward."""

    def __init__(self, ulysses: UlyssesFgattn, plan, fallback=None):
        self.ulysses, self.plan, self.fallback = ulysses, plan, fallback
        self._channels: dict = {}  # (slots, device) -> channel index; one per plan balance seen

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, rotary_emb=None,
                 **kwargs):
        if encoder_hidden_states is not None or attention_mask is not None:
            if self.fallback is None:
                raise ValueError("UlyssesWanProcessor: self-attention only (no encoder_hidden_states, no mask)")
            return self.fallback(attn, hidden_states, encoder_hidden_states, attention_mask, rotary_emb, **kwargs)
        plan = self.plan() if callable(self.plan) else self.plan
        slots = self.ulysses.slot_order(plan, hidden_states.shape[1] * self.ulysses.world_size)
        channels = self._slot_channels(attn, slots, hidden_states.device)
        if channels is None:
            # the single-GPU processor's q/k/v code: the same math per token
            q, k, v = project_qkv(attn, hidden_states, rotary_emb)
            out = self.ulysses(q, k, v, plan).flatten(2, 3).type_as(q)
            return attn.to_out[1](attn.to_out[0](out))
        q, k, v = project_qkv(attn, hidden_states, rotary_emb, channels)
        out = self.ulysses(q, k, v, plan, heads_in_slot_order=True).flatten(2, 3).type_as(q)
        out = F.linear(out, attn.to_out[0].weight[:, channels], attn.to_out[0].bias)
        return attn.to_out[1](out)

    def _slot_channels(self, attn, slots: list[int], device: torch.device) -> torch.Tensor | None:
        """The q/k/v channels in slot order, when the heads are balanced by permuting the projection weights rather
        than the activations (index_select of q, k, v and the output took ~1 ms per layer at 720p on an H200,
        bench/results/sp). None when the slots are the heads in order, hold padding, or a module is not a plain
        Linear / a per-channel norm over all heads (LoRA-wrapped layers, say): then the activations are permuted."""
        heads = attn.heads
        if slots == list(range(heads)) or -1 in slots or not _permutable(attn):
            return None
        key = (tuple(slots), device)
        if key not in self._channels:
            if len(self._channels) >= 64:  # plans rebuilt many times with new balances: start over
                self._channels.clear()
            head_dim = _width(attn) // heads
            order = torch.tensor(slots, device=device)
            self._channels[key] = (order[:, None] * head_dim + torch.arange(head_dim, device=device)).flatten()
        return self._channels[key]


def _width(attn) -> int:
    """H * D: the width of q, k and v."""
    return attn.to_qkv.out_features // 3 if getattr(attn, "fused_projections", False) else attn.to_q.out_features


def _permutable(attn) -> bool:
    """Whether permuting weights reorders the heads exactly: plain Linear projections, and q/k norms over the whole
    vector whose parameters are per channel (Wan's RMSNorm across heads; such a norm commutes with a permutation of
    the channels once its parameters are permuted alike; RoPE is the same for every head)."""
    linears = [attn.to_qkv] if getattr(attn, "fused_projections", False) else [attn.to_q, attn.to_k, attn.to_v]
    if not all(type(m) is torch.nn.Linear for m in linears + [attn.to_out[0]]):
        return False
    width = _width(attn)
    return all(t.dim() == 1 and t.numel() == width
               for norm in (attn.norm_q, attn.norm_k) for t in [*norm.parameters(), *norm.buffers()])


def install_wan(transformer: torch.nn.Module, plan, group: dist.ProcessGroup | None = None,
                balance_heads: bool = True) -> list[UlyssesWanProcessor]:
    """Replaces the processor of every self-attention module (is_cross_attention False, or xDiT's attn1) with a
    UlyssesWanProcessor. They share one UlyssesFgattn, whose cache holds a rank plan per distinct plan (up to one per
    layer): layers that share a plan share its slice and, on the GPU, its single upload."""
    group = _default_group(group)
    _check_ring_degree_one()
    modules = [m for m in transformer.modules() if hasattr(m, "set_processor") and hasattr(m, "to_q") and
               not getattr(m, "is_cross_attention", True)]
    if not modules:
        raise ValueError("transformer: no self-attention module (is_cross_attention=False) found")
    ulysses = UlyssesFgattn(group, balance_heads=balance_heads, cache_size=len(modules))
    procs = []
    for module in modules:
        procs.append(UlyssesWanProcessor(ulysses, plan, module.processor))
        module.set_processor(procs[-1])
    return procs


def _check_ring_degree_one():
    from yunchang.globals import PROCESS_GROUP
    ring = PROCESS_GROUP.RING_PG
    if ring is not None and dist.get_world_size(ring) > 1:
        raise ValueError(f"ring degree: fgattn runs in Ulysses only (ring_degree 1), got a ring group of "
                         f"{dist.get_world_size(ring)} ranks; set xDiT's --ring_degree 1")


def sequence_parallel_forward(model, hidden_states: torch.Tensor, timestep: torch.Tensor,
                              encoder_hidden_states: torch.Tensor, group: dist.ProcessGroup | None = None):
    """WanTransformer3DModel.forward (diffusers 0.42.1, Wan2.1 text-to-video: 1-D timestep, no image embedding) with
    the token sequence sharded over `group` between the patch embedding and the output projection, as xDiT's
    wrapper does. Every rank passes the same full inputs and gets the same full output."""
    if timestep.ndim != 1:
        raise ValueError(f"timestep: must be 1-D (Wan2.1; per-token timesteps are not handled), got {timestep.ndim}-D")
    group = _default_group(group)
    batch, _, frames, height, width = hidden_states.shape
    p_t, p_h, p_w = model.config.patch_size
    grid = (frames // p_t, height // p_h, width // p_w)
    cos, sin = model.rope(hidden_states)
    x = model.patch_embedding(hidden_states).flatten(2).transpose(1, 2)
    seq_len = x.shape[1]
    temb, proj, text, _ = model.condition_embedder(timestep, encoder_hidden_states, None)
    proj = proj.unflatten(1, (6, -1))
    x = shard_sequence(x, group).contiguous()
    rope = (shard_sequence(cos, group), shard_sequence(sin, group))
    for block in model.blocks:
        x = block(x, text, proj, rope)
    shift, scale = (model.scale_shift_table.to(temb.device) + temb.unsqueeze(1)).chunk(2, dim=1)
    x = (model.norm_out(x.float()) * (1 + scale) + shift).type_as(x)
    x = gather_sequence(model.proj_out(x), seq_len, group)
    x = x.reshape(batch, *grid, p_t, p_h, p_w, -1).permute(0, 7, 1, 4, 2, 5, 3, 6)
    return x.flatten(6, 7).flatten(4, 5).flatten(2, 3)
