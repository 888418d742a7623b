"""The real client for joint attention: diffusers' HunyuanVideoTransformer3DModel (tiny config, random weights) with
fgattn's processor on its dual- and single-stream blocks. Text tokens (after the video tokens, some of them padding)
are kept by every plan and attend densely; dense plans reproduce the stock attention; sparse plans run and differ."""
import pytest
import torch

import fgattn
from fgattn import HunyuanVideoFgattnProcessor, Plan, SparsitySchedule

import diffusers  # noqa: E402  (pinned in python/requirements-ci.txt; a missing install must fail, not skip)

TEXT, VALID = 6, (6, 4)  # text tokens per prompt; valid (unpadded) ones per batch item
VIDEO = 3 * 4 * 4        # latent 3 x 8 x 8 after the 2 x 2 patchify


def tiny_hunyuan():
    torch.manual_seed(0)
    model = diffusers.HunyuanVideoTransformer3DModel(
        in_channels=4, out_channels=4, num_attention_heads=2, attention_head_dim=8, num_layers=1, num_single_layers=1,
        num_refiner_layers=1, mlp_ratio=2.0, patch_size=2, patch_size_t=1, guidance_embeds=False, text_embed_dim=16,
        pooled_projection_dim=8, rope_axes_dim=(2, 2, 4))
    return model.eval()


def inputs(height=8, width=8):
    g = torch.Generator().manual_seed(1)
    mask = torch.zeros(2, TEXT, dtype=torch.long)
    for b, n in enumerate(VALID):
        mask[b, :n] = 1
    return dict(hidden_states=torch.randn(2, 4, 3, height, width, generator=g), timestep=torch.tensor([500, 500]),
                encoder_hidden_states=torch.randn(2, TEXT, 16, generator=g), encoder_attention_mask=mask,
                pooled_projections=torch.randn(2, 8, generator=g), return_dict=False)


def run(model, **kw):
    with torch.no_grad():
        return model(**kw)[0]


def dense_predictor(block_m):
    return lambda q, k: Plan.dense(q.shape[0], q.shape[2], q.shape[1], k.shape[1], block_m)


def key_valid():
    kv = torch.ones(2, VIDEO + TEXT, dtype=torch.bool)
    for b, n in enumerate(VALID):
        kv[b, VIDEO + n:] = False
    return kv


def test_dense_plan_matches_stock_attention():
    model, x = tiny_hunyuan(), inputs()
    stock = run(model, **x)
    schedule = HunyuanVideoFgattnProcessor.install(model, SparsitySchedule(dense_forwards=0, block_m=16,
                                                                           predictor=dense_predictor(16)))
    assert len(schedule.processors) == 2  # one dual-stream and one single-stream block; the refiner stays stock
    refiner = model.context_embedder.token_refiner.refiner_blocks[0].attn
    assert not isinstance(refiner.processor, HunyuanVideoFgattnProcessor)
    out = run(model, **x)
    torch.testing.assert_close(out, stock, atol=1e-5, rtol=1e-5)
    for p in schedule.processors:  # the padded text keys left the dense plan
        joint = p._joint[3]
        assert torch.equal(joint.key_mask(), key_valid()[:, None, None, :].expand_as(joint.key_mask()))
    HunyuanVideoFgattnProcessor.uninstall(model)
    torch.testing.assert_close(run(model, **x), stock, atol=0, rtol=0)


def test_sparse_plan_keeps_text_runs_differs_and_follows_the_schedule():
    model, x = tiny_hunyuan(), inputs()
    stock = run(model, **x)
    schedule = HunyuanVideoFgattnProcessor.install(model, SparsitySchedule(dense_forwards=1, refresh_at=(1, 3),
                                                                           block_m=16, tau=0.05))
    torch.testing.assert_close(run(model, **x), stock, atol=0, rtol=0)  # forward 0: stock
    assert all(p.plan is None for p in schedule.processors)
    sparse = run(model, **x)  # forward 1: oracle plans on the joint q, k, then the text rules
    joints = [p._joint[3] for p in schedule.processors]
    kv = key_valid()
    for joint in joints:
        m = joint.key_mask()  # [B, H, nQB, S]
        assert 0 < joint.density() < 1
        assert torch.equal(m[..., VIDEO:], kv[:, None, None, VIDEO:].expand_as(m[..., VIDEO:]))  # text keys kept
        assert not m[..., :VIDEO].all()  # video keys were dropped somewhere
        text_blocks = VIDEO // 16  # query block 3 holds the text queries: it keeps every valid key
        assert torch.equal(m[:, :, text_blocks], kv[:, None, :].expand_as(m[:, :, text_blocks]))
    assert torch.isfinite(sparse).all() and (sparse - stock).abs().max() > 1e-4
    run(model, **x)  # forward 2: cached plans reused
    assert all(p._joint[3] is j for p, j in zip(schedule.processors, joints))
    run(model, **x)  # forward 3: refreshed
    assert all(p._joint[3] is not j for p, j in zip(schedule.processors, joints))
    schedule.enabled = False  # switch back to dense
    torch.testing.assert_close(run(model, **x), stock, atol=0, rtol=0)
    schedule.reset()
    assert all(p.calls == 0 and p.plan is None for p in schedule.processors)


def test_sparse_output_matches_sdpa_with_the_joint_plans_mask():
    model, x = tiny_hunyuan(), inputs()
    HunyuanVideoFgattnProcessor.install(model, SparsitySchedule(dense_forwards=0, block_m=16, tau=0.05))
    seen = []

    def check(q, k, v, plan, **kw):
        out = real(q, k, v, plan, **kw)
        ref = torch.nn.functional.scaled_dot_product_attention(
            q.transpose(1, 2).double(), k.transpose(1, 2).double(), v.transpose(1, 2).double(),
            attn_mask=plan.token_mask()).transpose(1, 2)
        torch.testing.assert_close(out.double(), ref, atol=1e-5, rtol=1e-5)
        seen.append(plan.density())
        return out

    real, fgattn.attention = fgattn.attention, check
    try:
        run(model, **x)
    finally:
        fgattn.attention = real
    assert len(seen) == 2 and all(0 < d < 1 for d in seen)


def test_with_text_tokens_against_masks_and_errors():
    g = torch.Generator().manual_seed(2)
    B, H, S, M, text = 2, 3, 50, 8, 13
    km = torch.rand(B, H, -(-S // M), S, generator=g) < 0.3
    kv = torch.ones(B, S, dtype=torch.bool)
    kv[1, S - 5:] = False
    joint = Plan.from_key_mask(km, S, M).with_text_tokens(S - text, kv).validate()
    ref = km.clone()
    ref[..., S - text:] = True
    ref &= kv[:, None, None, :]
    ref[:, :, (S - text) // M:] = kv[:, None, None, :]  # blocks from the one holding the first text query: dense
    assert torch.equal(joint.key_mask(), ref)
    with pytest.raises(ValueError, match=r"text_start: must be in \[0, 50\]"):
        Plan.from_key_mask(km, S, M).with_text_tokens(51)
    with pytest.raises(ValueError, match=r"key_valid: must be bool \[2, 50\]"):
        Plan.from_key_mask(km, S, M).with_text_tokens(40, kv.long())
    with pytest.raises(ValueError, match="attention_mask: HunyuanVideoFgattnProcessor takes a bool key-padding"):
        fgattn.processor_hunyuan._key_valid(torch.ones(2, 1, S, S, dtype=torch.bool), 2, S)
