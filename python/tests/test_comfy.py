"""fgattn.comfy and the ComfyUI node, against ComfyUI's attention-override contract (ComfyUI itself is not on PyPI).

The contract, as comfy/ldm/modules/attention.py implements it: when transformer_options holds
"optimized_attention_override", a call optimized_attention(q, k, v, heads=..., transformer_options=...) becomes
override(func, q, k, v, heads=..., transformer_options=...) with func the attention it would have run; q, k, v are
[B, S, H*D], or [B, H, S, D] with skip_reshape; the result [B, S, H*D], or [B, H, S, D] with skip_output_reshape.
`optimized_attention` below is this test's own implementation of that contract; Wan's blocks call it for
self-attention (q, k, v of the video tokens) and for cross-attention (keys of the 512 text tokens).
"""
import copy

import pytest
import torch
import torch.nn.functional as F

import fgattn
import fgattn.comfy
from comfyui_fgattn import NODE_CLASS_MAPPINGS, FgattnSparseAttention, parse_steps
from fgattn import Plan, SparsitySchedule

B, S, H, D, TEXT = 1, 150, 2, 16, 7  # 150 video tokens: not a multiple of the 64-query block


def stock_attention(q, k, v, heads, mask=None, attn_precision=None, skip_reshape=False, skip_output_reshape=False,
                    **kwargs):
    """The `func` ComfyUI would run: SDPA with ComfyUI's layouts."""
    if not skip_reshape:
        q, k, v = (t.unflatten(-1, (heads, -1)).transpose(1, 2) for t in (q, k, v))
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # [B, H, S, D]
    return out if skip_output_reshape else out.transpose(1, 2).flatten(2)


def optimized_attention(q, k, v, heads, **kwargs):
    override = (kwargs.get("transformer_options") or {}).get("optimized_attention_override")
    if override is not None:
        return override(stock_attention, q, k, v, heads=heads, **kwargs)
    return stock_attention(q, k, v, heads, **kwargs)


class CountingFunc:
    """Wraps stock_attention to count the calls fgattn hands back."""

    def __init__(self):
        self.calls = 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return stock_attention(*args, **kwargs)


def run_blocks(x, context, options, layers=2, func=None):
    """Two Wan-like blocks: self-attention of the video tokens, then cross-attention to the text."""
    outs = []
    for i in range(layers):
        options["block_index"], options["block_type"] = i, "double"
        q, k, v = (x * (1.0 + 0.1 * j + 0.05 * i) for j in range(3))
        attend = (lambda *a, **kw: options["optimized_attention_override"](func, *a, **kw)) if func else \
            optimized_attention
        self_out = attend(q, k, v, heads=H, transformer_options=options)
        cross_out = attend(self_out, context, context, heads=H, transformer_options=options)
        outs.append((self_out, cross_out))
    return outs


def inputs(dtype=torch.float32):
    return torch.randn(B, S, H * D, dtype=dtype) * 2, torch.randn(B, TEXT, H * D, dtype=dtype)


def sigma_options(step, steps=6):
    schedule = torch.linspace(1.0, 0.0, steps + 1)
    return {"sample_sigmas": schedule, "sigmas": schedule[step:step + 1].clone(), "cond_or_uncond": [0]}


class CountingPredictor:
    def __init__(self, dense=False, block_m=64):
        self.calls, self.dense, self.block_m = 0, dense, block_m

    def __call__(self, q, k):
        self.calls += 1
        if self.dense:
            return Plan.dense(q.shape[0], q.shape[2], q.shape[1], k.shape[1], self.block_m)
        return fgattn.oracle_plan(q, k, block_m=self.block_m, tau=4.0 / k.shape[1])


def test_self_attention_runs_fgattn_cross_attention_stays_stock():
    x, context = inputs()
    predictor = CountingPredictor(dense=True)
    override = fgattn.comfy.FgattnAttentionOverride(SparsitySchedule(dense_forwards=0, predictor=predictor))
    func = CountingFunc()
    options = dict(sigma_options(0), optimized_attention_override=override)
    for (self_out, cross_out), ref in zip(run_blocks(x, context, options, func=func),
                                          run_blocks(x, context, sigma_options(0))):
        # a dense plan is SDPA's function; cross-attention (7 text keys) is ComfyUI's own call
        torch.testing.assert_close(self_out, ref[0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(cross_out, ref[1], atol=1e-5, rtol=1e-5)
    assert func.calls == 2 and predictor.calls == 2  # the two cross-attention calls; one plan per layer
    assert len(override.layers) == 2 and all(d == 1.0 for d in override.schedule.densities())


def test_sparse_plan_matters():
    x, context = inputs()
    options = dict(sigma_options(0), optimized_attention_override=fgattn.comfy.FgattnAttentionOverride(
        SparsitySchedule(dense_forwards=0, predictor=CountingPredictor())))
    sparse = run_blocks(x, context, options)[0][0]
    dense = run_blocks(x, context, sigma_options(0))[0][0]
    assert torch.isfinite(sparse).all() and (sparse - dense).abs().max() > 1e-3
    assert 0.0 < options["optimized_attention_override"].schedule.densities()[0] < 1.0


def test_sampling_steps_dense_steps_refresh_and_a_new_generation():
    x, context = inputs()
    predictor = CountingPredictor()
    override = fgattn.comfy.FgattnAttentionOverride(SparsitySchedule(dense_forwards=1, refresh_at=(1, 3),
                                                                     predictor=predictor))
    func = CountingFunc()
    for step in range(5):  # 0: dense; 1: plans built; 2: reused; 3: rebuilt; 4: reused
        run_blocks(x, context, dict(sigma_options(step), optimized_attention_override=override), func=func)
    assert predictor.calls == 2 * 2  # two layers x steps 1 and 3
    assert func.calls == 5 * 2 + 2  # every cross-attention call, and step 0's self-attention
    assert fgattn.comfy.sampling_step(sigma_options(4)) == 4
    # A new generation: the step goes back. refresh_at=() would reuse forever, but the old plans are dropped.
    override.schedule.refresh_at = ()
    for step in (2, 3):
        run_blocks(x, context, dict(sigma_options(step), optimized_attention_override=override), func=func)
    assert predictor.calls == 4 + 2  # rebuilt once per layer at step 2, reused at step 3


def test_second_order_sampler_evaluations_belong_to_their_step():
    """Heun-like sampling: each step also evaluates the model at a sigma between two of the schedule's. Those calls
    count as the step before: no extra plan build at a refresh step, and no false new generation."""
    x, context = inputs()
    predictor = CountingPredictor()
    override = fgattn.comfy.FgattnAttentionOverride(SparsitySchedule(dense_forwards=0, refresh_at=(0, 2),
                                                                     predictor=predictor))
    schedule = torch.linspace(1.0, 0.0, 7)
    for step in range(4):
        for sigma in (schedule[step], 0.5 * (schedule[step] + schedule[step + 1])):
            options = {"sample_sigmas": schedule, "sigmas": sigma.reshape(1), "optimized_attention_override": override}
            run_blocks(x, context, options, func=CountingFunc())
    assert predictor.calls == 2 * 2  # two layers, built at steps 0 and 2 only
    assert all(state.last_step == 3 for state in override.layers.values())


def test_call_counting_without_sigmas_and_per_batch_composition():
    x, context = inputs()
    predictor = CountingPredictor()
    override = fgattn.comfy.FgattnAttentionOverride(SparsitySchedule(dense_forwards=1, refresh_at=(2,),
                                                                     predictor=predictor))
    func = CountingFunc()
    for _ in range(3):  # calls 0 (dense), 1 (no plan yet: built), 2 (refresh)
        for branch in ([0], [1]):  # conditional and unconditional passes keep their own plans
            run_blocks(x, context, {"cond_or_uncond": branch, "optimized_attention_override": override}, func=func)
    assert len(override.layers) == 4 and predictor.calls == 4 * 2
    override.schedule.reset()
    assert all(d is None for d in override.schedule.densities())


@pytest.mark.parametrize("skip_output_reshape", [False, True])
def test_bhsd_layouts(skip_output_reshape):
    q, k, v = (torch.randn(B, H, S, D) for _ in range(3))
    override = fgattn.comfy.FgattnAttentionOverride(SparsitySchedule(dense_forwards=0,
                                                                     predictor=CountingPredictor(dense=True)))
    kw = dict(skip_reshape=True, skip_output_reshape=skip_output_reshape, transformer_options=sigma_options(0))
    out = override(stock_attention, q, k, v, heads=H, **kw)
    torch.testing.assert_close(out, stock_attention(q, k, v, H, **kw), atol=1e-5, rtol=1e-5)


def test_calls_fgattn_does_not_take_go_to_func_or_the_previous_override():
    x, context = inputs()
    seen = []

    def previous(func, *args, **kwargs):
        seen.append(kwargs.get("mask") is not None or args[0].dtype)
        return func(*args, **kwargs)

    override = fgattn.comfy.FgattnAttentionOverride(SparsitySchedule(dense_forwards=0, predictor=CountingPredictor()),
                                                    previous=previous)
    mask = torch.zeros(S, S, dtype=torch.bool)
    mask[:, :3] = True
    options = sigma_options(0)
    out = override(stock_attention, x, x, x, heads=H, mask=mask, transformer_options=options)  # masked: stock
    torch.testing.assert_close(out, stock_attention(x, x, x, H, mask=mask))
    override(stock_attention, x.double(), x.double(), x.double(), heads=H, transformer_options=options)  # fp64
    override(stock_attention, x, context, context, heads=H, transformer_options=options)  # cross-attention
    override.schedule.enabled = False
    override(stock_attention, x, x, x, heads=H, transformer_options=options)
    assert seen == [True, torch.float64, torch.float32, torch.float32] and not override.layers


class FakeModelPatcher:
    """What patch_model uses of ComfyUI's ModelPatcher: clone() deep-copies model_options."""

    def __init__(self):
        self.model_options = {"transformer_options": {}}

    def clone(self):
        n = FakeModelPatcher()
        n.model_options = copy.deepcopy(self.model_options)
        return n


def test_patch_model_and_the_node():
    model = FakeModelPatcher()
    schedule = SparsitySchedule(dense_forwards=0)
    patched = fgattn.comfy.patch_model(model, schedule)
    override = patched.model_options["transformer_options"]["optimized_attention_override"]
    assert "optimized_attention_override" not in model.model_options["transformer_options"]
    assert override.schedule is schedule and patched.clone().model_options["transformer_options"][
        "optimized_attention_override"] is override  # clones share it: the caller's schedule keeps steering
    again = fgattn.comfy.patch_model(patched)
    assert again.model_options["transformer_options"]["optimized_attention_override"].previous is override

    node = NODE_CLASS_MAPPINGS["FgattnSparseAttention"]()
    assert set(FgattnSparseAttention.INPUT_TYPES()["required"]) == {
        "model", "enabled", "dense_steps", "refresh_steps", "block_m", "tau_factor"}
    (out,) = node.patch(model, True, 1, "0, 3,2", "64", 2.0)
    node_override = out.model_options["transformer_options"]["optimized_attention_override"]
    assert node_override.schedule.refresh_at == (0, 2, 3) and node_override.schedule.dense_forwards == 1
    x, context = inputs()
    for step in range(2):
        run_blocks(x, context, dict(sigma_options(step), optimized_attention_override=node_override))
    densities = node_override.schedule.densities()
    assert len(densities) == 2 and all(0.0 < d < 1.0 for d in densities)  # tau = 2 / Skv keeps some keys
    assert set(FgattnSparseAttention.INPUT_TYPES()["optional"]) == {"predictor", "topcdf_tau", "plan_cache_mb"}
    (out,) = node.patch(model, True, 0, "", "64", 0.5, predictor="topcdf", topcdf_tau=0.5)
    topcdf = out.model_options["transformer_options"]["optimized_attention_override"]
    run_blocks(x, context, dict(sigma_options(0), optimized_attention_override=topcdf))
    assert all(0.0 < d <= 1.0 for d in topcdf.schedule.densities())
    with pytest.raises(ValueError, match="predictor: must be 'oracle' or 'topcdf'"):
        node.patch(model, True, 0, "", "64", 0.5, predictor="magic")
    with pytest.raises(ValueError, match=r"topcdf_tau: must be in \(0, 1\]"):
        node.patch(model, True, 0, "", "64", 0.5, predictor="topcdf", topcdf_tau=0.0)
    assert parse_steps("") == ()
    with pytest.raises(ValueError, match="refresh_steps: expected comma-separated step numbers"):
        node.patch(model, True, 1, "0, ten", "128", 0.5)
    with pytest.raises(ValueError, match="tau_factor: must be >= 0"):
        node.patch(model, True, 1, "0", "128", -1.0)
    with pytest.raises(ValueError, match="fgattn.set_plan_cache_budget: megabytes must be >= 0"):
        node.patch(model, True, 1, "0", "128", 0.5, plan_cache_mb=-1)
    with pytest.raises(ValueError, match="megabytes must be >= 0"):
        fgattn.comfy.FgattnAttentionOverride(plan_cache_mb=-1)
    (out,) = node.patch(model, True, 1, "0", "128", 0.5, plan_cache_mb=512)  # the op's plan cache: 512 MB
    fgattn.set_plan_cache_budget(0)
