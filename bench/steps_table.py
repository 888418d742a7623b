#!/usr/bin/env python3
"""Generates bench/results/STEPS.md: attended TFLOP/s of every kernel step (bench/results/step*/bench_fgattn.json, or
bench_fgattn_quick.json where a step only ran the wan480 shape) per configuration, plus the torch baselines of the latest step that ran them. Usage: python3 bench/steps_table.py > bench/results/STEPS.md"""
import glob
import json
import os

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
# In step order (step10 after step9, not after step1; step11.1, a re-measurement of step 11, after step11).
steps = sorted((d for d in os.listdir(root) if d.startswith("step") and os.path.isdir(os.path.join(root, d))),
               key=lambda d: float(d.split("-")[0][len("step"):]))
data = {}
for s in steps:
    full = os.path.join(root, s, "bench_fgattn.json")
    with open(full if os.path.exists(full) else os.path.join(root, s, "bench_fgattn_quick.json")) as f:
        for r in json.load(f):
            data.setdefault((r["shape"], r["granularity"], r["target_density"]), {})[s] = r["tflops_attended"]
print("Attended TFLOP/s (4·D·kept pairs / median time), generated from bench/results/step*/bench_fgattn.json.\n")
print("| shape | granularity | density | " + " | ".join(steps) + " |")
print("|---|---|---|" + "---|" * len(steps))
for (shape, gran, dens), v in data.items():
    print(f"| {shape} | {gran} | {dens:.2f} | " + " | ".join(f"{v[s]:.1f}" if s in v else "" for s in steps) + " |")
torch_step = [s for s in steps if os.path.exists(os.path.join(root, s, "bench_torch.json"))][-1]
with open(os.path.join(root, torch_step, "bench_torch.json")) as f:
    torch_recs = json.load(f)
print(f"\nBaselines from {torch_step}/bench_torch.json (the same run as that step's fgattn numbers):\n")
print("| shape | backend | density | ms | attended TFLOP/s |")
print("|---|---|---|---|---|")
for r in torch_recs:
    if "ms" in r:
        print(f"| {r['shape']} | {r['backend']} | {r['density']:.3f} | {r['ms']:.3f} | {r['tflops_attended']:.1f} |")
