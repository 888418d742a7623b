"""The Python benches' one timing method (bench/e2e_wan.py, e2e_sp.py, sp_share.py, torch_baselines.py): CUDA-event
timings of fn() on the current stream after warm-up calls (wall clock on the CPU), their median reported. With
flush_l2 the L2 cache is flushed before each timed call, outside the events (zeroing twice its size), as
bench_common.h times the kernel; the flush also keeps the GPU busy while the host enqueues fn.

    from timing import Timer                       # benches run as `python3 bench/x.py` have bench/ on sys.path
    ms, times = Timer(device, iters=5, warmup=2)(fn)
"""
from __future__ import annotations

import statistics
import time

import torch


class Timer:
    """Median of `iters` timings of fn() in ms, after `warmup` untimed calls."""

    def __init__(self, device, iters: int, warmup: int, flush_l2: bool = False):
        self.cuda = torch.device(device).type == "cuda"
        self.iters, self.warmup = iters, warmup
        self.flush = None
        if flush_l2 and self.cuda:
            l2 = torch.cuda.get_device_properties(torch.device(device)).L2_cache_size
            self.flush = torch.empty(2 * l2, dtype=torch.uint8, device=device)

    def times(self, fn, iters: int | None = None) -> list[float]:
        """Each timed call's ms, in call order."""
        for _ in range(self.warmup):
            fn()
        times = []
        for _ in range(iters or self.iters):
            if not self.cuda:
                t0 = time.perf_counter()
                fn()
                times.append((time.perf_counter() - t0) * 1e3)
                continue
            torch.cuda.synchronize()
            if self.flush is not None:
                self.flush.zero_()
            start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            stop.record()
            stop.synchronize()
            times.append(start.elapsed_time(stop))
        return times

    def __call__(self, fn, iters: int | None = None) -> tuple[float, list[float]]:
        """(median ms, every timing)."""
        times = self.times(fn, iters)
        return statistics.median(times), times
