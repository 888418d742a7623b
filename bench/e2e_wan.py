#!/usr/bin/env python3
"""End-to-end: one forward of a DiT with Wan2.1-1.3B's architecture (diffusers' WanTransformer3DModel, random
weights) with stock attention (torch SDPA forced to cuDNN) and with fgattn's processor on the 30 self-attention
layers at imposed plan densities. Cross-attention to the 512 text tokens stays on SDPA in both.

Random weights give no real sparsity, so each density is imposed by a plan built from the library's video-like
generator (docs/workload.md) on the same post-patchify grid: the oracle rule (keep key j for query block i iff
max over the block's queries of P[q, j] > tau) with one tau found by bisection to hit the target density. One plan
per density is shared by all 30 layers (plans are uploaded to the GPU once and reused).

Timing: median of --iters CUDA-event timings after --warmup forwards (wall clock on the CPU). Attention's share of
the SDPA forward = 30 x (median time of one self-attention call on the same shapes) / SDPA forward time.
amdahl_ideal = 1 / ((1 - share) + share * density): the speedup if attention time fell in step with density at
cuDNN's efficiency.

With --schedule it also times the predictor as a pipeline pays it: one forward in which every layer rebuilds its
plan with the processor's default predictor (fgattn.oracle_plan: the GPU oracle on CUDA) from that forward's own
q and k, against a forward reusing those plans. The difference is the predictor's cost per forward; each density's
"e2e-schedule" record spreads it over the paper's schedule (100 forwards, the first 2 dense on SDPA, plans built at
forwards 2, 15, 30, 45, 60 and 80) and gives that schedule's per-forward speedup (eager forwards).

With --compile, after the eager forwards the same model is compiled (torch.compile, default mode; --compile-scope
blocks: diffusers' compile_repeated_blocks, one graph per block class shared by the 30 blocks, the default; model:
the whole transformer) and SDPA and fgattn are timed again: records with compiled = true, compile_s (the first
forward's wall time, which compiles) and graphs (dynamo's graphs so far). The compiled records' attention share is
over the compiled SDPA forward, and their speedup and Amdahl ideal are against it. fgattn's plans are set on the
processors before the first compiled forward (the reuse mode: no build forward to compile), and a later density
runs in the same graph (the plan's nnz is a dynamic size).

    python bench/e2e_wan.py --out e2e.json                      # 480p and 720p on a GPU
    python bench/e2e_wan.py --compile --densities 35,20         # eager and compiled side by side
    python bench/e2e_wan.py --tiny --out /tmp/e2e.json          # tiny config, runs on the CPU too (--compile too)
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import sys
import time
from pathlib import Path

import torch

if os.environ.get("FGATTN_USE_INSTALLED") != "1":  # else the installed package (scripts/gpu-test-torch with a wheel)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/timing.py, also when imported by path
import fgattn  # noqa: E402
from fgattn import FgattnProcessor, Plan, SparsitySchedule  # noqa: E402
from timing import Timer  # noqa: E402  (bench/timing.py; sp_share.py imports it from here)
from e2e_table import table as markdown  # noqa: E402  (bench/e2e_table.py: the records' Markdown table)

# Wan2.1-1.3B (diffusers' Wan2.1-T2V-1.3B transformer config).
WAN_1_3B = dict(patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128, in_channels=16, out_channels=16,
                text_dim=4096, freq_dim=256, ffn_dim=8960, num_layers=30, cross_attn_norm=True,
                qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024)
TINY = dict(WAN_1_3B, num_attention_heads=2, attention_head_dim=64, text_dim=32, freq_dim=32, ffn_dim=256,
            num_layers=2, in_channels=4, out_channels=4)
# Latent grids (frames, height, width) before the 2x2 patchify: 81 frames at 480p / 720p -> 32,760 / 75,600 tokens.
SHAPES = {"480p": (21, 60, 104), "720p": (21, 90, 160), "tiny": (3, 16, 16)}
TEXT_TOKENS = {"full": 512, "tiny": 16}
DEFAULT_DENSITIES = "100,68,50,35,20"
# The paper's harness: 100 forwards, the first 2 dense, plans refreshed at these forwards (the first sparse forward
# builds one too).
PAPER_SCHEDULE = {"forwards": 100, "dense_forwards": 2, "refresh_at": [0, 15, 30, 45, 60, 80]}
NOTE = ("Random weights give no real sparsity: each density is imposed by an oracle plan (keep key j for query block "
        "i iff max_q P[q, j] > tau, one tau by bisection to hit the density) built from the video-like generator's "
        "q/k (docs/workload.md) on the same post-patchify grid, and the same plan is used by all self-attention "
        "layers. Cross-attention runs SDPA in both forwards.")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="e2e.json", help="JSON records (a Markdown table goes next to it, .md)")
    ap.add_argument("--shapes", default="480p,720p", help=f"comma list of {', '.join(s for s in SHAPES if s != 'tiny')}")
    ap.add_argument("--densities", default=DEFAULT_DENSITIES, help="plan densities in percent, comma list")
    ap.add_argument("--iters", type=int, default=5, help="timed forwards per configuration (median reported)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed forwards before timing")
    ap.add_argument("--block-m", type=int, default=128, help="plan query block size M (64 or 128 on the GPU)")
    ap.add_argument("--seed", type=int, default=1, help="seed of weights, inputs and the generator's q/k")
    ap.add_argument("--tiny", action="store_true", help="tiny config (2 layers, 2 heads x 64, 192 tokens)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--schedule", action="store_true",
                    help="also time plan building with the default predictor and report each density's speedup over "
                         "the paper's 100-forward schedule (module docstring)")
    ap.add_argument("--schedule-predictor", choices=("oracle", "topcdf"), default="oracle",
                    help="with --schedule: the processor's default oracle, or Top-CDF (pool 16, tau 0.9)")
    ap.add_argument("--sdpa-for-dense-plans", action="store_true",
                    help="plans keeping every key run torch SDPA (SparsitySchedule.sdpa_for_dense_plans)")
    ap.add_argument("--compile", action="store_true",
                    help="after the eager forwards, time SDPA and fgattn again with the model compiled (docstring)")
    ap.add_argument("--compile-scope", choices=("blocks", "model"), default="blocks",
                    help="with --compile: the repeated blocks (diffusers' compile_repeated_blocks, regional) or the "
                         "whole transformer")
    ap.add_argument("--compile-backend", default="inductor",
                    help="with --compile: torch.compile's backend (inductor; aot_eager for a quick CPU check)")
    args = ap.parse_args(argv)
    args.device = torch.device(args.device)
    if args.iters < 1 or args.warmup < 0:
        ap.error(f"--iters must be >= 1 and --warmup >= 0, got {args.iters} and {args.warmup}")
    try:
        args.densities = [float(d) / 100 for d in args.densities.split(",")]
    except ValueError:
        ap.error(f"--densities: a comma list of percentages, got {args.densities!r}")
    if not all(0 < d <= 1 for d in args.densities):
        ap.error(f"--densities: each must be in (0, 100], got {args.densities}")
    args.shapes = ["tiny"] if args.tiny else args.shapes.split(",")
    for s in args.shapes:
        if s not in SHAPES or (s == "tiny") != args.tiny:
            ap.error(f"--shapes: unknown shape {s!r} (known: 480p, 720p; --tiny for the tiny config)")
    if args.device.type != "cuda" and not args.tiny:
        ap.error("the full-size model needs a CUDA device (use --tiny on the CPU)")
    return args


def sdpa_context(device):
    """(a fresh context per call, backend name): stock attention forced to cuDNN on the GPU, where a shape cuDNN
    refuses raises instead of falling back; the math backend on the CPU. sdpa_kernel is a generator context manager:
    it cannot be re-entered, so each forward makes its own."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    if device.type == "cuda":
        return (lambda: sdpa_kernel(SDPBackend.CUDNN_ATTENTION)), "sdpa-cudnn"
    return (lambda: sdpa_kernel(SDPBackend.MATH)), "sdpa-math-cpu"


def build_model(cfg, device, dtype, seed):
    import diffusers

    torch.manual_seed(seed)
    with torch.device(device):  # initialise on the device: 1.3B parameters initialise slowly on a CPU
        model = diffusers.WanTransformer3DModel(**cfg)
    # As from_pretrained(torch_dtype=...) loads it: the modules Wan keeps in fp32 (rope, norms, time embedding) stay.
    keep = set(model._keep_in_fp32_modules or [])
    for pname, param in model.named_parameters():
        if dtype != torch.float32 and not keep.intersection(pname.split(".")):
            param.data = param.data.to(dtype)
    return model.to(device).eval()  # buffers an __init__ may have made on the CPU


def make_plans(grid, cfg, densities, block_m, seed, device):
    """{density: (Plan, info)} from the generator's q/k on the post-patchify grid (see the module docstring)."""
    t0 = time.perf_counter()
    heads, head_dim = cfg["num_attention_heads"], cfg["attention_head_dim"]
    q, k, _ = fgattn.video_workload(*grid, heads, head_dim, seed=seed)
    q, k = q.to(device), k.to(device)
    gen_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    scores = fgattn.slice_scores(q, k, block_m, chunk_elems=1 << 27)  # [1, H, nQB, S], exact softmax maxima
    scores_s = time.perf_counter() - t0
    # For scale: what the oracle keeps at its default tau = 0.5 / S on these q, k.
    default_density = float((scores > 0.5 / scores.shape[3]).sum()) / scores.numel()
    plans = {}
    for d in densities:
        t0 = time.perf_counter()
        plan, tau = fgattn.oracle_plan_at_density(q, k, d, block_m, scores=scores)
        plans[d] = (plan, {"how": "oracle at one tau by bisection" if d < 1 else "dense plan (all keys)",
                           "tau": tau, "plan_density": plan.density(), "block_m": block_m, "generator_seed": seed,
                           "generator_grid": list(grid), "shared_by_layers": cfg["num_layers"],
                           "oracle_density_at_default_tau": round(default_density, 5),
                           "generator_s": round(gen_s, 3), "slice_scores_s": round(scores_s, 3),
                           "build_s": round(time.perf_counter() - t0, 3)})
    del scores, q, k
    return plans


def plan_builds(schedule: dict) -> int:
    """Forwards of `schedule` that build a plan: the first sparse one and every refresh forward after it."""
    first = schedule["dense_forwards"]
    return len({first} | {f for f in schedule["refresh_at"] if first <= f < schedule["forwards"]})


def schedule_ms(sdpa_ms: float, sparse_ms: float, predictor_ms: float, schedule: dict = PAPER_SCHEDULE) -> float:
    """Mean forward time over `schedule`: dense forwards on SDPA, the rest sparse, plus the plan builds."""
    n, dense = schedule["forwards"], schedule["dense_forwards"]
    return (dense * sdpa_ms + (n - dense) * sparse_ms + plan_builds(schedule) * predictor_ms) / n


def install(model, plan, block_m, sdpa_for_dense_plans=False):
    """fgattn's processors with `plan` already set on every layer: each forward reuses it (no build forward, so a
    compiled model has one graph for fgattn)."""
    FgattnProcessor.uninstall(model)
    schedule = FgattnProcessor.install(model, SparsitySchedule(dense_forwards=0, refresh_at=(), block_m=block_m,
                                                               predictor=lambda q, k: plan,
                                                               sdpa_for_dense_plans=sdpa_for_dense_plans))
    for proc in schedule.processors:
        proc.plan = plan
    return schedule


def compile_model(model, args):
    """(the callable to time, how it was compiled). Dynamo's caches are dropped first (a shape compiled earlier in
    this process would otherwise make the next one recompile with dynamic sizes), and its counters: the records'
    `graphs` count this shape's graphs."""
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    opts = {} if args.compile_backend == "inductor" else {"backend": args.compile_backend}
    if args.compile_scope == "model":
        return torch.compile(model, **opts), "whole transformer: torch.compile(transformer)"
    if hasattr(model, "compile_repeated_blocks"):  # diffusers >= 0.35: regional compilation of _repeated_blocks
        model.compile_repeated_blocks(fullgraph=True, **opts)
        return model, "blocks: diffusers compile_repeated_blocks(fullgraph=True)"
    for block in model.blocks:
        block.compile(fullgraph=True, **opts)
    return model, "blocks: torch.compile of each block (fullgraph=True)"


def run_shape(name, args, common, emit):
    tiny = name == "tiny"
    cfg = TINY if tiny else WAN_1_3B
    dev, dtype = args.device, torch.bfloat16 if args.device.type == "cuda" else torch.float32
    latent = SHAPES[name]
    pt, ph, pw = cfg["patch_size"]
    grid = (latent[0] // pt, latent[1] // ph, latent[2] // pw)
    tokens = math.prod(grid)
    heads, head_dim, layers = cfg["num_attention_heads"], cfg["attention_head_dim"], cfg["num_layers"]
    shape = {"name": name, "latent": list(latent), "tokens": tokens, "layers": layers, "heads": heads,
             "head_dim": head_dim, "width": heads * head_dim, "ffn": cfg["ffn_dim"],
             "text_tokens": TEXT_TOKENS["tiny" if tiny else "full"], "batch": 1}
    print(f"== {name}: {tokens} tokens, {layers} layers, {heads} x {head_dim}", flush=True)

    model = build_model(cfg, dev, dtype, args.seed)
    g = torch.Generator().manual_seed(args.seed + 1)
    x = dict(hidden_states=torch.randn(1, cfg["in_channels"], *latent, generator=g).to(dev, dtype),
             timestep=torch.tensor([500], device=dev),
             encoder_hidden_states=torch.randn(1, shape["text_tokens"], cfg["text_dim"], generator=g).to(dev, dtype),
             return_dict=False)
    timer = Timer(dev, args.iters, args.warmup)
    ctx, backend = sdpa_context(dev)
    qkv = [torch.randn(1, tokens, heads, head_dim, generator=g).to(dev, dtype) for _ in range(3)]

    def sdpa_attention():
        with torch.no_grad(), ctx():
            torch.nn.functional.scaled_dot_product_attention(*(t.transpose(1, 2) for t in qkv))

    # One self-attention call on the model's shapes and strides, x layers: the same kernel eager or compiled.
    attn_ms = timer(sdpa_attention, max(args.iters, 5))[0] * layers
    plans = make_plans(grid, cfg, args.densities, args.block_m, args.seed, dev)
    fg_attn_ms = {}
    for density, (plan, _) in plans.items():
        def fg_attention():
            with torch.no_grad():
                fgattn.attention(*qkv, plan)

        fg_attn_ms[density] = timer(fg_attention, max(args.iters, 5))[0] * layers

    def measure(call, compiled: dict | None):
        """SDPA's forward, then fgattn's at each density, through `call` (the model, or it compiled)."""
        def forward():
            with torch.no_grad(), ctx():
                return call(**x)[0]

        def first_forward():  # the first call compiles what it has not seen
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            out = forward().float()
            if dev.type == "cuda":
                torch.cuda.synchronize()
            if compiled is None:
                return out, {"compiled": False}
            return out, dict(compiled, compile_s=round(time.perf_counter() - t0, 3),
                             graphs=int(torch._dynamo.utils.counters["stats"]["unique_graphs"]))

        FgattnProcessor.uninstall(model)
        ref, how = first_forward()
        sdpa_ms, sdpa_times = timer(forward)
        share = min(1.0, attn_ms / sdpa_ms)
        base = dict(common, kind="e2e", shape=shape, sdpa_ms=round(sdpa_ms, 3), attention_share=round(share, 4),
                    note=NOTE)
        emit(dict(base, backend=backend, density=1.0, plan_density=1.0, ms=round(sdpa_ms, 3),
                  times_ms=[round(t, 3) for t in sdpa_times], attention_ms=round(attn_ms, 3), speedup=1.0,
                  amdahl_ideal=1.0, finite=bool(torch.isfinite(ref).all()), rel_diff_vs_sdpa=0.0, **how))
        sparse_ms = {}
        for density, (plan, info) in plans.items():
            install(model, plan, args.block_m, args.sdpa_for_dense_plans)
            out, how = first_forward()
            ms, times = timer(forward)
            ideal = 1.0 / ((1.0 - share) + share * density)
            emit(dict(base, backend="fgattn", sdpa_for_dense_plans=args.sdpa_for_dense_plans, density=density,
                      plan_density=round(plan.density(), 5), ms=round(ms, 3),
                      times_ms=[round(t, 3) for t in times], attention_ms=round(fg_attn_ms[density], 3),
                      speedup=round(sdpa_ms / ms, 4), amdahl_ideal=round(ideal, 4),
                      of_amdahl_ideal=round(sdpa_ms / ms / ideal, 4), finite=bool(torch.isfinite(out).all()),
                      rel_diff_vs_sdpa=float((out - ref).abs().max() / ref.abs().max().clamp_min(1e-30)),
                      plan=info, **how))
            sparse_ms[density] = ms
        return forward, base, sdpa_ms, sparse_ms

    forward, base, sdpa_ms, sparse_ms = measure(model, None)
    if args.schedule:
        time_schedule(model, forward, timer, args, base, sdpa_ms, sparse_ms, emit)
    if args.compile:
        FgattnProcessor.uninstall(model)
        call, scope = compile_model(model, args)
        measure(call, {"compiled": True, "compile_scope": scope, "compile_backend": args.compile_backend,
                       "compile_mode": "default"})
    FgattnProcessor.uninstall(model)
    del model, plans


def time_schedule(model, forward, timer, args, base, sdpa_ms, sparse_ms, emit):
    """The predictor's cost per forward (every layer rebuilding its plan from its own q, k with the default
    predictor, minus a forward reusing those plans) and each density's speedup over PAPER_SCHEDULE."""
    FgattnProcessor.uninstall(model)
    predictor, described = None, "fgattn.oracle_plan, default tau 0.5 / S (GPU oracle on CUDA bf16)"
    if args.schedule_predictor == "topcdf":
        predictor = lambda q, k: fgattn.topcdf_plan(q, k, block_m=args.block_m)  # noqa: E731
        described = "fgattn.topcdf_plan, pool 16, tau 0.9, sim_threshold 0.5 (GPU Top-CDF on CUDA bf16)"
    schedule = FgattnProcessor.install(model, SparsitySchedule(dense_forwards=0, refresh_at=range(1 << 62),
                                                               block_m=args.block_m, predictor=predictor))
    refresh_ms, refresh_times = timer(forward)  # every forward rebuilds every layer's plan
    predicted = [d for d in schedule.densities() if d is not None]
    schedule.refresh_at = ()
    reuse_ms, reuse_times = timer(forward)  # the same plans, reused
    predictor_ms = max(0.0, refresh_ms - reuse_ms)
    for density, ms in sparse_ms.items():
        mean_ms = schedule_ms(sdpa_ms, ms, predictor_ms)
        emit(dict(base, kind="e2e-schedule", backend="fgattn+predictor", density=density, ms=round(mean_ms, 3),
                  speedup=round(sdpa_ms / mean_ms, 4), sparse_forward_ms=round(ms, 3),
                  speedup_without_predictor=round(sdpa_ms / ms, 4), predictor_ms_per_build=round(predictor_ms, 3),
                  refresh_forward_ms=round(refresh_ms, 3), reuse_forward_ms=round(reuse_ms, 3),
                  refresh_times_ms=[round(t, 3) for t in refresh_times],
                  reuse_times_ms=[round(t, 3) for t in reuse_times],
                  predictor=described,
                  predicted_plan_density=round(sum(predicted) / max(1, len(predicted)), 5),
                  schedule=dict(PAPER_SCHEDULE, plan_builds=plan_builds(PAPER_SCHEDULE))))


def main(argv=None):
    args = parse_args(argv)
    import diffusers

    dev = args.device
    common = {"device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
              "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
              "dtype": "bf16" if dev.type == "cuda" else "fp32", "torch": torch.__version__,
              "diffusers": diffusers.__version__, "cuda_runtime": torch.version.cuda,
              "cudnn": torch.backends.cudnn.version() if dev.type == "cuda" else None, "model": "diffusers "
              "WanTransformer3DModel, Wan2.1-1.3B config" if not args.tiny else "WanTransformer3DModel, tiny config",
              "weights": "random", "iters": args.iters, "warmup": args.warmup}
    records = []
    out = Path(args.out)

    def emit(record):  # written after every record: a run cut short keeps what it measured
        records.append(record)
        out.write_text(json.dumps(records, indent=1) + "\n")
        mode = f"compiled, first forward {record['compile_s']:.1f} s" if record.get("compiled") else "eager"
        print(f"  {record['backend']:>16} density {record['density']:.2f}: {record['ms']:.1f} ms, "
              f"speedup {record['speedup']:.3f} ({mode})", flush=True)

    for name in args.shapes:
        run_shape(name, args, common, emit)
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    table = markdown(records)  # bench/e2e_table.py
    out.with_suffix(".md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
