#!/usr/bin/env python3
"""End-to-end, sequence parallel: one forward of a DiT with Wan2.1-1.3B's architecture (bench/e2e_wan.py's model,
random weights, plans at an imposed density shared by the 30 self-attention layers) on 1 GPU (the stock forward with
fgattn's processor) and on P GPUs (fgattn.parallel: the tokens sharded over P ranks, fgattn inside yunchang's Ulysses
all-to-all over NCCL, heads assigned to ranks by plan cost, or contiguously with --no-balance).

Records (one per configuration): kind "e2e-sp", gpus, ms (median forward, the slowest rank's), speedup_vs_1gpu,
imbalance (max rank cost / mean rank cost of the head assignment used; imbalance_contiguous for Ulysses' own split),
rel_diff_vs_1gpu (max |out - out_1gpu| / max |out_1gpu|).

    NCCL_NVLS_ENABLE=0 python bench/e2e_sp.py --gpus 1,2 --out e2e_sp.json     # 720p, 35 % (scripts/gpu-sp)
    python bench/e2e_sp.py --tiny --out /tmp/e2e_sp.json                       # tiny config, CPU processes (gloo)
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e_wan import SHAPES, TEXT_TOKENS, TINY, WAN_1_3B, build_model, install, make_plans  # noqa: E402
from timing import Timer  # noqa: E402  (bench/timing.py, the benches' one timing method)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="e2e_sp.json")
    ap.add_argument("--gpus", default="1,2", help="comma list of process counts; 1 = the single-GPU forward")
    ap.add_argument("--shape", default="720p", choices=[s for s in SHAPES if s != "tiny"])
    ap.add_argument("--density", type=float, default=35.0, help="plan density in percent")
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--block-m", type=int, default=128)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-balance", action="store_true", help="also run P > 1 with Ulysses' contiguous head split")
    ap.add_argument("--tiny", action="store_true", help="tiny config on CPU processes with gloo")
    ap.add_argument("--profile", action="store_true", help="after timing, one forward under torch.profiler: rank 0's "
                    "table of GPU time by op goes to <out>.profile_gpus<N>.txt (where the P-GPU forward loses time)")
    args = ap.parse_args(argv)
    args.gpus = [int(n) for n in args.gpus.split(",")]
    if args.gpus[0] != 1 or any(n < 1 for n in args.gpus):
        ap.error(f"--gpus: must start with 1 (the baseline), got {args.gpus}")
    if not args.tiny and torch.cuda.device_count() < max(args.gpus):
        ap.error(f"--gpus {max(args.gpus)}: only {torch.cuda.device_count()} CUDA devices (use --tiny on the CPU)")
    return args


def _worker(rank, world, args, balance_heads, init_file, out_dir):
    import torch.distributed as dist

    from fgattn.parallel.wan import install_wan, sequence_parallel_forward
    cuda = not args.tiny
    dev = torch.device(f"cuda:{rank}") if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(dev)
    if world > 1:
        dist.init_process_group("nccl" if cuda else "gloo", init_method=f"file://{init_file}", rank=rank,
                                world_size=world, device_id=dev if cuda else None)
    cfg, latent = (TINY, SHAPES["tiny"]) if args.tiny else (WAN_1_3B, SHAPES[args.shape])
    dtype = torch.bfloat16 if cuda else torch.float32
    model = build_model(cfg, dev, dtype, args.seed)
    grid = (latent[0], latent[1] // 2, latent[2] // 2)
    plan, info = make_plans(grid, cfg, [args.density / 100], args.block_m, args.seed, dev)[args.density / 100]
    g = torch.Generator().manual_seed(args.seed + 1)
    hs = torch.randn(1, cfg["in_channels"], *latent, generator=g).to(dev, dtype)
    text = torch.randn(1, TEXT_TOKENS["tiny" if args.tiny else "full"], cfg["text_dim"], generator=g).to(dev, dtype)
    t = torch.tensor([500], device=dev)
    result = {"plan": info, "plan_density": plan.density()}
    if world == 1:
        install(model, plan, args.block_m)  # e2e_wan's single-GPU processor: the baseline

        def forward():
            return model(hidden_states=hs, timestep=t, encoder_hidden_states=text, return_dict=False)[0]
    else:
        # every rank built the plan from the same seed: check they agree before trusting the split
        costs = plan.head_costs().to(dev)
        low, high = costs.clone(), costs.clone()
        dist.all_reduce(low, dist.ReduceOp.MIN)
        dist.all_reduce(high, dist.ReduceOp.MAX)
        if not torch.equal(low, high):
            raise RuntimeError("plans differ between ranks (non-deterministic plan build); cannot split them")
        procs = install_wan(model, plan, balance_heads=balance_heads)

        def forward():
            return sequence_parallel_forward(model, hs, t, text)
    with torch.no_grad():
        out = forward()
        ms, times = Timer(dev, args.iters, args.warmup)(forward)
        if args.profile and cuda:
            profile_forward(forward, f"{args.out}.profile_gpus{world}.txt" if rank == 0 else None)
    if world > 1:
        result.update(procs[0].ulysses.last_balance)
        all_ms = [None] * world
        dist.all_gather_object(all_ms, ms)
        result["rank_ms"], ms = all_ms, max(all_ms)
    result.update(ms=ms, times_ms=times)
    if rank == 0:
        torch.save((result, out.float().cpu()), os.path.join(out_dir, "result.pt"))
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()


def profile_forward(forward, path):
    """One forward under torch.profiler; the ops' GPU time, largest first, written to `path` (None: not written)."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        forward()
        torch.cuda.synchronize()
    if path:
        table = prof.key_averages().table(sort_by="self_cuda_time_total", row_limit=40, max_name_column_width=70)
        Path(path).write_text(table + "\n")


def run(world, args, balance_heads):
    import torch.multiprocessing as mp
    with tempfile.TemporaryDirectory() as tmp:
        mp.spawn(_worker, args=(world, args, balance_heads, os.path.join(tmp, "init"), tmp), nprocs=world, join=True)
        return torch.load(os.path.join(tmp, "result.pt"), weights_only=False)


def main(argv=None):
    os.environ.setdefault("NCCL_NVLS_ENABLE", "0")  # NVLink multicast off (the device notes ask for it)
    args = parse_args(argv)
    import diffusers
    import yunchang
    cfg, latent = (TINY, SHAPES["tiny"]) if args.tiny else (WAN_1_3B, SHAPES[args.shape])
    tokens = latent[0] * (latent[1] // 2) * (latent[2] // 2)
    common = {"kind": "e2e-sp", "device": "cpu (gloo)" if args.tiny else torch.cuda.get_device_name(0),
              "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
              "torch": torch.__version__, "diffusers": diffusers.__version__, "yunchang": yunchang.__version__,
              "nccl_nvls_enable": os.environ["NCCL_NVLS_ENABLE"], "model": "WanTransformer3DModel, " +
              ("tiny config" if args.tiny else "Wan2.1-1.3B config"), "weights": "random",
              "shape": {"name": "tiny" if args.tiny else args.shape, "tokens": tokens,
                        "heads": cfg["num_attention_heads"], "head_dim": cfg["attention_head_dim"],
                        "layers": cfg["num_layers"]}, "density": args.density / 100, "iters": args.iters,
              "warmup": args.warmup, "block_m": args.block_m}
    records, base_ms, base_out = [], None, None
    for world in args.gpus:
        for balance_heads in ([True, False] if world > 1 and args.no_balance else [True]):
            result, out = run(world, args, balance_heads)
            if world == 1:
                base_ms, base_out = result["ms"], out
            rec = dict(common, gpus=world, balance_heads=balance_heads if world > 1 else None,
                       ms=round(result["ms"], 3), times_ms=[round(x, 3) for x in result["times_ms"]],
                       speedup_vs_1gpu=round(base_ms / result["ms"], 4),
                       imbalance=round(result.get("imbalance_after", 1.0), 4),
                       imbalance_contiguous=round(result.get("imbalance_before", 1.0), 4),
                       rank_ms=[round(x, 3) for x in result.get("rank_ms", [result["ms"]])],
                       head_assignment=result.get("assignment"), plan_density=round(result["plan_density"], 5),
                       plan=result["plan"], rel_diff_vs_1gpu=float((out - base_out).abs().max() /
                                                                   base_out.abs().max().clamp_min(1e-30)))
            records.append(rec)
            Path(args.out).write_text(json.dumps(records, indent=1) + "\n")  # after every record
            print(f"gpus {world} balance {balance_heads}: {rec['ms']:.1f} ms, speedup {rec['speedup_vs_1gpu']:.3f},"
                  f" imbalance {rec['imbalance']:.3f} (contiguous {rec['imbalance_contiguous']:.3f}), "
                  f"rel diff {rec['rel_diff_vs_1gpu']:.2e}", flush=True)


if __name__ == "__main__":
    main()
