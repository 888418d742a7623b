#!/usr/bin/env python3
"""Side-by-side attended TFLOP/s of several fgattn_bench runs of the same shapes (an A/B of kernel variants).
Usage: python3 bench/compare_runs.py LABEL=bench_fgattn.json [LABEL=...] > table.md"""
import json
import sys

runs = [arg.split("=", 1) for arg in sys.argv[1:]]
if not runs or any(len(r) != 2 for r in runs):
    sys.exit(__doc__)
table, meta = {}, {}
for label, path in runs:
    with open(path) as f:
        for r in json.load(f):
            key = (r["shape"], r["granularity"], r["target_density"])
            table.setdefault(key, {})[label] = r
            meta[label] = (r["device"], r["date"], r["backend"])
print("Attended TFLOP/s (4·D·kept pairs / median time); each column one fgattn_bench run:\n")
for label, (device, date, backend) in meta.items():
    print(f"- **{label}**: {backend}, {device}, {date}")
labels = [label for label, _ in runs]
print("\n| shape | granularity | density | " + " | ".join(labels) + f" | {labels[-1]} / {labels[0]} |")
print("|---|---|---|" + "---|" * (len(labels) + 1))
for (shape, gran, dens), by_label in table.items():
    cells = [f"{by_label[l]['tflops_attended']:.1f}" if l in by_label else "" for l in labels]
    ratio = (f"{by_label[labels[-1]]['tflops_attended'] / by_label[labels[0]]['tflops_attended']:.2f}"
             if labels[0] in by_label and labels[-1] in by_label else "")
    print(f"| {shape} | {gran} | {dens:.2f} | " + " | ".join(cells) + f" | {ratio} |")
