"""The op on the GPU (scripts/gpu-check runs these; skipped without CUDA or without the op's CUDA path).

Tolerance (docs/style.md, FA3's rule): with inputs rounded to the kernel dtype, max|out - ref_hi| <= 2 max|ref_lo - ref_hi|
+ atol, where ref_hi is the fp32 math reference and ref_lo the same attention computed by torch in the kernel dtype.
"""
import math
import os

import pytest
import torch
import torch.nn.functional as F

# FGATTN_REQUIRE_GPU=1 (scripts/gpu-check) turns every skip below into a failure.
REQUIRE_GPU = os.environ.get("FGATTN_REQUIRE_GPU") == "1"
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available() and not REQUIRE_GPU, reason="needs a CUDA GPU")]

import fgattn  # noqa: E402
from fgattn import Plan  # noqa: E402
from fgattn.workload import video_workload  # noqa: E402

DTYPES = [torch.bfloat16, torch.float16]
ATOL = {torch.bfloat16: 2e-3, torch.float16: 5e-4}


@pytest.fixture(autouse=True)
def _needs_cuda_op():
    q = torch.zeros(1, 64, 1, 64, device="cuda", dtype=torch.bfloat16)
    p = Plan.dense(1, 1, 64, 64, 64)
    try:
        fgattn.attention(q, q, q, p)
    except RuntimeError as e:
        if "built without CUDA" in str(e) and not REQUIRE_GPU:
            pytest.skip("the op library was built without CUDA")
        raise


def rand(B, S, H, D, dtype):
    return torch.randn(B, S, H, D, device="cuda", dtype=dtype)


def sdpa(q, k, v, mask=None, dtype=None):
    """SDPA on [B, S, H, D]; dtype=float32 forces the math path in fp32 (ref_hi)."""
    t = lambda x: x.transpose(1, 2).to(dtype or x.dtype)  # noqa: E731
    if dtype == torch.float32:
        with torch.nn.attention.sdpa_kernel(torch.nn.attention.SDPBackend.MATH):
            return F.scaled_dot_product_attention(t(q), t(k), t(v), attn_mask=mask).transpose(1, 2)
    return F.scaled_dot_product_attention(t(q), t(k), t(v), attn_mask=mask).transpose(1, 2)


def check_close(out, q, k, v, mask=None, rows=None):
    hi = sdpa(q, k, v, mask, torch.float32)
    lo = sdpa(q, k, v, mask)
    if rows is not None:
        out, hi, lo = out[rows], hi[rows], lo[rows]
    err = (out.float() - hi).abs().max().item()
    bound = 2 * (lo.float() - hi).abs().max().item() + ATOL[q.dtype]
    assert err <= bound, f"max err {err:.3e} > bound {bound:.3e} (mean {(out.float() - hi).abs().mean():.3e})"


def random_shapes(n, seed):
    g = torch.Generator().manual_seed(seed)
    for _ in range(n):
        B = int(torch.randint(1, 3, (1,), generator=g))
        H = int(torch.randint(1, 5, (1,), generator=g))
        Sq = int(torch.randint(1, 700, (1,), generator=g))
        Skv = int(torch.randint(1, 700, (1,), generator=g))
        D = [64, 128][int(torch.randint(0, 2, (1,), generator=g))]
        M = [64, 128][int(torch.randint(0, 2, (1,), generator=g))]
        yield B, Sq, Skv, H, D, M


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", list(random_shapes(6, 1)) + [(1, 32760 // 8, 32760 // 8, 2, 128, 128)])
def test_dense_plan_vs_sdpa(dtype, shape):
    B, Sq, Skv, H, D, M = shape
    q, k, v = rand(B, Sq, H, D, dtype), rand(B, Skv, H, D, dtype), rand(B, Skv, H, D, dtype)
    out, lse = fgattn.attention(q, k, v, Plan.dense(B, H, Sq, Skv, M), return_lse=True)
    check_close(out, q, k, v)
    s = torch.einsum("bqhd,bkhd->bhqk", q.float(), k.float()) / math.sqrt(D)
    torch.testing.assert_close(lse, torch.logsumexp(s, -1), atol=1e-3, rtol=1e-3)


def key_mask(B, H, nqb, Skv, density, seed):
    g = torch.Generator().manual_seed(seed)
    m = torch.rand(B, H, nqb, Skv, generator=g) < density
    m[..., 0] = True  # no empty rows here (SDPA gives NaN for them): see test_empty_rows
    return m


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("density", [0.02, 0.2, 0.68])
@pytest.mark.parametrize("shape", list(random_shapes(4, 2)))
def test_mx1_plan_vs_sdpa_bool_mask(dtype, density, shape):
    B, Sq, Skv, H, D, M = shape
    q, k, v = rand(B, Sq, H, D, dtype), rand(B, Skv, H, D, dtype), rand(B, Skv, H, D, dtype)
    plan = Plan.from_key_mask(key_mask(B, H, -(-Sq // M), Skv, density, 3), Sq, M)
    out = fgattn.attention(q, k, v, plan)
    check_close(out, q, k, v, plan.token_mask().cuda())
    if density < 0.5:  # the mask matters
        assert (out.float() - sdpa(q, k, v).float()).abs().max() > 1e-2


@pytest.mark.parametrize("dtype", DTYPES)
def test_mx1_plan_vs_flex_attention(dtype):
    flex = pytest.importorskip("torch.nn.attention.flex_attention")
    B, H, Sq, Skv, D, M = 1, 2, 1000, 1000, 128, 128
    q, k, v = rand(B, Sq, H, D, dtype), rand(B, Skv, H, D, dtype), rand(B, Skv, H, D, dtype)
    km = key_mask(B, H, -(-Sq // M), Skv, 0.3, 4).cuda()
    plan = Plan.from_key_mask(km, Sq, M)

    def mask_mod(b, h, qi, kj):  # the same token mask: query qi sees its block's keys
        return km[b, h, qi // M, kj]

    bm = flex.create_block_mask(mask_mod, B, H, Sq, Skv, device="cuda")
    ref = flex.flex_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), block_mask=bm).transpose(1, 2)
    out = fgattn.attention(q, k, v, plan)
    hi = sdpa(q, k, v, plan.token_mask().cuda(), torch.float32)
    assert (out.float() - hi).abs().max() <= 2 * (ref.float() - hi).abs().max() + ATOL[dtype]


@pytest.mark.parametrize("dtype", DTYPES)
def test_bhsd_and_empty_rows(dtype):
    B, H, Sq, Skv, D, M = 1, 2, 300, 250, 64, 64
    qb, kb, vb = (torch.randn(B, H, s, D, device="cuda", dtype=dtype) for s in (Sq, Skv, Skv))
    km = key_mask(B, H, 5, Skv, 0.3, 5)
    km[0, 1, 2] = False  # queries 128..191 of head 1 keep nothing
    plan = Plan.from_key_mask(km, Sq, M)
    out, lse = fgattn.attention(qb, kb, vb, plan, layout="bhsd", return_lse=True)
    assert out.shape == qb.shape
    assert torch.all(out[0, 1, 128:192] == 0) and torch.all(torch.isneginf(lse[0, 1, 128:192]))
    rows = torch.ones(B, Sq, H, dtype=torch.bool, device="cuda")
    rows[0, 128:192, 1] = False
    mask = plan.token_mask().cuda()
    mask[0, 1, 128:192, 0] = True  # keep SDPA finite on the empty rows (they are excluded from the check)
    check_close(out.transpose(1, 2), qb.transpose(1, 2), kb.transpose(1, 2), vb.transpose(1, 2), mask, rows)


def test_plan_reuse_and_a_different_plan():
    B, H, S, D, M = 1, 4, 1024, 128, 128
    q, k, v = (rand(B, S, H, D, torch.bfloat16) for _ in range(3))
    p1 = Plan.from_key_mask(key_mask(B, H, 8, S, 0.2, 6), S, M)
    p2 = Plan.from_key_mask(key_mask(B, H, 8, S, 0.2, 7), S, M)
    a, b = fgattn.attention(q, k, v, p1), fgattn.attention(q, k, v, p1)
    assert torch.equal(a, b)
    assert (fgattn.attention(q, k, v, p2) - a).abs().max() > 1e-2


def assert_oracle_plan(plan, q, k, block_m, tau=None):
    """plan equals the exact oracle (double, on the CPU) except for keys whose score lies within rounding of tau."""
    scores = fgattn.slice_scores(q.double().cpu(), k.double().cpu(), block_m)
    tau = 0.5 / k.shape[1] if tau is None else tau
    differ = plan.key_mask() ^ (scores > tau)
    at_tau = (scores.double() - tau).abs() <= 2e-3 * tau
    assert not (differ & ~at_tau).any(), f"{int((differ & ~at_tau).sum())} keys differ away from tau"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", list(random_shapes(3, 8)) + [(1, 200, 1, 2, 64, 64)])
def test_oracle_op_on_the_gpu(dtype, shape):
    """torch.ops.fgattn.oracle_plan on CUDA (the tensor-core OraclePredictor), with and without attention()'s LSE."""
    assert fgattn.built_with_cuda()
    B, Sq, Skv, H, D, M = shape
    q, k, v = rand(B, Sq, H, D, dtype) * 3, rand(B, Skv, H, D, dtype), rand(B, Skv, H, D, dtype)
    plan = fgattn.oracle_plan(q, k, block_m=M)  # auto: the kernel for these inputs
    assert plan.offsets.device == q.device and plan.indices.device == q.device  # the plan stays on the GPU
    assert plan.shape_matches(B, H, Sq, Skv)
    assert_oracle_plan(plan.validate(), q, k, M)
    _, lse = fgattn.attention(q, k, v, Plan.dense(B, H, Sq, Skv, M), return_lse=True)
    assert_oracle_plan(fgattn.oracle_plan(q, k, block_m=M, lse=lse).validate(), q, k, M)
    bhsd = fgattn.oracle_plan(q.transpose(1, 2).contiguous(), k.transpose(1, 2).contiguous(), block_m=M,
                              layout="bhsd", tau=1e-3)
    assert_oracle_plan(bhsd, q, k, M, tau=1e-3)


@pytest.mark.parametrize("predictor", ["oracle", "topcdf"])
def test_gpu_predictor_plans_run_on_the_device_as_they_are(predictor):
    """A GPU predictor's plan comes back as CUDA tensors that attention() runs without a host round trip; the same
    plan on the CPU (uploaded from the host) gives the same output, and so does the device plan once evicted from
    the op's cache (a 1 MB budget in test_device_plan_cache_budget)."""
    # The video-like generator's q, k (4 x 15 x 17 tokens): structured enough that both predictors drop keys (plain
    # random q, k keep every key at the default thresholds); on the CPU op the plans keep 72 % and 56 %.
    q, k, v = (t.to("cuda", torch.bfloat16) for t in video_workload(4, 15, 17, 3, 128))
    B, S, H, D, M = 1, q.shape[1], 3, 128, 128
    plan = fgattn.oracle_plan(q, k, block_m=M) if predictor == "oracle" else fgattn.topcdf_plan(q, k, block_m=M)
    assert plan.offsets.is_cuda and 0 < plan.density() < 1
    out = fgattn.attention(q, k, v, plan)
    host = Plan(plan.offsets.cpu(), plan.indices.cpu(), B, H, S, S, M).validate()
    assert torch.equal(out, fgattn.attention(q, k, v, host))
    assert not torch.equal(out, fgattn.attention(q, k, v, Plan.dense(B, H, S, S, M)))  # the plan matters
    if predictor == "oracle":  # no probability exceeds 1: an empty device plan, O = 0 and LSE = -inf everywhere
        empty = fgattn.oracle_plan(q, k, block_m=M, tau=1.0)
        assert empty.offsets.is_cuda and empty.nnz == 0
        out, lse = fgattn.attention(q, k, v, empty, return_lse=True)
        assert not out.any() and bool(torch.isneginf(lse).all())


def test_plans_built_on_the_gpu_run_where_they_are_and_broken_ones_are_refused():
    """A plan the caller puts on the GPU (not a predictor's) is checked there (the library's validate_csr_cuda) and
    run as it is: the same output as from the host; with_text_tokens keeps a GPU plan on the GPU and equals the CPU
    result; a broken GPU plan is refused with the host check's message, by Plan.validate() and by attention()."""
    B, S, H, D, M = 1, 700, 2, 64, 64
    q, k, v = rand(B, S, H, D, torch.float16), rand(B, S, H, D, torch.float16), rand(B, S, H, D, torch.float16)
    host = Plan.from_key_mask(torch.rand(B, H, -(-S // M), S) < 0.3, S, M)
    gpu = host.to("cuda")
    assert gpu.offsets.is_cuda and gpu.validate() is gpu
    assert torch.equal(fgattn.attention(q, k, v, gpu), fgattn.attention(q, k, v, host))
    text_gpu, text_cpu = gpu.with_text_tokens(600), host.with_text_tokens(600)
    assert text_gpu.offsets.is_cuda
    assert torch.equal(text_gpu.offsets.cpu(), text_cpu.offsets) and torch.equal(text_gpu.indices.cpu(), text_cpu.indices)
    assert torch.equal(fgattn.attention(q, k, v, text_gpu), fgattn.attention(q, k, v, text_cpu))
    broken = host.indices.clone()
    broken[0], broken[1] = host.indices[1], host.indices[0]
    bad = Plan(host.offsets.cuda(), broken.cuda(), B, H, S, S, M)
    with pytest.raises(ValueError) as on_host:
        Plan(host.offsets, broken, B, H, S, S, M).validate()
    assert "plan row 0 (b=0, h=0, query block 0): keys must be sorted ascending and unique" in str(on_host.value)
    with pytest.raises(ValueError) as on_device:
        bad.validate()
    assert str(on_device.value) == str(on_host.value)
    with pytest.raises(ValueError, match="fgattn.attention: plan.indices: plan row 0 .* must be sorted ascending"):
        fgattn.attention(q, k, v, bad)


def test_oracle_op_on_the_gpu_refusals_and_fallbacks():
    B, S, H, D, M = 1, 256, 2, 64, 128
    q, k = rand(B, S, H, D, torch.bfloat16), rand(B, S, H, D, torch.bfloat16)
    lse = torch.zeros(B, H, S, device="cuda")
    with pytest.raises(ValueError, match=r"lse must have shape \[B, H, Sq\]"):
        torch.ops.fgattn.oracle_plan(q, k, M, None, lse[:, :, :-1])
    with pytest.raises(ValueError, match="lse must be on q's device"):
        torch.ops.fgattn.oracle_plan(q, k, M, None, lse.cpu())
    with pytest.raises(TypeError, match="lse must be float32"):
        torch.ops.fgattn.oracle_plan(q, k, M, None, lse.half())
    with pytest.raises(ValueError, match="fgattn.oracle_plan: .*block_m"):
        torch.ops.fgattn.oracle_plan(q, k, 96, None, None)
    # auto takes torch ops where the GPU predictor does not apply (fp32, head dim 32, block_m 32): the same rule
    for qq, kk, m in ((q.float(), k.float(), M), (q[..., :32], k[..., :32], M), (q, k, 32)):
        assert_oracle_plan(fgattn.oracle_plan(qq, kk, block_m=m), qq, kk, m)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", list(random_shapes(3, 9)))
def test_topcdf_op_on_the_gpu_matches_the_cpu(dtype, shape):
    B, Sq, Skv, H, D, M = shape
    q, k = rand(B, Sq, H, D, dtype) * 3, rand(B, Skv, H, D, dtype)
    for tau in (0.5, 1.0):
        gpu = fgattn.topcdf_plan(q, k, block_m=M, pool=16, tau=tau)  # auto: the GPU for these inputs
        cpu = fgattn.topcdf_plan(q.cpu(), k.cpu(), block_m=M, pool=16, tau=tau)
        differing = int((gpu.validate().key_mask() ^ cpu.key_mask()).sum())
        # as tests/cuda/test_predict_cuda.cpp: a pool whose cumulative mass sits at the cut may differ
        assert differing <= (0 if tau == 1.0 else cpu.nnz // 50 + 32), differing


class Block(torch.nn.Module):
    def __init__(self, dim=256, heads=2):
        super().__init__()
        self.heads = heads
        self.qkv = torch.nn.Linear(dim, 3 * dim)
        self.out = torch.nn.Linear(dim, dim)

    def forward(self, x, plan):
        q, k, v = self.qkv(x).unflatten(-1, (3, self.heads, -1)).unbind(2)
        return self.out(fgattn.attention(q, k, v, plan).flatten(2)) + x


def test_torch_compile_inductor_fullgraph():
    torch._dynamo.reset()
    block = Block().cuda().to(torch.bfloat16)
    x = torch.randn(2, 777, 256, device="cuda", dtype=torch.bfloat16)
    plan = Plan.from_key_mask(key_mask(2, 2, 7, 777, 0.3, 8), 777, 128)
    compiled = torch.compile(block, fullgraph=True)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x, plan), block(x, plan), atol=2e-2, rtol=2e-2)


def test_diffusers_wan_on_gpu():
    if not REQUIRE_GPU:
        pytest.importorskip("diffusers")
    import diffusers  # the GPU image lacks it: scripts/gpu-test-torch installs it from carried wheels
    from test_diffusers_wan import dense_predictor, inputs, run

    from fgattn import FgattnProcessor, SparsitySchedule

    torch.manual_seed(0)
    model = diffusers.WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=64, in_channels=4, out_channels=4,
        text_dim=32, freq_dim=32, ffn_dim=256, num_layers=2, rope_max_seq_len=64).cuda().to(torch.bfloat16).eval()
    x = inputs("cuda", torch.bfloat16, frames=3, height=20, width=28)  # 3 x 10 x 14 = 420 tokens
    stock = run(model, **x).float()
    FgattnProcessor.install(model, SparsitySchedule(dense_forwards=0, predictor=dense_predictor(128)))
    dense = run(model, **x).float()
    assert (dense - stock).abs().max() <= 0.05 * stock.abs().max()
    FgattnProcessor.uninstall(model)
    FgattnProcessor.install(model, SparsitySchedule(dense_forwards=0, block_m=128, tau=0.01))
    sparse = run(model, **x).float()
    assert torch.isfinite(sparse).all() and (sparse - stock).abs().max() > 1e-3


def test_e2e_bench_tiny_on_gpu(tmp_path):
    """bench/e2e_wan.py --tiny on the GPU: the same code path as the 480p/720p run (cuDNN SDPA forced, generator
    plans, the fgattn processor), small enough to run in seconds."""
    if not REQUIRE_GPU:
        pytest.importorskip("diffusers")
    import json
    import subprocess
    import sys
    from pathlib import Path

    out = tmp_path / "e2e.json"
    bench = Path(__file__).resolve().parents[2] / "bench" / "e2e_wan.py"
    r = subprocess.run([sys.executable, str(bench), "--tiny", "--device", "cuda", "--iters", "2", "--out", str(out)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    records = json.loads(out.read_text())
    assert [(x["backend"], x["density"]) for x in records] == \
        [("sdpa-cudnn", 1.0)] + [("fgattn", d) for d in (1.0, 0.68, 0.5, 0.35, 0.2)]
    for x in records:
        assert x["kind"] == "e2e" and x["device"] == torch.cuda.get_device_name() and x["dtype"] == "bf16"
        assert x["finite"] and x["ms"] > 0 and 0 < x["attention_share"] <= 1
        assert abs(x["plan_density"] - x["density"]) <= 0.01 * x["density"]
    assert records[1]["rel_diff_vs_sdpa"] <= 0.02  # dense plan vs cuDNN: bf16 rounding only
    # A 20 % plan changes the output beyond bf16 noise (fp32 on the CPU: 0.029 against the dense plan's 3e-7).
    assert records[-1]["rel_diff_vs_sdpa"] > max(5e-3, 2 * records[1]["rel_diff_vs_sdpa"])


def test_diffusers_hunyuan_on_gpu():
    """HunyuanVideo's joint attention through the CUDA kernel (head dim 64: the kernel's; padded text keys)."""
    if not REQUIRE_GPU:
        pytest.importorskip("diffusers")
    import diffusers
    from test_diffusers_hunyuan import dense_predictor, inputs, run

    from fgattn import HunyuanVideoFgattnProcessor, SparsitySchedule

    torch.manual_seed(0)
    model = diffusers.HunyuanVideoTransformer3DModel(
        in_channels=4, out_channels=4, num_attention_heads=2, attention_head_dim=64, num_layers=1, num_single_layers=1,
        num_refiner_layers=1, mlp_ratio=2.0, patch_size=2, patch_size_t=1, guidance_embeds=False, text_embed_dim=16,
        pooled_projection_dim=8, rope_axes_dim=(16, 24, 24)).cuda().to(torch.bfloat16).eval()
    x = {k: (v.cuda().to(torch.bfloat16) if torch.is_tensor(v) and v.is_floating_point() else
             v.cuda() if torch.is_tensor(v) else v) for k, v in inputs(16, 16).items()}  # 192 video + 6 text tokens
    stock = run(model, **x).float()
    HunyuanVideoFgattnProcessor.install(model, SparsitySchedule(dense_forwards=0, predictor=dense_predictor(64)))
    dense = run(model, **x).float()
    rel = lambda a: float((a - stock).norm() / stock.norm())  # noqa: E731  (relative L2: max is at bf16's ulp)
    assert rel(dense) <= 0.01  # bf16 rounding (0.0014 in bf16 on the CPU)
    HunyuanVideoFgattnProcessor.uninstall(model)
    schedule = HunyuanVideoFgattnProcessor.install(model, SparsitySchedule(
        dense_forwards=0, predictor=lambda q, k: fgattn.oracle_plan_at_density(q, k, 0.3, 64)[0]))
    sparse = run(model, **x).float()
    assert all(0.3 < p._joint[3].density() < 0.7 for p in schedule.processors)  # text rows and keys added back
    assert torch.isfinite(sparse).all() and rel(sparse) > 3 * rel(dense)  # 0.0082 on the CPU


def test_comfy_override_on_gpu():
    """fgattn.comfy's override through the CUDA kernel (Wan's [B, S, H*D] self-attention call, bf16, head dim 64)."""
    import fgattn.comfy
    from fgattn import SparsitySchedule

    B, S, H, D = 1, 700, 2, 64
    q, k, v = (torch.randn(B, S, H * D, device="cuda", dtype=torch.bfloat16) for _ in range(3))
    dense = fgattn.comfy.FgattnAttentionOverride(SparsitySchedule(
        dense_forwards=0, predictor=lambda qq, kk: Plan.dense(qq.shape[0], qq.shape[2], qq.shape[1], kk.shape[1], 128)))
    out = dense(None, q, k, v, heads=H, transformer_options={})
    assert out.shape == q.shape and dense.layers  # taken by fgattn (func=None would fail if handed back)
    split = lambda t: t.unflatten(-1, (H, D))  # noqa: E731
    check_close(split(out), split(q), split(k), split(v))
    sparse = fgattn.comfy.FgattnAttentionOverride(SparsitySchedule(dense_forwards=0, tau=4.0 / S))
    out_sparse = sparse(None, q * 4, k, v, heads=H, transformer_options={})  # the default predictor: GPU oracle
    assert torch.isfinite(out_sparse).all() and 0.0 < sparse.schedule.densities()[0] < 1.0


def test_predictor_workspace_when_torch_caches_the_free_memory():
    """The GPU oracle allocates its workspace with cudaMalloc: with nearly all free memory held in torch's cache, the
    op hands the cache back to the driver and retries instead of failing with out of memory."""
    q, k = rand(1, 8192, 8, 128, torch.bfloat16), rand(1, 8192, 8, 128, torch.bfloat16)  # ~20 MB of workspace
    torch.cuda.synchronize()
    free, _ = torch.cuda.mem_get_info()
    hog = torch.empty(free - (8 << 20), dtype=torch.uint8, device="cuda")
    del hog  # now cached by torch, not free for cudaMalloc
    try:
        assert torch.cuda.mem_get_info()[0] < (16 << 20)
        plan = fgattn.oracle_plan(q, k, block_m=128)
        assert plan.validate().nnz > 0
    finally:
        torch.cuda.empty_cache()


def test_device_plan_cache_budget():
    """fgattn.set_plan_cache_budget (or a processor's plan_cache_mb) bounds the plans kept on the device: with room for
    one plan, alternating plans are uploaded again each time and still give the same outputs; a negative budget is
    refused by name; 0 restores the default."""
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, 8192, 4, 128, device="cuda", dtype=torch.bfloat16) for _ in range(3))
    plans = [Plan.from_key_mask(torch.rand(1, 4, 64, 8192) < 0.5, 8192, 128) for _ in range(2)]  # ~4 MB each on GPU
    plans.append(fgattn.oracle_plan(q, k, block_m=128))  # a device plan: evicted, then checked and borrowed again
    first = [fgattn.attention(q, k, v, p) for p in plans]
    try:
        fgattn.FgattnProcessor(fgattn.SparsitySchedule(), plan_cache_mb=1)  # sets the op's budget to 1 MB
        for _ in range(3):
            for p, ref in zip(plans, first):
                assert torch.equal(fgattn.attention(q, k, v, p), ref)
        with pytest.raises(ValueError, match="fgattn.set_plan_cache_budget: megabytes must be >= 0"):
            fgattn.set_plan_cache_budget(-1)
    finally:
        fgattn.set_plan_cache_budget(0)
    for p, ref in zip(plans, first):
        assert torch.equal(fgattn.attention(q, k, v, p), ref)
