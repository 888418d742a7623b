#!/usr/bin/env python3
"""Summarise an `ncu --metrics gpu__time_duration.sum --csv` log: per kernel, launches and median / total duration.

    python3 bench/kernel_times.py predict_profile.csv > predict_profile.md
    python3 bench/kernel_times.py predict_profile.csv --launches scores_only   # one kernel's launches, in order
"""
import csv
import io
import statistics
import sys
from collections import defaultdict

# src/cuda/attention/kernel_traits.cuh, enum class KernelMode: ncu prints the template argument as its value or its name.
KERNEL_MODES = {"0": "(attention)", "1": "(no_gather)", "2": "(no_math)", "3": "(scores_only: oracle LSE / bits)"}
KERNEL_MODES.update({name: KERNEL_MODES[str(i)] for i, name in enumerate(["normal", "no_gather", "no_math", "scores_only"])})
# The attention kernel template (attention_kernel; attention_wgmma_kernel before the sources were split by role).
ATTENTION_KERNELS = ("attention_kernel", "attention_wgmma_kernel")


def main(path: str, launches_of: str | None = None) -> None:
    text = open(path, encoding="utf-8", errors="replace").read()
    start = text.find('"ID"')
    if start < 0:
        sys.exit(f"{path}: no ncu CSV table in it")
    durations = defaultdict(list)
    order = []
    for rec in csv.DictReader(io.StringIO(text[start:])):
        if rec.get("Metric Name") != "gpu__time_duration.sum":
            continue
        name = rec["Kernel Name"].replace("(anonymous namespace)::", "").replace("<unnamed>::", "").removeprefix("void ")
        # Drop the parameter list: after the template's last '>' (a template argument may hold parentheses).
        full = name[: name.rfind(">") + 1] if ">" in name.split("(")[0] else name.split("(")[0]
        name = full.split("<")[0].strip()
        if name.endswith(ATTENTION_KERNELS):  # one kernel template, several jobs: name its KernelMode
            mode = full.rstrip("> ").split(",")[-1].strip()
            mode = mode.split("::")[-1].split(")")[-1].strip()  # KernelMode::scores_only, (fgattn::cuda::KernelMode)3
            name += " " + KERNEL_MODES.get(mode, f"mode {mode}")
        scale = {"ns": 1e-3, "nsecond": 1e-3, "us": 1.0, "usecond": 1.0, "ms": 1e3, "msecond": 1e3, "s": 1e6, "second": 1e6}[rec["Metric Unit"]]
        if name not in durations:
            order.append(name)
        durations[name].append(float(rec["Metric Value"].replace(",", "")) * scale)
    if launches_of is not None:
        for name in order:
            if launches_of in name:
                print(f"{name}: " + ", ".join(f"{d:.1f}" for d in durations[name]) + " us (launch order)")
        return
    print("| kernel (first launch order) | launches | median us | min us | max us |")
    print("|---|---|---|---|---|")
    for name in order:
        d = durations[name]
        print(f"| {name} | {len(d)} | {statistics.median(d):.1f} | {min(d):.1f} | {max(d):.1f} |")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[3] if len(sys.argv) > 3 and sys.argv[2] == "--launches" else None)
