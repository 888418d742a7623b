"""A drop-in processor for diffusers' HunyuanVideoTransformer3DModel (HunyuanVideoAttnProcessor2_0-compatible).

    schedule = fgattn.HunyuanVideoFgattnProcessor.install(transformer, fgattn.SparsitySchedule(dense_forwards=2))

It replaces the joint attention of the dual-stream and single-stream blocks (not the text token refiner's). Their
sequence is [video tokens, text tokens], and the model's attention_mask ([B, 1, 1, N] bool) marks padded text keys.
The predictor sees the joint q and k; the plan it returns is then made to keep every valid text key in every query
block, to give query blocks that hold text queries every valid key (text attends densely), and to drop padded keys
(Plan.with_text_tokens; docs/design.md). Cache, refresh schedule, dense first forwards and the switch back to dense are
the Wan processor's (processor.py).
"""
from __future__ import annotations

import torch

from .plan import Plan
from .processor import FgattnProcessor


def _key_valid(attention_mask: torch.Tensor | None, batch: int, seq: int) -> torch.Tensor | None:
    """bool [B, N] from HunyuanVideo's key-padding mask [B, 1, 1, N] (True = attend); None = every key valid."""
    if attention_mask is None:
        return None
    if attention_mask.dtype != torch.bool or attention_mask.dim() != 4 or attention_mask.shape[1:3] != (1, 1) or \
            attention_mask.shape[3] != seq or attention_mask.shape[0] not in (1, batch):
        raise ValueError(f"attention_mask: HunyuanVideoFgattnProcessor takes a bool key-padding mask [B, 1, 1, {seq}]"
                         f", got {attention_mask.dtype} {list(attention_mask.shape)}")
    return attention_mask.reshape(-1, seq).expand(batch, seq)


class HunyuanVideoFgattnProcessor(FgattnProcessor):
    """Joint [video, text] self-attention of HunyuanVideo's transformer blocks through fgattn (module docstring)."""

    def __init__(self, schedule, fallback=None, plan_cache_mb: int | None = None):
        super().__init__(schedule, fallback, plan_cache_mb)
        self._joint: tuple | None = None  # (predicted plan, text_start, key_valid on the CPU, joint plan)

    @staticmethod
    def _selects(module: torch.nn.Module) -> bool:
        """HunyuanVideo's joint attention: the modules whose processor is HunyuanVideoAttnProcessor2_0 (or this one)."""
        processor = getattr(module, "processor", None)
        return hasattr(module, "set_processor") and (
            type(processor).__name__ == "HunyuanVideoAttnProcessor2_0" or
            isinstance(processor, HunyuanVideoFgattnProcessor))

    def _qkv(self, attn, hidden_states, encoder_hidden_states, image_rotary_emb):
        """q, k, v [B, S, H, D] of the joint sequence, exactly as HunyuanVideoAttnProcessor2_0 builds them."""
        from diffusers.models.embeddings import apply_rotary_emb

        single_stream = attn.add_q_proj is None and encoder_hidden_states is not None
        if single_stream:
            hidden_states = torch.cat([hidden_states, encoder_hidden_states], dim=1)
        q, k, v = (proj(hidden_states).unflatten(2, (attn.heads, -1)) for proj in (attn.to_q, attn.to_k, attn.to_v))
        if attn.norm_q is not None:
            q = attn.norm_q(q)
        if attn.norm_k is not None:
            k = attn.norm_k(k)
        if image_rotary_emb is not None:  # on the video tokens only
            n = encoder_hidden_states.shape[1] if single_stream else 0
            rot = lambda t: apply_rotary_emb(t, image_rotary_emb, sequence_dim=1)  # noqa: E731
            q, k = ((torch.cat([rot(t[:, :-n]), t[:, -n:]], dim=1) if n else rot(t)) for t in (q, k))
        if attn.add_q_proj is not None and encoder_hidden_states is not None:
            eq, ek, ev = (proj(encoder_hidden_states).unflatten(2, (attn.heads, -1))
                          for proj in (attn.add_q_proj, attn.add_k_proj, attn.add_v_proj))
            if attn.norm_added_q is not None:
                eq = attn.norm_added_q(eq)
            if attn.norm_added_k is not None:
                ek = attn.norm_added_k(ek)
            q, k, v = torch.cat([q, eq], dim=1), torch.cat([k, ek], dim=1), torch.cat([v, ev], dim=1)
        return q, k, v

    @torch.compiler.disable
    def _joint_plan(self, q: torch.Tensor, k: torch.Tensor, text_start: int, key_valid: torch.Tensor | None) -> Plan:
        """The schedule's plan (cached, refreshed as for Wan) with the text rules applied; redone only when the
        predicted plan, the text length or the padding changes (one small device-to-host copy of the mask)."""
        base = self._plan_for(q, k)
        kv = None if key_valid is None else key_valid.cpu()
        j = self._joint
        if j is None or j[0] is not base or j[1] != text_start or \
                (j[2] is None) != (kv is None) or (kv is not None and not torch.equal(j[2], kv)):
            self._joint = j = (base, text_start, kv, base.with_text_tokens(text_start, kv))
        return j[3]

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, image_rotary_emb=None):
        if self._stock_forward(False):
            if self.fallback is None:
                from diffusers.models.transformers.transformer_hunyuan_video import HunyuanVideoAttnProcessor2_0
                self.fallback = HunyuanVideoAttnProcessor2_0()
            return self.fallback(attn, hidden_states, encoder_hidden_states, attention_mask, image_rotary_emb)
        q, k, v = self._qkv(attn, hidden_states, encoder_hidden_states, image_rotary_emb)
        batch, seq = q.shape[:2]
        n_text = 0 if encoder_hidden_states is None else encoder_hidden_states.shape[1]
        plan = self._joint_plan(q, k, seq - n_text, _key_valid(attention_mask, batch, seq))
        from . import attention  # late: the package imports this module
        out = attention(q, k, v, plan).flatten(2, 3).to(q.dtype)
        if encoder_hidden_states is None:  # as the stock processor: no output projection without text
            return out, None
        out, text_out = out[:, : seq - n_text], out[:, seq - n_text:]
        if getattr(attn, "to_out", None) is not None:
            out = attn.to_out[1](attn.to_out[0](out))
        if getattr(attn, "to_add_out", None) is not None:
            text_out = attn.to_add_out(text_out)
        return out, text_out
