"""The diffusers processor compiled on the GPU (inductor: Triton kernels around the op): the blocks of a tiny Wan
compiled with fullgraph=True over a schedule with a dense forward, plans built by the GPU oracle inside the
processor_build op (plans on the device), reuse, and a refresh of another density. scripts/gpu-e2e runs it with
E2E_COMPILE=1; skipped without CUDA unless FGATTN_REQUIRE_GPU=1."""
import os

import pytest
import torch

REQUIRE_GPU = os.environ.get("FGATTN_REQUIRE_GPU") == "1"
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available() and not REQUIRE_GPU, reason="needs a CUDA GPU")]

import fgattn  # noqa: E402
from fgattn import FgattnProcessor, SparsitySchedule  # noqa: E402

SCHEDULE = dict(dense_forwards=1, refresh_at=(1, 4), block_m=128)
TAUS = {0: 0.007, 4: 0.012}  # the oracle's threshold at the build forwards 1 and 4: two densities


def tiny_wan(device, dtype):
    import diffusers  # the GPU image lacks it: scripts/gpu-e2e installs it from carried wheels

    torch.manual_seed(0)
    model = diffusers.WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=64, in_channels=4, out_channels=4,
        text_dim=32, freq_dim=32, ffn_dim=256, num_layers=2, rope_max_seq_len=64)
    return model.to(device=device, dtype=dtype).eval()


def inputs(device, dtype):
    g = torch.Generator().manual_seed(1)
    return dict(hidden_states=torch.randn(1, 4, 3, 20, 28, generator=g).to(device, dtype),  # 420 tokens
                timestep=torch.tensor([500], device=device),
                encoder_hidden_states=torch.randn(1, 12, 32, generator=g).to(device, dtype), return_dict=False)


def run_schedule(model, schedule, x, forwards):
    outs, densities = [], []
    for i in forwards:
        schedule.tau = TAUS.get(i, schedule.tau)
        with torch.no_grad():
            outs.append(model(**x)[0].float())
        densities.append(schedule.densities())
    return outs, densities


def check_compiled_schedule(device, dtype, backend, tol):
    """Eager against compiled blocks over forwards 0..6; returns the compiled run's schedule and per-forward
    densities."""
    import torch._dynamo
    from torch._dynamo.utils import counters

    x = inputs(device, dtype)
    model = tiny_wan(device, dtype)
    schedule = FgattnProcessor.install(model, SparsitySchedule(**SCHEDULE))
    eager, _ = run_schedule(model, schedule, x, range(7))
    model = tiny_wan(device, dtype)
    schedule = FgattnProcessor.install(model, SparsitySchedule(**SCHEDULE))
    torch._dynamo.reset()
    counters.clear()
    for i, block in enumerate(model.blocks):
        model.blocks[i] = torch.compile(block, fullgraph=True, backend=backend)
    outs, densities = run_schedule(model, schedule, x, range(3))  # stock, build, reuse
    assert counters["stats"]["unique_graphs"] == 3
    with torch._dynamo.config.patch(error_on_recompile=True):
        more, more_densities = run_schedule(model, schedule, x, range(3, 7))
    outs, densities = outs + more, densities + more_densities
    assert counters["stats"]["unique_graphs"] == 3
    for i, (a, b) in enumerate(zip(outs, eager)):
        assert torch.isfinite(a).all(), f"forward {i}"
        err = float((a - b).abs().max() / b.abs().max())
        assert err <= tol, f"forward {i}: compiled differs from eager by {err:.3g} of the output's max"
    assert densities[1][0] != densities[4][0]  # the refresh at forward 4 built a plan of another nnz
    for d in (densities[1], densities[4]):
        assert all(0 < v < 1 for v in d), d
    assert float((outs[1] - outs[0]).abs().max()) > 1e-3  # forward 1 sparse, forward 0 stock
    return schedule, densities


def test_compiled_blocks_on_gpu_with_the_gpu_oracle():
    if not fgattn.built_with_cuda():
        if REQUIRE_GPU:
            pytest.fail("FGATTN_REQUIRE_GPU=1 but the op library has no CUDA path")
        pytest.skip("the op library was built without CUDA")
    schedule, densities = check_compiled_schedule("cuda", torch.bfloat16, "inductor", tol=0.05)
    assert densities[1] == densities[3] and densities[4] == densities[6]  # reuse forwards keep the plans
    assert all(p.plan.indices.is_cuda for p in schedule.processors)  # the GPU oracle's plans stay on the device
