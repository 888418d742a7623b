"""The real client: diffusers' WanTransformer3DModel (tiny config, random weights) with fgattn's processor on its
self-attention layers. Dense plans must reproduce the stock attention; sparse plans must run and change the output;
cross-attention keeps its stock processor."""
import pytest
import torch

import fgattn
from fgattn import FgattnProcessor, Plan, SparsitySchedule

import diffusers  # noqa: E402  (pinned in python/requirements-ci.txt; a missing install must fail, not skip)


def tiny_wan(device="cpu", dtype=torch.float32):
    torch.manual_seed(0)
    model = diffusers.WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=16, in_channels=4, out_channels=4,
        text_dim=32, freq_dim=32, ffn_dim=64, num_layers=2, rope_max_seq_len=64)
    return model.to(device=device, dtype=dtype).eval()


def inputs(device="cpu", dtype=torch.float32, frames=3, height=10, width=14):
    g = torch.Generator().manual_seed(1)
    latents = torch.randn(1, 4, frames, height, width, generator=g).to(device, dtype)  # 3 x 5 x 7 = 105 tokens
    text = torch.randn(1, 12, 32, generator=g).to(device, dtype)
    t = torch.tensor([500], device=device)
    return dict(hidden_states=latents, timestep=t, encoder_hidden_states=text, return_dict=False)


def dense_predictor(block_m):
    return lambda q, k: Plan.dense(q.shape[0], q.shape[2], q.shape[1], k.shape[1], block_m)


def run(model, **kw):
    with torch.no_grad():
        return model(**kw)[0]


def test_dense_plan_matches_stock_attention():
    model, x = tiny_wan(), inputs()
    stock = run(model, **x)
    schedule = FgattnProcessor.install(model, SparsitySchedule(dense_forwards=0, predictor=dense_predictor(32),
                                                               block_m=32))
    assert len(schedule.processors) == 2  # one per block's attn1
    for block in model.blocks:  # self-attention only: cross-attention keeps the stock processor
        assert isinstance(block.attn1.processor, FgattnProcessor)
        assert not isinstance(block.attn2.processor, FgattnProcessor)
    out = run(model, **x)
    assert all(p.plan is not None and p.plan.density() == 1.0 for p in schedule.processors)
    torch.testing.assert_close(out, stock, atol=1e-5, rtol=1e-5)
    FgattnProcessor.uninstall(model)
    torch.testing.assert_close(run(model, **x), stock, atol=0, rtol=0)


def test_sdpa_for_dense_plans_routes_only_all_key_plans_to_sdpa():
    """With sdpa_for_dense_plans, a plan keeping every key runs stock SDPA (bit-identical to the stock forward) and
    never the fgattn op; a sparse plan still runs the op."""
    model, x = tiny_wan(), inputs()
    stock = run(model, **x)
    calls = []
    real = fgattn.attention

    def counting(*args, **kw):
        calls.append(1)
        return real(*args, **kw)

    fgattn.attention = counting
    try:
        FgattnProcessor.install(model, SparsitySchedule(dense_forwards=0, predictor=dense_predictor(32), block_m=32,
                                                        sdpa_for_dense_plans=True))
        torch.testing.assert_close(run(model, **x), stock, atol=0, rtol=0)
        assert calls == []
        FgattnProcessor.uninstall(model)
        FgattnProcessor.install(model, SparsitySchedule(dense_forwards=0, block_m=16, tau=0.03,
                                                        sdpa_for_dense_plans=True))
        sparse = run(model, **x)
        assert len(calls) == 2 and (sparse - stock).abs().max() > 1e-4
    finally:
        fgattn.attention = real


def test_sparse_plan_runs_differs_and_follows_the_schedule():
    model, x = tiny_wan(), inputs()
    stock = run(model, **x)
    schedule = FgattnProcessor.install(model, SparsitySchedule(dense_forwards=1, refresh_at=(1, 3), block_m=16,
                                                               tau=0.03))
    first = run(model, **x)  # forward 0: dense (stock)
    torch.testing.assert_close(first, stock, atol=0, rtol=0)
    assert all(p.plan is None for p in schedule.processors)
    sparse = run(model, **x)  # forward 1: plans built (oracle), sparse attention
    plans = [p.plan for p in schedule.processors]
    assert all(p is not None and 0.0 < p.density() < 1.0 for p in plans), schedule.densities()
    assert torch.isfinite(sparse).all()
    assert (sparse - stock).abs().max() > 1e-4
    run(model, **x)  # forward 2: the cached plans are reused
    assert all(p.plan is q for p, q in zip(schedule.processors, plans))
    run(model, **x)  # forward 3: refreshed
    assert all(p.plan is not q for p, q in zip(schedule.processors, plans))
    schedule.enabled = False  # switch back to dense
    torch.testing.assert_close(run(model, **x), stock, atol=0, rtol=0)
    schedule.enabled = True
    schedule.reset()
    assert all(p.calls == 0 and p.plan is None for p in schedule.processors)


def test_sparse_output_matches_sdpa_with_the_plans_mask():
    """Each layer's fgattn output equals SDPA with the boolean mask derived from that layer's plan."""
    model, x = tiny_wan(), inputs()
    schedule = FgattnProcessor.install(model, SparsitySchedule(dense_forwards=0, block_m=16, tau=0.03))
    seen = []

    def check(q, k, v, plan, **kw):
        out = real(q, k, v, plan, **kw)
        ref = torch.nn.functional.scaled_dot_product_attention(
            q.transpose(1, 2).double(), k.transpose(1, 2).double(), v.transpose(1, 2).double(),
            attn_mask=plan.token_mask()).transpose(1, 2)
        ok = plan.token_mask().any(-1).transpose(1, 2)  # rows with at least one key
        torch.testing.assert_close(out.double()[ok], ref[ok], atol=1e-5, rtol=1e-5)
        seen.append(plan.density())
        return out

    real, fgattn.attention = fgattn.attention, check
    try:
        run(model, **x)
    finally:
        fgattn.attention = real
    assert len(seen) == 2 and all(0 < d < 1 for d in seen)


def test_compiled_transformer_with_the_processor():
    """torch.compile of the whole transformer: same outputs as eager, and no recompilation from forward to forward
    (the schedule's counter and the plan building stay outside the graph)."""
    import torch._dynamo

    model, x = tiny_wan(), inputs()
    schedule = FgattnProcessor.install(model, SparsitySchedule(dense_forwards=1, refresh_at=(1, 4), block_m=16,
                                                               tau=0.03))
    eager = [run(model, **x) for _ in range(6)]
    schedule.reset()
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    compiled = torch.compile(model, backend="aot_eager")
    outs = []
    for i in range(6):
        outs.append(run(compiled, **x))
        if i == 2:
            graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    for a, b in zip(outs, eager):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    assert (outs[1] - outs[0]).abs().max() > 1e-4  # forward 1 is sparse, forward 0 dense
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == graphs  # forwards 3..5: no new graph


@pytest.mark.parametrize("fused", [False, True])
def test_project_qkv_with_permuted_weights_reorders_the_heads(fused):
    """fgattn.processor.project_qkv with `channels` (what the sequence-parallel processor uses to balance heads) gives
    exactly the heads of the plain projection in the permuted order, with separate and with fused to_qkv projections
    (the q/k RMS norm runs over all heads, so its weights are permuted too)."""
    from fgattn.processor import project_qkv
    attn = diffusers.WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=3, attention_head_dim=16, in_channels=4, out_channels=4,
        text_dim=32, freq_dim=32, ffn_dim=64, num_layers=1, rope_max_seq_len=64).blocks[0].attn1
    with torch.no_grad():
        for p in attn.parameters():  # random, not the initialiser's ones and zeros, so every weight matters
            p.copy_(torch.randn_like(p))
    if fused:
        attn.fuse_projections()
        assert attn.fused_projections
    x = torch.randn(1, 20, 48)
    angles = torch.randn(1, 20, 1, 16)
    rope = (angles.cos(), angles.sin())
    order = [2, 0, 1]
    channels = (torch.tensor(order)[:, None] * 16 + torch.arange(16)).flatten()
    with torch.no_grad():
        plain = project_qkv(attn, x, rope)
        permuted = project_qkv(attn, x, rope, channels)
    for a, b in zip(plain, permuted):
        torch.testing.assert_close(b, a[:, :, order], rtol=1e-5, atol=1e-6)
