#!/usr/bin/env python3
"""Summarise an `ncu --metrics gpu__time_duration.sum --csv` log: per kernel, launches and median / total duration.

    python3 bench/kernel_times.py predict_profile.csv > predict_profile.md
"""
import csv
import io
import statistics
import sys
from collections import defaultdict


def main(path: str) -> None:
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
        name = name.split("(")[0].split("<")[0].strip()
        scale = {"ns": 1e-3, "nsecond": 1e-3, "us": 1.0, "usecond": 1.0, "ms": 1e3, "msecond": 1e3, "s": 1e6, "second": 1e6}[rec["Metric Unit"]]
        if name not in durations:
            order.append(name)
        durations[name].append(float(rec["Metric Value"].replace(",", "")) * scale)
    print("| kernel (first launch order) | launches | median us | min us | max us |")
    print("|---|---|---|---|---|")
    for name in order:
        d = durations[name]
        print(f"| {name} | {len(d)} | {statistics.median(d):.1f} | {min(d):.1f} | {max(d):.1f} |")


if __name__ == "__main__":
    main(sys.argv[1])
