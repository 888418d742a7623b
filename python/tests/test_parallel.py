"""Sequence parallelism (fgattn.parallel): the head balancer, plan head slicing/padding, and Ulysses over
torch.distributed — two processes (gloo + the CPU op here; NCCL + the GPU op with FGATTN_SP_BACKEND=nccl on a
two-GPU machine, scripts/gpu-sp) must give what one process gives."""
import os
import sys
import tempfile
import warnings

import pytest
import torch

from fgattn import Plan

with warnings.catch_warnings():  # yunchang's ring helpers (imported with the package, unused) use torch.jit.script
    warnings.simplefilter("ignore", DeprecationWarning)
    if os.environ.get("CI"):  # scripts/setup-python installs it: in CI a missing yunchang is a failure, not a skip
        import yunchang  # noqa: F401
    else:
        yunchang = pytest.importorskip("yunchang", reason="fgattn.parallel needs yunchang==0.6.4 (python/README.md)")
    from fgattn.parallel import balance


def random_plan(B, H, S, block_m, densities, seed=0):
    """A plan whose head h keeps about densities[h] of the keys (so head costs differ)."""
    g = torch.Generator().manual_seed(seed)
    nqb = -(-S // block_m)
    keep = torch.rand(B, H, nqb, S, generator=g) < torch.tensor(densities).view(1, H, 1, 1)
    return Plan.from_key_mask(keep, S, block_m)


# -- balancer ---------------------------------------------------------------------------------------------------
def test_contiguous_assignment_is_ulysses_split():
    assert balance.contiguous_assignment(4, 2) == [[0, 1], [2, 3]]
    assert balance.contiguous_assignment(5, 2) == [[0, 1, 2], [3, 4]]
    assert balance.slot_order(balance.contiguous_assignment(5, 2), 5) == [0, 1, 2, 3, 4, -1]


def test_balanced_assignment_lpt():
    costs = [10, 9, 1, 1]  # contiguous: ranks 19 vs 2
    assert balance.imbalance(costs, balance.contiguous_assignment(4, 2)) == pytest.approx(19 / 10.5)
    a = balance.balanced_assignment(costs, 2)
    assert sorted(map(sorted, a)) == [[0, 3], [1, 2]]
    assert balance.imbalance(costs, a) == pytest.approx(11 / 10.5)


def test_balanced_assignment_respects_slots_and_beats_contiguous():
    g = torch.Generator().manual_seed(1)
    for heads, p in [(12, 2), (12, 4), (7, 2), (5, 3), (40, 8)]:
        costs = (torch.rand(heads, generator=g) ** 3 * 100).tolist()
        a = balance.balanced_assignment(costs, p)
        n = balance.slots_per_rank(heads, p)
        assert sorted(h for hs in a for h in hs) == list(range(heads))
        assert all(len(hs) <= n for hs in a)
        before = balance.imbalance(costs, balance.contiguous_assignment(heads, p))
        assert balance.imbalance(costs, a) <= before + 1e-12
        # LPT bound (Graham): no rank exceeds the mean by more than the largest head (plus slot limits are met)
        assert max(balance.rank_costs(costs, a)) <= sum(costs) / p + max(costs) + 1e-9


def test_balanced_assignment_with_a_dominant_head_cannot_do_better():
    a = balance.balanced_assignment([100, 1, 1, 1], 2)
    assert balance.imbalance([100, 1, 1, 1], a) == pytest.approx(101 / 51.5)


@pytest.mark.parametrize("call, message", [
    (lambda: balance.balanced_assignment([1, 2], 0), "world_size: must be >= 1"),
    (lambda: balance.balanced_assignment([], 2), "costs: must hold one cost per head"),
    (lambda: balance.balanced_assignment([1, -1], 2), "costs: must be >= 0"),
    (lambda: balance.slot_order([[0, 1], [1]], 3), "every head 0..2 exactly once"),
    (lambda: balance.slot_order([[0, 1, 2], []], 3), "at most ceil(H / P) = 2 heads per rank"),
])
def test_balancer_errors(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()


# -- plan slicing and padding ------------------------------------------------------------------------------------
def test_select_heads_matches_key_mask():
    plan = random_plan(2, 5, 37, 8, [0.1, 0.5, 0.9, 0.3, 0.0])
    sub = plan.select_heads([3, -1, 0, 2]).validate()
    full, got = plan.key_mask(), sub.key_mask()
    assert (sub.batch, sub.heads, sub.seq_q, sub.seq_kv) == (2, 4, 37, 37)
    assert torch.equal(got[:, 0], full[:, 3]) and torch.equal(got[:, 2], full[:, 0])
    assert torch.equal(got[:, 3], full[:, 2]) and not got[:, 1].any()
    assert plan.head_costs().tolist() == full.sum(dim=(0, 2, 3)).tolist()


def test_pad_never_keeps_padded_keys_or_queries():
    plan = random_plan(1, 2, 37, 8, [0.6, 0.4])
    padded = plan.pad(48, 48).validate()
    m = padded.key_mask()
    assert m.shape == (1, 2, 6, 48)
    assert not m[..., 37:].any() and not m[:, :, 5:].any()
    assert torch.equal(m[:, :, :5, :37], plan.key_mask())


def test_slicing_errors():
    plan = random_plan(1, 2, 16, 8, [0.5, 0.5])
    with pytest.raises(ValueError, match=r"heads: must be a non-empty list of head indices in \[0, 2\)"):
        plan.select_heads([0, 2])
    with pytest.raises(ValueError, match=r"seq_q, seq_kv: must be >= the plan's \(16, 16\)"):
        plan.pad(8, 16)


# -- two processes vs one ----------------------------------------------------------------------------------------
# (B, S, H, D, block_m, densities, balance_heads): divisible, uneven sequence, uneven heads, both, no balancing
CASES = [
    (1, 64, 4, 16, 16, [0.9, 0.8, 0.1, 0.05], True),
    (2, 37, 4, 16, 8, [0.2, 0.9, 0.5, 0.3], True),
    (1, 40, 5, 32, 16, [0.7, 0.1, 0.6, 0.2, 0.9], True),
    (2, 45, 3, 16, 16, [0.3, 1.0, 0.5], True),
    (1, 37, 3, 16, 8, [0.3, 1.0, 0.5], False),
]


def case_inputs(case, device, dtype):
    B, S, H, D, block_m, densities, _ = case
    g = torch.Generator().manual_seed(S * 100 + H)
    q, k, v = (torch.randn(B, S, H, D, generator=g).to(device, dtype) for _ in range(3))
    return q, k, v, random_plan(B, H, S, block_m, densities, seed=S)


def _worker(rank, world, init_file, backend, out_dir):
    import torch.distributed as dist

    from fgattn.parallel import UlyssesFgattn, gather_sequence, shard_sequence
    device = torch.device(f"cuda:{rank}") if backend == "nccl" else torch.device("cpu")
    if backend == "nccl":
        torch.cuda.set_device(device)
    dist.init_process_group(backend, init_method=f"file://{init_file}", rank=rank, world_size=world,
                            device_id=device if backend == "nccl" else None)
    dtype = torch.bfloat16 if backend == "nccl" else torch.float32
    results = []
    for case in CASES if backend == "gloo" else GPU_CASES:
        q, k, v, plan = case_inputs(case, device, dtype)
        ulysses = UlyssesFgattn(balance_heads=case[-1])
        out = ulysses(*(shard_sequence(t) for t in (q, k, v)), plan)
        out = ulysses(*(shard_sequence(t) for t in (q, k, v)), plan)  # second call: the cached rank plan
        results.append((gather_sequence(out, q.shape[1]).cpu(), ulysses.last_balance))
    if backend == "gloo":
        from fgattn.parallel.wan import install_wan, sequence_parallel_forward
        for heads in WAN_HEADS:
            model, x, plan = wan_case(heads)
            procs = install_wan(model, plan)
            with torch.no_grad():
                out = sequence_parallel_forward(model, x["hidden_states"], x["timestep"], x["encoder_hidden_states"])
            results.append((out, bool(procs[0]._channels)))  # whether the heads moved by permuted weights
    if rank == 0:
        torch.save(results, os.path.join(out_dir, "sp.pt"))
    dist.barrier()
    dist.destroy_process_group()


# 3 heads: uneven over 2 ranks (padding slots, the activations are permuted); 4 heads: even, and the balance
# reorders them (the projection weights are permuted instead)
WAN_HEADS = {3: [0.9, 0.2, 0.5], 4: [0.9, 0.8, 0.1, 0.05]}


def wan_case(heads):
    """diffusers' WanTransformer3DModel, tiny: 3 x 5 x 7 = 105 tokens (uneven over 2 ranks)."""
    import diffusers
    torch.manual_seed(0)
    model = diffusers.WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=heads, attention_head_dim=16, in_channels=4, out_channels=4,
        text_dim=32, freq_dim=32, ffn_dim=64, num_layers=2, rope_max_seq_len=64).eval()
    g = torch.Generator().manual_seed(1)
    x = dict(hidden_states=torch.randn(1, 4, 3, 10, 14, generator=g), timestep=torch.tensor([500]),
             encoder_hidden_states=torch.randn(1, 12, 32, generator=g))
    return model, x, random_plan(1, heads, 105, 16, WAN_HEADS[heads], seed=7)


def run_two_processes(backend):
    import torch.multiprocessing as mp
    with tempfile.TemporaryDirectory() as tmp:
        mp.spawn(_worker, args=(2, os.path.join(tmp, "init"), backend, tmp), nprocs=2, join=True)
        return torch.load(os.path.join(tmp, "sp.pt"), weights_only=False)


def test_two_gloo_processes_match_one():
    import fgattn
    results = run_two_processes("gloo")
    for case, (out, info) in zip(CASES, results):
        q, k, v, plan = case_inputs(case, "cpu", torch.float32)
        ref = fgattn.attention(q, k, v, plan)
        torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6, msg=lambda m: f"case {case}: {m}")
        assert info["imbalance_after"] <= info["imbalance_before"] + 1e-12
        if not case[-1]:
            assert info["imbalance_after"] == info["imbalance_before"]
    # the tiny Wan model: two ranks (sharded sequence, Ulysses fgattn) vs one process with the single-GPU processor
    for heads, (out, permuted_weights) in zip(WAN_HEADS, results[len(CASES):]):
        model, x, plan = wan_case(heads)
        fgattn.FgattnProcessor.install(model, fgattn.SparsitySchedule(dense_forwards=0, refresh_at=(), block_m=16,
                                                                      predictor=lambda q, k: plan))
        with torch.no_grad():
            ref = model(**x, return_dict=False)[0]
        torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5, msg=lambda m: f"{heads} heads: {m}")
        assert permuted_weights == (heads == 4)
    # the balanced cases above were chosen so that the contiguous split is unbalanced
    assert results[0][1]["imbalance_before"] > 1.5 > results[0][1]["imbalance_after"]


# On the GPU: bf16, the kernel's block sizes; 2 GPUs vs 1 GPU (same kernel per head, so near bitwise)
GPU_CASES = [
    (1, 1000, 12, 128, 128, [0.35 + 0.05 * (h % 5) for h in range(12)], True),
    (1, 999, 5, 64, 64, [0.9, 0.1, 0.6, 0.2, 0.35], True),
]


@pytest.mark.gpu
@pytest.mark.skipif(os.environ.get("FGATTN_SP_BACKEND") != "nccl", reason="FGATTN_SP_BACKEND=nccl (scripts/gpu-sp)")
def test_two_nccl_processes_match_one():
    import fgattn
    assert torch.cuda.device_count() >= 2, f"needs two GPUs, found {torch.cuda.device_count()}"
    results = run_two_processes("nccl")
    for case, (out, info) in zip(GPU_CASES, results):
        q, k, v, plan = case_inputs(case, "cuda", torch.bfloat16)
        ref = fgattn.attention(q, k, v, plan).cpu()
        torch.testing.assert_close(out, ref, rtol=2e-2, atol=2e-3, msg=lambda m: f"case {case}: {m}")
        print(f"case {case[:5]}: imbalance {info['imbalance_before']:.3f} -> {info['imbalance_after']:.3f}")


# -- one process (world of 1): cache, errors ----------------------------------------------------------------------
@pytest.fixture
def world_of_one(tmp_path):
    import torch.distributed as dist
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'init'}", rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def test_rank_plan_is_cached_per_plan_and_errors_name_the_argument(world_of_one):
    import fgattn
    from fgattn.parallel import UlyssesFgattn
    q, k, v, plan = case_inputs(CASES[1], "cpu", torch.float32)
    ulysses = UlyssesFgattn(cache_size=1)
    torch.testing.assert_close(ulysses(q, k, v, plan), fgattn.attention(q, k, v, plan), rtol=0, atol=0)
    first = ulysses._cache[next(iter(ulysses._cache))][2]
    ulysses(q, k, v, plan)
    assert ulysses._cache[next(iter(ulysses._cache))][2] is first  # same plan: sliced once
    other = random_plan(2, 4, 37, 8, [0.5] * 4, seed=3)
    ulysses(q, k, v, other)
    assert len(ulysses._cache) == 1 and ulysses._cache[next(iter(ulysses._cache))][0] is other
    with pytest.raises(ValueError, match=r"plan: must cover all 4 heads of batch 2"):
        ulysses(q, k, v, random_plan(2, 3, 37, 8, [0.5] * 3))
    with pytest.raises(ValueError, match=r"query, key, value: must be this rank's sequence shards"):
        ulysses(q, k[:, :5], v, plan)
    with pytest.raises(TypeError, match="plan: must be an fgattn.Plan"):
        ulysses(q, k, v, "plan")
    with pytest.raises(ValueError, match="causal"):
        ulysses(q, k, v, plan, causal=True)
    # heads already in slot order (as permuted projection weights give them): output in slot order too
    slots = ulysses.slot_order(plan, q.shape[1])
    in_slots = [t[:, :, slots] for t in (q, k, v)]
    torch.testing.assert_close(ulysses(*in_slots, plan, heads_in_slot_order=True),
                               fgattn.attention(q, k, v, plan)[:, :, slots], rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"plan: must cover all 4 heads \(slots\) of batch 2"):
        ulysses(q, k, v, random_plan(2, 3, 37, 8, [0.5] * 3), heads_in_slot_order=True)
