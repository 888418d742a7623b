"""Argument errors (the library's fgattn::Error text as ValueError), torch.compile without graph breaks, and the
Plan object: builders, the C++ plan file format both ways, the oracle against the C++ oracle."""
import pytest
import torch

import fgattn
from fgattn import Plan


def small(B=1, Sq=20, Skv=20, H=2, D=8, dtype=torch.float32):
    return (torch.randn(B, Sq, H, D, dtype=dtype), torch.randn(B, Skv, H, D, dtype=dtype),
            torch.randn(B, Skv, H, D, dtype=dtype))


def call(q, k, v, offsets, indices, block_m=8, scale=None):
    return torch.ops.fgattn.attention(q, k, v, offsets, indices, block_m, scale, False)


def test_error_messages():
    q, k, v = small()
    p = Plan.dense(1, 2, 20, 20, 8)
    with pytest.raises(TypeError, match="q: dtype Double is not supported"):
        call(q.double(), k.double(), v.double(), p.offsets, p.indices)
    with pytest.raises(ValueError, match="k: dtype bf16 differs from q's f32"):
        call(q, k.bfloat16(), v, p.offsets, p.indices)
    with pytest.raises(ValueError, match=r"q: must be 4-D in the logical \[B, S, H, D\] shape"):
        call(q[0], k, v, p.offsets, p.indices)
    with pytest.raises(ValueError, match=r"k: shape .* must be \[B, Skv, H, D\] with B, H, D of q"):
        call(q, k[:, :, :1], v[:, :, :1], p.offsets, p.indices)
    with pytest.raises(ValueError, match="v: shape .* must equal k's"):
        call(q, k, v[:, :10], p.offsets, p.indices)
    with pytest.raises(ValueError, match="head dimension must be contiguous"):
        call(q.transpose(2, 3).contiguous().transpose(2, 3), k, v, p.offsets, p.indices)
    with pytest.raises(ValueError, match=r"plan: offsets has 7 entries, but B\*H\*ceil\(Sq/block_m\) \+ 1 = 5"):
        call(q, k, v, p.offsets, p.indices, block_m=16)
    with pytest.raises(TypeError, match="plan: indices must be int32"):
        call(q, k, v, p.offsets, p.indices.long())
    bad = p.indices.clone()
    bad[20 + 3], bad[20 + 4] = 9, 8  # row 1: unsorted
    with pytest.raises(ValueError, match=r"plan row 1 \(b=0, h=0, query block 1\): keys must be sorted ascending and unique"):
        call(q, k, v, p.offsets, bad)
    bad = p.indices.clone()
    bad[-1] = 20  # out of range in the last row
    with pytest.raises(ValueError, match=r"plan row 5 .* key 20 is out of range"):
        call(q, k, v, p.offsets, bad)
    with pytest.raises(ValueError, match="scale: must be finite"):
        call(q, k, v, p.offsets, p.indices, scale=float("inf"))
    with pytest.raises(ValueError, match="layout: must be 'bshd' or 'bhsd'"):
        fgattn.attention(q, k, v, p, layout="bsd")
    with pytest.raises(ValueError, match=r"plan.offsets: offsets\[0\] must be 0, got 1"):
        Plan(p.offsets + 1, p.indices, 1, 2, 20, 20, 8).validate()


def test_plan_for_other_shapes_is_refused():
    q, k, v = small()
    p = Plan.dense(1, 2, 20, 24, 8)  # right row count, wrong Skv: indices 20..23 are out of range
    with pytest.raises(ValueError, match=r"key 20 is out of range \[0, 20\)"):
        fgattn.attention(q, k, v, p)


class Block(torch.nn.Module):
    def __init__(self, dim=32, heads=2):
        super().__init__()
        self.heads = heads
        self.qkv = torch.nn.Linear(dim, 3 * dim)
        self.out = torch.nn.Linear(dim, dim)

    def forward(self, x, plan):
        q, k, v = self.qkv(x).unflatten(-1, (3, self.heads, -1)).unbind(2)
        o = fgattn.attention(torch.nn.functional.rms_norm(q, (q.shape[-1],)), k, v, plan)
        return self.out(o.flatten(2)) + x


@pytest.mark.parametrize("backend", ["eager", "aot_eager", "inductor"])  # inductor: C++ codegen on the CPU
def test_torch_compile_fullgraph(backend):
    torch._dynamo.reset()
    block = Block()
    x = torch.randn(2, 37, 32)
    plan = Plan.from_key_mask(torch.rand(2, 2, 3, 37) < 0.5, 37, 16)
    compiled = torch.compile(block, backend=backend, fullgraph=True)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x, plan), block(x, plan), atol=1e-6, rtol=1e-6)
        # a different plan (same shapes) is a new input, not a baked constant
        other = Plan.dense(2, 2, 37, 37, 16)
        torch.testing.assert_close(compiled(x, other), block(x, other), atol=1e-6, rtol=1e-6)
    explain = torch._dynamo.explain(block)(x, plan)
    assert explain.graph_break_count == 0


def test_plan_builders_agree():
    B, H, Sq, Skv, M = 1, 2, 45, 33, 16
    token = torch.rand(B, H, Sq, Skv) < 0.1
    p = Plan.from_token_mask(token, M).validate()
    union = torch.stack([token[:, :, i * M:(i + 1) * M].any(dim=2) for i in range(3)], dim=2)
    assert torch.equal(p.key_mask(), union)
    assert p.density() == pytest.approx(union.float().mean().item())
    blocks = torch.rand(B, H, 3, 3) < 0.5  # block_n = 16 over 33 keys: last key block holds 1 key
    pb = Plan.from_block_mask(blocks, Sq, Skv, M)
    assert torch.equal(pb.key_mask(), blocks.repeat_interleave(16, dim=3)[..., :Skv])
    assert torch.equal(Plan.dense(B, H, Sq, Skv, M).key_mask(), torch.ones(B, H, 3, Skv, dtype=torch.bool))


def test_plan_file_round_trip_with_the_cpp_format(tmp_path):
    p = Plan.from_key_mask(torch.rand(2, 3, 4, 50) < 0.3, 60, 16)
    p.save(tmp_path / "py.plan")
    off, idx, sizes = torch.ops.fgattn.load_plan(str(tmp_path / "py.plan"))  # C++ reads Python's file
    assert torch.equal(off, p.offsets) and torch.equal(idx, p.indices) and sizes == [2, 3, 60, 50, 16]
    torch.ops.fgattn.save_plan(str(tmp_path / "cpp.plan"), p.offsets, p.indices, [2, 3, 60, 50, 16])
    assert (tmp_path / "cpp.plan").read_bytes() == (tmp_path / "py.plan").read_bytes()
    back = Plan.load(tmp_path / "cpp.plan")  # Python reads C++'s file
    assert torch.equal(back.offsets, p.offsets) and torch.equal(back.indices, p.indices)
    assert (back.batch, back.heads, back.seq_q, back.seq_kv, back.block_m) == (2, 3, 60, 50, 16)
    (tmp_path / "short.plan").write_bytes((tmp_path / "cpp.plan").read_bytes()[:-4])
    with pytest.raises(ValueError, match="payload bytes"):
        Plan.load(tmp_path / "short.plan")
    with pytest.raises(ValueError, match="payload bytes"):
        torch.ops.fgattn.load_plan(str(tmp_path / "short.plan"))


def test_oracle_matches_the_cpp_oracle():
    B, S, H, D, M = 1, 90, 2, 16, 8
    q, k, _ = small(B, S, S, H, D)
    q = q * 8  # peakier softmax: a real mix of kept and dropped keys
    p = fgattn.oracle_plan(q, k, block_m=M)
    off, idx = torch.ops.fgattn.oracle_plan(q, k, M, None)
    ref = Plan(off, idx, B, H, S, S, M)
    assert 0.05 < p.density() < 0.95
    mismatch = (p.key_mask() ^ ref.key_mask()).float().mean().item()
    assert mismatch < 1e-3, mismatch
    # tau: 0 keeps every key with P > 0 (all of them); a huge tau keeps none
    assert fgattn.oracle_plan(q, k, block_m=M, tau=0.0).density() == 1.0
    assert fgattn.oracle_plan(q, k, block_m=M, tau=2.0).nnz == 0


def test_topcdf_plan_wrapper():
    B, S, H, D, M = 1, 96, 2, 16, 16
    q, k, v = small(B, S, S, H, D)
    dense = fgattn.topcdf_plan(q, k, block_m=M, pool=8, tau=1.0, sim_threshold=-1.0)
    sparse = fgattn.topcdf_plan(q * 8, k, block_m=M, pool=8, tau=0.5, sim_threshold=-1.0)
    assert dense.validate().density() == 1.0  # tau = 1 keeps every pooled block
    assert 0.0 < sparse.validate().density() < 1.0
    assert torch.equal(fgattn.cpu_oracle_plan(q, k, block_m=M).key_mask(), fgattn.oracle_plan(q, k, block_m=M).key_mask())
    with pytest.raises(ValueError, match="fgattn.topcdf_plan: "):
        fgattn.topcdf_plan(q, k, block_m=M, pool=0)
    with pytest.raises(ValueError, match=r"fgattn.topcdf_plan: block_m must be in \[1, 2\^20\], got 4294967312"):
        fgattn.topcdf_plan(q, k, block_m=2**32 + 16, pool=8)  # not narrowed to 16
    with pytest.raises(ValueError, match=r"fgattn.oracle_plan: block_m must be in \[1, 2\^20\]"):
        torch.ops.fgattn.oracle_plan(q, k, 2**32 + 16, None)


def test_oracle_from_the_attention_lse_is_the_oracle():
    """The refresh-step path: the plan from attention()'s LSE (dense plan) equals the plan from a softmax, on odd
    lengths and in both layouts; a wrong-shape LSE is refused."""
    B, Sq, Skv, H, D, M = 2, 75, 93, 3, 16, 16
    q, k, v = small(B, Sq, Skv, H, D)
    q = q * 6  # peakier softmax: a real mix of kept and dropped keys
    _, lse = fgattn.attention(q, k, v, Plan.dense(B, H, Sq, Skv, M), return_lse=True)
    assert lse.shape == (B, H, Sq)
    plain = fgattn.oracle_plan(q, k, block_m=M)
    from_lse = fgattn.oracle_plan(q, k, block_m=M, lse=lse)
    assert 0.05 < plain.density() < 0.95
    mismatch = (plain.key_mask() ^ from_lse.key_mask()).float().mean().item()
    assert mismatch < 1e-3, mismatch
    # the LSE is used: a larger one divides every P by e, so fewer keys pass tau
    assert fgattn.oracle_plan(q, k, block_m=M, lse=lse + 1.0).nnz < from_lse.nnz
    bhsd = fgattn.oracle_plan(q.transpose(1, 2), k.transpose(1, 2), block_m=M, layout="bhsd", lse=lse)
    assert torch.equal(bhsd.key_mask(), from_lse.key_mask())
    with pytest.raises(ValueError, match=r"lse: must have shape \[B, H, Sq\]"):
        fgattn.oracle_plan(q, k, block_m=M, lse=lse.transpose(1, 2))


def test_oracle_backends():
    B, S, H, D, M = 1, 70, 2, 16, 8
    q, k, _ = small(B, S, S, H, D)
    q = q * 8
    exact = fgattn.cpu_oracle_plan(q, k, block_m=M).key_mask()
    # CPU tensors: auto = torch ops; "kernel" = the C++ oracle (double)
    assert (fgattn.oracle_plan(q, k, block_m=M, backend="torch").key_mask() ^ exact).float().mean() < 1e-3
    assert torch.equal(fgattn.oracle_plan(q, k, block_m=M, backend="kernel").key_mask(), exact)
    assert isinstance(fgattn.built_with_cuda(), bool)
    with pytest.raises(ValueError, match="backend: must be one of"):
        fgattn.oracle_plan(q, k, backend="gpu")
    with pytest.raises(ValueError, match="scale: the library's oracle uses the default"):
        fgattn.oracle_plan(q, k, block_m=M, scale=0.1, backend="kernel")
    lse = torch.zeros(B, H, S)
    with pytest.raises(ValueError, match="fgattn.oracle_plan: lse is taken on CUDA only"):
        fgattn.oracle_plan(q, k, block_m=M, lse=lse, backend="kernel")
    with pytest.raises(ValueError, match="topcdf_plan has no torch-ops implementation"):
        fgattn.topcdf_plan(q, k, block_m=M, backend="torch")


def test_save_plan_refuses_what_it_would_narrow(tmp_path):
    p = Plan.dense(1, 1, 20, 20, 8)
    with pytest.raises(ValueError, match=r"fgattn.save_plan: block_m must be in \[1, 2\^20\], got 4294967304"):
        torch.ops.fgattn.save_plan(str(tmp_path / "x.plan"), p.offsets, p.indices, [1, 1, 20, 20, 2**32 + 8])
    with pytest.raises(TypeError, match="fgattn.save_plan: offsets and indices must be integer tensors"):
        torch.ops.fgattn.save_plan(str(tmp_path / "x.plan"), p.offsets, p.indices.float(), [1, 1, 20, 20, 8])
