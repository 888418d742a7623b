#!/usr/bin/env python3
"""One GPU, each Ulysses rank's share: the self-attention of Wan2.1-1.3B at 720p (75,600 tokens, 12 heads x 128)
under a 35 % plan, split over P ranks by heads (contiguous = Ulysses' own split; balanced = fgattn.parallel's LPT
by plan cost). Each rank's head subset is timed alone with its sliced plan, so the two-GPU attention time is
predicted as the slowest rank's, before any NCCL run. Plans: bench/e2e_wan.py's (the video-like generator's q/k, one
oracle tau by bisection to the density).

    python bench/sp_share.py --out $OUT/sp_single_gpu.json            # P = 2, 720p, 35 %
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e_wan import SHAPES, TINY, WAN_1_3B, Timer, make_plans  # noqa: E402  (also puts python/ on sys.path)

import fgattn  # noqa: E402
from fgattn.parallel import balance  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="sp_single_gpu.json")
    ap.add_argument("--shape", default="720p", choices=[s for s in SHAPES if s != "tiny"])
    ap.add_argument("--density", type=float, default=35.0, help="plan density in percent")
    ap.add_argument("--ranks", default="2,4", help="Ulysses degrees P to split the heads over, comma list")
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--block-m", type=int, default=128)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tiny", action="store_true", help="tiny config on the CPU (checks the script, times nothing)")
    args = ap.parse_args(argv)
    if not torch.cuda.is_available() and not args.tiny:
        ap.error("needs a CUDA GPU (the timing is of the GPU kernel; --tiny runs on the CPU)")
    dev = torch.device("cpu" if args.tiny else "cuda")
    cfg, latent = (TINY, SHAPES["tiny"]) if args.tiny else (WAN_1_3B, SHAPES[args.shape])
    grid = (latent[0], latent[1] // 2, latent[2] // 2)
    tokens, heads, dim = math.prod(grid), cfg["num_attention_heads"], cfg["attention_head_dim"]
    plan, info = make_plans(grid, cfg, [args.density / 100], args.block_m, args.seed, dev)[args.density / 100]
    costs = plan.head_costs().tolist()
    g = torch.Generator().manual_seed(args.seed + 2)
    dtype = torch.float32 if args.tiny else torch.bfloat16
    q, k, v = (torch.randn(1, tokens, heads, dim, generator=g).to(dev, dtype) for _ in range(3))
    timer = Timer(dev, args.iters, warmup=2)

    def time_heads(hs):
        sub = plan.select_heads(hs)
        qs, ks, vs = (t[:, :, hs].contiguous() for t in (q, k, v))  # as after the all-to-all: [1, S, n, D]
        with torch.no_grad():
            return timer(lambda: fgattn.attention(qs, ks, vs, sub))[0]

    full_ms = time_heads(list(range(heads)))
    record = {"kind": "sp-share", "device": "cpu" if args.tiny else torch.cuda.get_device_name(dev),
              "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
              "torch": torch.__version__, "shape": {"name": "tiny" if args.tiny else args.shape, "tokens": tokens, "heads": heads,
                                                    "head_dim": dim}, "density": args.density / 100,
              "plan_density": round(plan.density(), 5), "plan": info, "head_costs": costs,
              "head_density": [round(c / (plan.query_blocks * plan.seq_kv), 4) for c in costs],
              "one_gpu_all_heads_ms": round(full_ms, 3), "iters": args.iters, "splits": []}
    for p in (int(x) for x in args.ranks.split(",")):
        for name, assignment in (("contiguous", balance.contiguous_assignment(heads, p)),
                                 ("balanced", balance.balanced_assignment(costs, p))):
            ms = [time_heads(hs) for hs in assignment]
            split = {"ranks": p, "assignment": name, "heads": assignment,
                     "imbalance": round(balance.imbalance(costs, assignment), 4),
                     "rank_ms": [round(t, 3) for t in ms], "measured_imbalance": round(max(ms) * p / sum(ms), 4),
                     "predicted_attention_ms": round(max(ms), 3),
                     "predicted_attention_speedup": round(full_ms / max(ms), 4)}
            record["splits"].append(split)
            print(f"P={p} {name:>10}: imbalance {split['imbalance']:.3f} (measured {split['measured_imbalance']:.3f}),"
                  f" rank ms {split['rank_ms']}, all heads on one GPU {full_ms:.1f} ms", flush=True)
    Path(args.out).write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
