"""torch.ops.fgattn.attention on the CPU (the library's double-accumulating reference) against torch SDPA."""
import math

import pytest
import torch
import torch.nn.functional as F

import fgattn
from fgattn import Plan


def sdpa_bshd(q, k, v, mask=None):
    """SDPA in fp64 on [B, S, H, D] inputs; mask: bool [B, H, Sq, Skv]."""
    out = F.scaled_dot_product_attention(q.transpose(1, 2).double(), k.transpose(1, 2).double(),
                                         v.transpose(1, 2).double(), attn_mask=mask)
    return out.transpose(1, 2)


def lse_bshd(q, k, mask=None):
    s = torch.einsum("bqhd,bkhd->bhqk", q.double(), k.double()) / math.sqrt(q.shape[-1])
    if mask is not None:
        s = s.masked_fill(~mask, -math.inf)
    return torch.logsumexp(s, dim=-1)


def random_key_mask(B, H, nqb, skv, density, min_keys=1):
    m = torch.rand(B, H, nqb, skv) < density
    if min_keys:
        m[..., torch.randint(skv, (1,))] = True  # every row keeps at least one key
    return m


def qkv(B, Sq, Skv, H, D, dtype=torch.float32):
    return (torch.randn(B, Sq, H, D, dtype=dtype), torch.randn(B, Skv, H, D, dtype=dtype),
            torch.randn(B, Skv, H, D, dtype=dtype))


@pytest.mark.parametrize("B,Sq,Skv,H,D,M", [(1, 64, 64, 2, 16, 16), (2, 77, 45, 3, 32, 16), (1, 130, 257, 2, 64, 64),
                                            (1, 5, 3, 1, 8, 128)])
def test_dense_plan_matches_sdpa(B, Sq, Skv, H, D, M):
    q, k, v = qkv(B, Sq, Skv, H, D)
    out, lse = fgattn.attention(q, k, v, Plan.dense(B, H, Sq, Skv, M), return_lse=True)
    assert out.shape == q.shape and out.dtype == q.dtype and lse.shape == (B, H, Sq)
    torch.testing.assert_close(out.double(), sdpa_bshd(q, k, v), atol=2e-6, rtol=1e-5)
    torch.testing.assert_close(lse.double(), lse_bshd(q, k), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("density", [0.05, 0.3, 0.7])
@pytest.mark.parametrize("Sq,Skv,M", [(96, 96, 32), (101, 67, 16), (33, 200, 64)])
def test_sparse_plan_matches_sdpa_with_mask(density, Sq, Skv, M):
    B, H, D = 2, 2, 32
    q, k, v = qkv(B, Sq, Skv, H, D)
    plan = Plan.from_key_mask(random_key_mask(B, H, -(-Sq // M), Skv, density), Sq, M)
    mask = plan.token_mask()  # every query of block i sees exactly block i's keys
    out, lse = fgattn.attention(q, k, v, plan, return_lse=True)
    torch.testing.assert_close(out.double(), sdpa_bshd(q, k, v, mask), atol=2e-6, rtol=1e-5)
    torch.testing.assert_close(lse.double(), lse_bshd(q, k, mask), atol=1e-5, rtol=1e-5)
    # the mask matters: the dense result is different
    assert (out - fgattn.attention(q, k, v, Plan.dense(B, H, Sq, Skv, M))).abs().max() > 1e-3


def test_bhsd_layout_through_strides():
    B, H, Sq, Skv, D, M = 1, 3, 70, 50, 16, 32
    qb, kb, vb = torch.randn(B, H, Sq, D), torch.randn(B, H, Skv, D), torch.randn(B, H, Skv, D)
    plan = Plan.from_key_mask(random_key_mask(B, H, -(-Sq // M), Skv, 0.4), Sq, M)
    out = fgattn.attention(qb, kb, vb, plan, layout="bhsd")
    assert out.shape == qb.shape and out.is_contiguous()  # O comes back in q's layout
    ref = F.scaled_dot_product_attention(qb.double(), kb.double(), vb.double(), attn_mask=plan.token_mask())
    torch.testing.assert_close(out.double(), ref, atol=2e-6, rtol=1e-5)
    # the same through the BSHD entry point with transposed views gives the same numbers
    same = fgattn.attention(qb.transpose(1, 2), kb.transpose(1, 2), vb.transpose(1, 2), plan)
    torch.testing.assert_close(same.transpose(1, 2), out, atol=0, rtol=0)


def test_strided_views_of_a_fused_qkv():
    B, S, H, D, M = 1, 40, 2, 16, 16
    fused = torch.randn(B, S, 3, H, D)
    q, k, v = fused.unbind(2)  # non-packed views: stride(1) = 3*H*D
    out = fgattn.attention(q, k, v, Plan.dense(B, H, S, S, M))
    torch.testing.assert_close(out.double(), sdpa_bshd(q, k, v), atol=2e-6, rtol=1e-5)


def test_empty_rows_give_zero_output_and_minus_inf_lse():
    B, H, Sq, Skv, D, M = 1, 2, 50, 30, 8, 16
    q, k, v = qkv(B, Sq, Skv, H, D)
    km = random_key_mask(B, H, -(-Sq // M), Skv, 0.5)
    km[0, 1, 2] = False  # head 1, query block 2 (queries 32..47) keeps nothing
    km[0, 0, 3] = False  # head 0, the short last block (queries 48, 49)
    plan = Plan.from_key_mask(km, Sq, M)
    out, lse = fgattn.attention(q, k, v, plan, return_lse=True)
    assert torch.all(out[:, 32:48, 1] == 0) and torch.all(torch.isneginf(lse[:, 1, 32:48]))
    assert torch.all(out[:, 48:, 0] == 0) and torch.all(torch.isneginf(lse[:, 0, 48:]))
    assert torch.isfinite(lse[:, 0, :48]).all() and (out[:, :32].abs().sum() > 0)
    # the other rows agree with SDPA
    ref = sdpa_bshd(q, k, v, plan.token_mask())
    ok = torch.ones(B, Sq, H, dtype=torch.bool)
    ok[:, 32:48, 1] = False
    ok[:, 48:, 0] = False
    torch.testing.assert_close(out.double()[ok], ref[ok], atol=2e-6, rtol=1e-5)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_inputs(dtype):
    B, S, H, D, M = 1, 48, 2, 32, 16
    q, k, v = qkv(B, S, S, H, D, dtype)
    plan = Plan.from_key_mask(random_key_mask(B, H, 3, S, 0.5), S, M)
    out = fgattn.attention(q, k, v, plan)
    assert out.dtype == dtype
    ref = sdpa_bshd(q, k, v, plan.token_mask())  # from the same rounded inputs, in fp64
    err = (out.double() - ref).abs().max().item()
    assert err <= 2 * torch.finfo(dtype).eps * ref.abs().max().item() + 1e-3, err


def test_scale_argument():
    B, S, H, D, M = 1, 20, 1, 8, 8
    q, k, v = qkv(B, S, S, H, D)
    out = fgattn.attention(q, k, v, Plan.dense(B, H, S, S, M), scale=0.3)
    ref = F.scaled_dot_product_attention(q.transpose(1, 2).double(), k.transpose(1, 2).double(),
                                         v.transpose(1, 2).double(), scale=0.3).transpose(1, 2)
    torch.testing.assert_close(out.double(), ref, atol=2e-6, rtol=1e-5)


def test_opcheck_schema_fake_and_dispatch():
    B, S, H, D, M = 1, 24, 2, 8, 8
    q, k, v = qkv(B, S, S, H, D)
    plan = Plan.dense(B, H, S, S, M)
    for lse in (False, True):
        torch.library.opcheck(torch.ops.fgattn.attention.default,
                              (q, k, v, plan.offsets, plan.indices, M, None, lse))


def test_opcheck_plan_ops():
    """The plan ops' schemas and fake kernels (their nnz is an unbacked size), and a compiled graph calling them."""
    B, S, H, D, M = 1, 40, 2, 8, 8
    q, k, _ = qkv(B, S, S, H, D)
    q = q * 6
    torch.library.opcheck(torch.ops.fgattn.oracle_plan.default, (q, k, M, None, None))
    torch.library.opcheck(torch.ops.fgattn.topcdf_plan.default, (q, k, M, 4, 0.5, 0.5))

    def plan_then_attend(q, k, v):  # predict and run in one graph: the plan's nnz is only known at run time
        off, idx = torch.ops.fgattn.oracle_plan(q, k, M, None, None)
        return torch.ops.fgattn.attention(q, k, v, off, idx, M, None, False)[0]

    torch._dynamo.reset()
    with torch._dynamo.config.patch(capture_dynamic_output_shape_ops=True):
        compiled = torch.compile(plan_then_attend, backend="aot_eager", fullgraph=True)
        torch.testing.assert_close(compiled(q, k, q), plan_then_attend(q, k, q), atol=0, rtol=0)


def _corruptions(plan: Plan):
    """(name, offsets, indices, the rule the error must name) of broken copies of `plan` (row 0 keeps every key)."""
    o, i = plan.offsets, plan.indices
    r0 = int(o[1])  # row 0 has keys [0, r0)
    swapped = i.clone()
    swapped[0], swapped[1] = i[1], i[0]
    dup = i.clone()
    dup[1] = i[0]
    high, low = i.clone(), i.clone()
    high[r0 - 1] = plan.seq_kv
    low[0] = -1
    start, end, down, wild = o.clone(), o.clone(), o.clone(), o.clone()
    start[0] = 1
    end[-1] = o[-1] - 1
    down[3], down[4] = o[4], o[3]  # rows 2 and 3 cross (row 2 is empty, row 3 is not)
    wild[1] = 10 ** 12
    row0 = r"plan\.indices: plan row 0 \(b=0, h=0, query block 0\): "
    sorted_rule = "keys must be sorted ascending and unique"
    return [("unsorted", o, swapped, row0 + sorted_rule + ", 0 follows 1"),
            ("duplicate", o, dup, row0 + sorted_rule + ", 0 follows 0"),
            ("key >= seq_kv", o, high, row0 + rf"key {plan.seq_kv} is out of range \[0, {plan.seq_kv}\)"),
            ("key < 0", o, low, row0 + r"key -1 is out of range"),
            ("offsets[0] != 0", start, i, r"plan\.offsets: offsets\[0\] must be 0, got 1"),
            ("offsets[-1] != nnz", end, i, r"plan\.offsets: last offset \d+ must equal the number of indices"),
            ("decreasing", down, i, r"plan\.offsets: plan row 3 \(b=0, h=0, query block 3\): offsets decrease"),
            ("out of range", wild, i, r"plan row 0 .*: offset 1000000000000 is past the \d+ indices"),
            ("missing key", o, i[:-1], r"must equal the number of indices"),
            ("offsets too short", o[:-1], i, r"plan\.offsets: has 10 entries, expected B\*H\*nQB\+1 = 11")]


@pytest.mark.parametrize("seed", range(3))
def test_validate_plan_runs_the_library_check(seed):
    """torch.ops.fgattn.validate_plan (behind Plan.validate()) is the library's check (fgattn::validate_csr): valid
    plans pass, including empty rows, a single key and rows whose keys descend across a row boundary; each broken rule
    raises a ValueError naming the first broken row and the rule; dtypes and ranks are refused by name."""
    torch.manual_seed(seed)
    skv = 45
    mask = random_key_mask(1, 2, 5, skv, 0.4)
    mask[0, 0, 0] = True  # row 0: every key (so a descent into row 1 follows), and at least two keys
    mask[0, 0, 2] = False  # an empty row
    mask[0, 1, 3] = False
    mask[0, 1, 3, 7] = True  # a single key
    plan = Plan.from_key_mask(mask, 5 * 16, 16)
    assert plan.validate() is plan
    Plan.dense(1, 2, 80, skv, 16).validate()
    Plan.from_key_mask(torch.zeros(1, 1, 3, skv, dtype=torch.bool), 48, 16).validate()
    for name, o, i, rule in _corruptions(plan):
        with pytest.raises(ValueError, match=rule):
            Plan(o, i, 1, 2, 80, skv, 16).validate()
    with pytest.raises(TypeError, match="plan: offsets must be int64 and indices int32, got Int and Int"):
        Plan(plan.offsets.int(), plan.indices, 1, 2, 80, skv, 16).validate()
    with pytest.raises(ValueError, match="plan: offsets and indices must be 1-D"):
        Plan(plan.offsets.view(1, -1), plan.indices, 1, 2, 80, skv, 16).validate()
    with pytest.raises(ValueError, match="plan.seq_kv: must be >= 1, got 0"):
        Plan(plan.offsets, plan.indices, 1, 2, 80, 0, 16).validate()
    with pytest.raises(ValueError, match=r"plan: block_m must be in \[1, 2\^20\], got 0"):
        Plan(plan.offsets, plan.indices, 1, 2, 80, skv, 0).validate()
    strided = Plan(torch.stack([plan.offsets, plan.offsets], 1)[:, 0], plan.indices, 1, 2, 80, skv, 16)
    assert not strided.offsets.is_contiguous() and strided.validate() is strided


def test_set_plan_cache_budget_checks_its_argument():
    """The op's device-plan cache budget is an option (no environment variable): any megabytes >= 0 is taken (0 = a
    quarter of the device's memory; without CUDA there is no cache and nothing changes), a negative or non-int value
    is refused naming the argument, and the processors take it as plan_cache_mb."""
    for mb in (1, 0, 4096):
        fgattn.set_plan_cache_budget(mb)
        torch.ops.fgattn.set_plan_cache_budget(mb)
    with pytest.raises(ValueError, match=r"fgattn.set_plan_cache_budget: megabytes must be >= 0 .*got -1"):
        fgattn.set_plan_cache_budget(-1)
    with pytest.raises(ValueError, match="megabytes must be >= 0"):
        torch.ops.fgattn.set_plan_cache_budget(-5)
    with pytest.raises(ValueError, match="at most 2\\^40"):
        fgattn.set_plan_cache_budget(1 << 41)
    with pytest.raises(TypeError, match="megabytes: must be an int, got float"):
        fgattn.set_plan_cache_budget(1.5)
    with pytest.raises(ValueError, match="megabytes must be >= 0"):
        fgattn.FgattnProcessor(fgattn.SparsitySchedule(), plan_cache_mb=-1)
    with pytest.raises(ValueError, match="megabytes must be >= 0"):
        fgattn.HunyuanVideoFgattnProcessor(fgattn.SparsitySchedule(), plan_cache_mb=-1)
    assert fgattn.FgattnProcessor(fgattn.SparsitySchedule(), plan_cache_mb=64).plan is None
    fgattn.set_plan_cache_budget(0)
