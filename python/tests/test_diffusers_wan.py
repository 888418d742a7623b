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


# A schedule with every mode: forward 0 stock, 1 build, 2-3 reuse, 4 build (at another tau: another nnz), 5-6 reuse.
SCHEDULE = dict(dense_forwards=1, refresh_at=(1, 4), block_m=16)
TAUS = {0: 0.03, 4: 0.06}


def run_schedule(model, schedule, x, forwards=range(7), after=None):
    """Outputs of the forwards numbered `forwards`, setting the predictor's tau as TAUS says; after(i) runs after
    forward i."""
    outs = []
    for i in forwards:
        schedule.tau = TAUS.get(i, schedule.tau)
        outs.append(run(model, **x))
        if after is not None:
            after(i)
    return outs


def eager_schedule(x):
    model = tiny_wan()
    schedule = FgattnProcessor.install(model, SparsitySchedule(**SCHEDULE))
    densities = []
    outs = run_schedule(model, schedule, x, after=lambda i: densities.append(schedule.densities()))
    assert densities[1] == densities[3] and densities[4] == densities[6] and densities[1] != densities[4]
    assert (outs[1] - outs[0]).abs().max() > 1e-4  # forward 1 is sparse, forward 0 stock
    return outs


def test_compiled_blocks_fullgraph_one_graph_per_mode_and_no_recompile():
    """Each transformer block compiled alone with fullgraph=True (regional compilation; inductor, C++ codegen on the
    CPU): no graph break on any forward (stock, build, reuse), the blocks share one graph per mode, and once each
    mode has run, no forward recompiles: not a reuse forward, not a refresh whose plan has another nnz."""
    import torch._dynamo
    from torch._dynamo.utils import counters

    x = inputs()
    eager = eager_schedule(x)
    model = tiny_wan()
    schedule = FgattnProcessor.install(model, SparsitySchedule(**SCHEDULE))
    torch._dynamo.reset()
    counters.clear()
    for i, block in enumerate(model.blocks):
        model.blocks[i] = torch.compile(block, fullgraph=True)
    outs = run_schedule(model, schedule, x, range(3))  # stock, build, reuse: one graph each, shared by the blocks
    assert counters["stats"]["unique_graphs"] == 3
    with torch._dynamo.config.patch(error_on_recompile=True):
        outs += run_schedule(model, schedule, x, range(3, 7))
    assert counters["stats"]["unique_graphs"] == 3
    for i, (a, b) in enumerate(zip(outs, eager)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5, msg=lambda m: f"forward {i}: {m}")


def test_compiled_transformer_matches_eager_over_the_schedule():
    """torch.compile of the whole transformer (default mode: inductor): the eager outputs over a schedule with a dense
    forward, refreshes and reuse; no graph break, and no new graph once each mode has run."""
    import torch._dynamo
    from torch._dynamo.utils import counters

    x = inputs()
    eager = eager_schedule(x)
    model = tiny_wan()
    schedule = FgattnProcessor.install(model, SparsitySchedule(**SCHEDULE))
    torch._dynamo.reset()
    counters.clear()
    graphs = []
    outs = run_schedule(torch.compile(model), schedule, x,
                        after=lambda i: graphs.append(counters["stats"]["unique_graphs"]))
    for i, (a, b) in enumerate(zip(outs, eager)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5, msg=lambda m: f"forward {i}: {m}")
    assert graphs[2] == graphs[-1] and graphs[0] < graphs[1] < graphs[2]  # stock, build, reuse; then none new
    assert not counters["graph_break"], dict(counters["graph_break"])


def test_processor_set_by_hand_follows_the_schedule_per_call():
    """A processor set with set_processor (no install, so no pre-hook) counts its own calls: the same outputs as
    installed processors over the schedule."""
    x = inputs()
    eager = eager_schedule(x)
    model = tiny_wan()
    schedule = SparsitySchedule(**SCHEDULE)
    for block in model.blocks:
        proc = FgattnProcessor(schedule, fallback=block.attn1.processor)
        schedule.processors.append(proc)
        block.attn1.set_processor(proc)
    assert not model._forward_pre_hooks
    for i, (a, b) in enumerate(zip(run_schedule(model, schedule, x), eager)):
        torch.testing.assert_close(a, b, atol=0, rtol=0, msg=lambda m: f"forward {i}: {m}")


def test_install_hook_uninstall_and_copies():
    """install() adds one pre-hook (a second install replaces it), uninstall() removes it; a deep copy of an installed
    model has its own processors, keys and plans, driven by its own hook."""
    import copy

    model, x = tiny_wan(), inputs()
    FgattnProcessor.install(model, SparsitySchedule(dense_forwards=0, block_m=16, tau=0.03))
    schedule = FgattnProcessor.install(model, SparsitySchedule(dense_forwards=0, block_m=16, tau=0.03))
    assert len(model._forward_pre_hooks) == 1
    run(model, **x)
    twin = copy.deepcopy(model)
    procs = [b.attn1.processor for b in model.blocks]
    copies = [b.attn1.processor for b in twin.blocks]
    assert procs == schedule.processors and not set(map(id, copies)) & set(map(id, procs))
    assert len({int(p._key) for p in procs + copies}) == 4
    for p in copies:
        p.plan = None  # the copy must build its own plans, with its own processors
    run(twin, **x)
    assert all(p.calls == 2 and p.plan is not None for p in copies) and all(p.calls == 1 for p in procs)
    FgattnProcessor.uninstall(model)
    assert not model._forward_pre_hooks and not any(isinstance(b.attn1.processor, FgattnProcessor)
                                                    for b in model.blocks)
    run(model, **x)
    assert all(p.calls == 1 for p in procs)


def test_processor_build_op_and_its_errors():
    """fgattn::processor_build: its schema and fake kernel (opcheck), the plan it caches, and an unknown key."""
    model, x = tiny_wan(), inputs()
    schedule = FgattnProcessor.install(model, SparsitySchedule(dense_forwards=0, block_m=16, tau=0.03))
    proc = schedule.processors[0]
    q, k, v = (torch.randn(1, 40, 2, 16) for _ in range(3))
    torch.library.opcheck(torch.ops.fgattn.processor_build.default, (q, k, v, proc._key))
    out = torch.ops.fgattn.processor_build(q, k, v, proc._key)
    assert proc.plan is not None and proc.plan.shape_matches(1, 2, 40, 40) and proc.mode == "plan"
    torch.testing.assert_close(out, fgattn.attention(q, k, v, proc.plan), atol=0, rtol=0)
    with pytest.raises(ValueError, match="key: no live FgattnProcessor has key -1"):
        torch.ops.fgattn.processor_build(q, k, v, torch.tensor([-1]))


def test_schedule_report_has_one_row_per_layer_with_the_plans_quality():
    model, x = tiny_wan(), inputs()
    schedule = FgattnProcessor.install(model, SparsitySchedule(dense_forwards=1, block_m=16, tau=0.03))
    run(model, **x)  # dense: no plans yet
    assert schedule.report() == [{"layer": 0, "density": None}, {"layer": 1, "density": None}]
    run(model, **x)
    first, second = (p.plan for p in schedule.processors)
    # a plan may carry a quality dict (the predictors' estimate of what it drops); its keys join the row, but they
    # cannot overwrite the layer or its density
    first.quality = {"dropped_mass_mean": 0.01, "dropped_mass_max": 0.05, "estimated": True, "density": -1.0}
    second.quality = None
    assert schedule.report() == [
        {"layer": 0, "density": first.density(), "dropped_mass_mean": 0.01, "dropped_mass_max": 0.05,
         "estimated": True},
        {"layer": 1, "density": second.density()}]
    assert 0 < first.density() < 1


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
