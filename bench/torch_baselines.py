#!/usr/bin/env python3
"""Baselines for fgattn_bench, same shapes, same run (scripts/gpu-check): cuDNN attention through torch SDPA (dense)
and FlexAttention with a random 128x128 block mask at the same kept fractions. Median CUDA-event time after warm-up
with the L2 flushed before each timed call (as bench_common.h times fgattn), random non-zero bf16 inputs, outputs
checked finite. FLOPs counted: attended = 4*D*kept (query, key) pairs (QK^T + PV), summed over batch and heads;
dense SDPA attends all S*S pairs."""
import argparse
import datetime
import json
import math

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from timing import Timer  # bench/timing.py (run as `python3 bench/torch_baselines.py`: bench/ is sys.path[0])

SHAPES = [("wan480", 1, 12, 32760, 128), ("wan720", 1, 12, 75600, 128), ("cogvideox_d64", 1, 48, 17776, 64)]
DENSITIES = [1.0, 0.5, 0.25, 0.10, 0.05]


TIMING = ("median of CUDA-event timings on the default stream after 3 warm-up calls; before each timed call the L2 "
          "cache is flushed (zeroing twice its size), outside the events; the timed call is the attention alone")


def median_ms(fn, reps):
    """Median, min and max ms of fn() over reps timings (bench/timing.py with the L2 flush, the method of
    bench_common.h's time_ms)."""
    ms, times = Timer("cuda", reps, warmup=3, flush_l2=True)(fn)
    return ms, min(times), max(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="bench_torch.json")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    dev = torch.cuda.get_device_name(0)
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    common = {"device": dev, "date": date, "dtype": "bf16", "torch": torch.__version__, "cuda_runtime": torch.version.cuda,
              "cudnn": torch.backends.cudnn.version(),
              "flops_counted": "attended: 4*D*kept (query,key) pairs (QK^T + PV)", "timing": TIMING}
    records = []

    def save():
        with open(args.out, "w") as f:
            json.dump(records, f, indent=1)

    from torch.nn.attention.flex_attention import BlockMask, flex_attention
    flex = torch.compile(flex_attention, dynamic=False)
    shapes = SHAPES[:1] if args.quick else SHAPES
    gen = torch.Generator(device="cuda").manual_seed(0)
    for name, B, H, S, D in shapes:
        shape = f"{name} B{B} H{H} S{S} D{D}"
        q, k, v = (torch.rand(B, H, S, D, device="cuda", dtype=torch.bfloat16, generator=gen) * 4 - 2 for _ in range(3))
        result = {}  # the last call's output, checked finite after timing (torch allocates it: nothing to poison)
        # cuDNN SDPA, dense
        try:
            def run_sdpa():
                result["out"] = torch.nn.functional.scaled_dot_product_attention(q, k, v)
            with sdpa_kernel(SDPBackend.CUDNN_ATTENTION):  # outside the timed calls
                ms, lo, hi = median_ms(run_sdpa, args.reps)
            out = result.pop("out")
            pairs = B * H * S * S
            rec = dict(common, shape=shape, backend="cuDNN SDPA (torch)", granularity="dense", density=1.0, ms=ms, ms_min=lo,
                       ms_max=hi, tflops_attended=4 * D * pairs / (ms * 1e-3) / 1e12, nonfinite_outputs=int((~torch.isfinite(out)).sum()))
        except Exception as e:  # recorded, not hidden
            rec = dict(common, shape=shape, backend="cuDNN SDPA (torch)", granularity="dense", density=1.0, error=repr(e)[:300])
        records.append(rec)
        print(json.dumps(rec), flush=True)
        save()
        # FlexAttention, random 128x128 block mask at the same kept fraction
        nb = math.ceil(S / 128)
        sizes = torch.full((nb,), 128, device="cuda", dtype=torch.float64)
        sizes[-1] = S - 128 * (nb - 1)
        for density in DENSITIES:
            keep = torch.rand(H, nb, nb, device="cuda", generator=gen) < density
            if density >= 1.0:
                keep[:] = True
            keep[:, :, 0] |= ~keep.any(dim=2)  # no empty query block (flex would return NaN-free zeros anyway)

            try:
                # Kept blocks as "full" blocks (no mask_mod work inside them), built from the block list directly:
                # create_block_mask would materialise an S x S mask (out of memory at these lengths).
                counts = keep.sum(-1).to(torch.int32)[None].expand(B, H, nb).contiguous()
                order = torch.sort((~keep).to(torch.int32), dim=-1, stable=True).indices.to(torch.int32)
                order = order[None].expand(B, H, nb, nb).contiguous()
                bm = BlockMask.from_kv_blocks(torch.zeros_like(counts), order, full_kv_num_blocks=counts,
                                              full_kv_indices=order, BLOCK_SIZE=128, seq_lengths=(S, S))

                def run_flex():
                    result["out"] = flex(q, k, v, block_mask=bm)
                ms, lo, hi = median_ms(run_flex, args.reps)
                out = result.pop("out")
                extra = {}
                if density >= 1.0:  # same function as cuDNN dense: check it (catches a wrong tail-block mask)
                    with sdpa_kernel(SDPBackend.CUDNN_ATTENTION):
                        ref = torch.nn.functional.scaled_dot_product_attention(q, k, v)
                    extra["maxdiff_vs_cudnn_dense"] = float((out.float() - ref.float()).abs().max())
                    del ref
                pairs = B * float(torch.einsum("hij,i,j->", keep.double(), sizes, sizes))
                rec = dict(common, shape=shape, backend="FlexAttention (torch, Triton)", granularity="128x128 blocks",
                           density=float(keep.double().mean()), target_density=density, ms=ms, ms_min=lo, ms_max=hi,
                           tflops_attended=4 * D * pairs / (ms * 1e-3) / 1e12,
                           nonfinite_outputs=int((~torch.isfinite(out)).sum()), **extra)
            except Exception as e:
                rec = dict(common, shape=shape, backend="FlexAttention (torch, Triton)", granularity="128x128 blocks",
                           density=density, error=repr(e)[:300])
            records.append(rec)
            print(json.dumps(rec), flush=True)
            save()
        del q, k, v
        out = None
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
