"""Plan.quality (issue 20): the dropped softmax mass against brute force in double on fresh random inputs (odd lengths,
empty rows, all keys), the predictors fill it, max_dropped_mass is honoured, and plan files keep it (files without it,
as older writers made them, still load)."""
import math
import struct

import pytest
import torch

import fgattn
from fgattn.plan import Plan
from fgattn.predict import plan_quality

pytestmark = pytest.mark.filterwarnings("ignore")


def brute_dropped(q, k, mask):
    """q [B, Sq, H, D], k [B, Skv, H, D], mask bool [B, H, Sq, Skv] -> dropped mass [B, H, Sq], by plain loops."""
    B, Sq, H, D = q.shape
    out = torch.empty(B, H, Sq, dtype=torch.float64)
    for b in range(B):
        for h in range(H):
            for s in range(Sq):
                logits = [float(q[b, s, h].double() @ k[b, j, h].double()) / math.sqrt(D) for j in range(k.shape[1])]
                mx = max(logits)
                e = [math.exp(x - mx) for x in logits]
                kept = sum(x for x, keep in zip(e, mask[b, h, s].tolist()) if keep)
                out[b, h, s] = 1 - kept / sum(e)
    return out


def random_mask_plan(B, H, Sq, Skv, block_m, keep, empty_blocks=()):
    nqb = -(-Sq // block_m)
    key_mask = torch.rand(B, H, nqb, Skv) < keep
    for (b, h, i) in empty_blocks:
        key_mask[b, h, i] = False
    return Plan.from_key_mask(key_mask, Sq, block_m)


@pytest.mark.parametrize("keep", [0.0, 0.35, 1.0])
def test_exact_quality_matches_brute_force(keep):
    B, Sq, Skv, H, D, M = 2, 37, 23, 2, 7, 16
    q, k = torch.randn(B, Sq, H, D) * 2, torch.randn(B, Skv, H, D) * 2
    plan = random_mask_plan(B, H, Sq, Skv, M, keep, empty_blocks=[(0, 1, 2), (1, 0, 0)])
    want = brute_dropped(q, k, plan.token_mask())
    got = plan_quality(q, k, plan)
    assert got["estimated"] is False and got["queries"] == B * H * Sq
    assert got["dropped_mass_mean"] == pytest.approx(float(want.mean()), abs=1e-12)
    assert got["dropped_mass_max"] == pytest.approx(float(want.max()), abs=1e-12)
    assert got["dropped_mass_max"] == pytest.approx(1.0)  # the empty blocks drop everything


def test_sampled_quality_measures_the_sampled_queries():
    B, Sq, Skv, H, D, M = 1, 45, 31, 2, 8, 16
    q, k = torch.randn(B, Sq, H, D) * 2, torch.randn(B, Skv, H, D) * 2
    plan = random_mask_plan(B, H, Sq, Skv, M, 0.4)
    want = brute_dropped(q, k, plan.token_mask())
    rows = [i * M + r for i, n in enumerate((16, 16, 13)) for r in [(2 * s + 1) * n // 6 for s in range(3)]]
    got = plan_quality(q, k, plan, samples_per_block=3)
    assert got["estimated"] is True and got["queries"] == B * H * len(rows)
    assert got["dropped_mass_mean"] == pytest.approx(float(want[:, :, rows].mean()), abs=1e-12)
    with pytest.raises(ValueError, match="samples_per_block"):
        plan_quality(q, k, plan, samples_per_block=-1)
    with pytest.raises(ValueError, match="plan"):
        plan_quality(q, k[:, :-1], plan)


def test_predictors_fill_quality():
    q, k = torch.randn(1, 99, 2, 16) * 3, torch.randn(1, 70, 2, 16) * 3
    for plan in (fgattn.oracle_plan(q, k, block_m=32), fgattn.cpu_oracle_plan(q, k, block_m=32)):
        assert set(fgattn.plan.QUALITY_KEYS) <= set(plan.quality)
        assert plan.quality["estimated"] is False
        assert plan.quality == plan_quality(q, k, plan)
    t = fgattn.topcdf_plan(q, k, block_m=32, pool=8)
    assert t.quality["estimated"] is True and t.quality == plan_quality(q, k, t, samples_per_block=4)
    assert fgattn.topcdf_plan(q, k, block_m=32, pool=8, quality_samples=0).quality is None


@pytest.mark.parametrize("target", [0.1, 0.01, 0.0])
def test_max_dropped_mass_is_honoured(target):
    q, k = torch.randn(1, 65, 2, 16) * 4, torch.randn(1, 83, 2, 16) * 4
    plan = fgattn.oracle_plan(q, k, block_m=16, max_dropped_mass=target)
    exact = plan_quality(q, k, plan)
    assert exact["dropped_mass_mean"] <= target + 1e-12
    assert plan.quality == exact
    looser = fgattn.oracle_plan(q, k, block_m=16, max_dropped_mass=min(1.0, 4 * target + 0.05))
    assert looser.nnz <= plan.nnz
    with pytest.raises(ValueError, match="max_dropped_mass"):
        fgattn.oracle_plan(q, k, max_dropped_mass=1.5)


def test_plan_files_keep_quality_and_older_files_load(tmp_path):
    plan = random_mask_plan(1, 2, 37, 29, 16, 0.5)
    old = tmp_path / "old.plan"
    plan.save(old)  # no quality: the layout older writers produced
    assert old.stat().st_size == 8 + 6 * 8 + (plan.rows + 1) * 8 + plan.nnz * 4
    assert Plan.load(old).quality is None
    plan.quality = {"dropped_mass_mean": 0.125, "dropped_mass_max": 0.75, "estimated": True, "queries": 42}
    new = tmp_path / "new.plan"
    plan.save(new)
    back = Plan.load(new)
    assert back.quality == plan.quality and torch.equal(back.indices, plan.indices)
    with open(new, "ab") as f:  # a section this reader does not know is skipped
        f.write(struct.pack("<8sq", b"FGXXXX9\0", 3) + b"abc")
    assert Plan.load(new).quality == plan.quality
    new.write_bytes(new.read_bytes()[:-1])
    with pytest.raises(ValueError, match="section"):
        Plan.load(new)


@pytest.mark.gpu
def test_gpu_predictors_fill_quality_as_the_cpu_measures_it():
    if not torch.cuda.is_available() or not fgattn.built_with_cuda():
        pytest.skip("needs a CUDA GPU and the op built with CUDA")
    q, k = torch.randn(1, 333, 2, 128) * 2, torch.randn(1, 517, 2, 128) * 2
    qd, kd = q.cuda().bfloat16(), k.cuda().bfloat16()
    qr, kr = qd.cpu().double(), kd.cpu().double()  # the rounded inputs, for the CPU's double measure
    for plan, samples in ((fgattn.oracle_plan(qd, kd), 0), (fgattn.topcdf_plan(qd, kd, tau=0.9), 4)):
        want = plan_quality(qr, kr, plan.to("cpu"), samples_per_block=samples)
        assert plan.quality["estimated"] is want["estimated"] and plan.quality["queries"] == want["queries"]
        assert plan.quality["dropped_mass_mean"] == pytest.approx(want["dropped_mass_mean"], abs=1e-4)
        assert plan.quality["dropped_mass_max"] == pytest.approx(want["dropped_mass_max"], abs=1e-3)
