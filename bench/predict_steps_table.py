#!/usr/bin/env python3
"""A Markdown table of a series of predictor-cost runs, one folder per step (each holding what one device call
wrote: env.txt, predict_cost.json and, where profiled, predict_profile.md from bench/kernel_times.py).

    python3 bench/predict_steps_table.py bench/results/predict/topcdf-steps > bench/results/predict/topcdf-steps/steps.md

Per step: the warm Top-CDF predictor's time (`predict/topcdf`, output device), its cost against dense attention
(the record's own `dense_ms` where the run paired dense launches with the predictor's, else the run's dense
record), the oracle's, and the median duration of each Top-CDF kernel under ncu.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

KERNELS = ["pool_means_kernel", "pooled_logits_kernel", "topcdf_cut_kernel", "pools_to_plan_kernel"]


def commit_of(folder: Path) -> str:
    env = folder / "env.txt"
    if env.exists():
        for line in env.read_text().splitlines():
            if line.startswith("commit "):
                return line.split()[1]
    return "-"


def record(records: list, backend: str, output: str | None = "device") -> dict | None:
    for r in records:
        if r["backend"] == backend and (output is None or r.get("output") == output):
            return r
    return None


def kernel_medians(folder: Path) -> dict:
    """kernel name -> median us, from predict_profile.md (bench/kernel_times.py's table)."""
    md = folder / "predict_profile.md"
    out = {}
    if not md.exists():
        return out
    for line in md.read_text().splitlines():
        m = re.match(r"\|\s*fgattn::(\w+)[^|]*\|\s*\d+\s*\|\s*([\d.]+)\s*\|", line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


def cost(r: dict | None, dense: dict | None) -> str:
    if r is None:
        return "-"
    dense_ms = r.get("dense_ms", dense["ms"] if dense else None)
    return f"{r['ms']:.3f} ms / {r['ms'] / dense_ms:.4f}x ({dense_ms:.2f})" if dense_ms else f"{r['ms']:.3f} ms"


def table(root: Path) -> str:
    rows = ["| step | commit | Top-CDF: ms / x dense (dense ms) | oracle (device): ms / x dense (dense ms) | "
            + " | ".join(k.removesuffix("_kernel") + " us" for k in KERNELS) + " |",
            "|---|---|---|---|" + "---|" * len(KERNELS)]
    def step_number(folder: Path) -> tuple:  # "10-..." after "9-...": by the leading number, then the name
        head = folder.name.split("-", 1)[0]
        return (int(head) if head.isdigit() else float("inf"), folder.name)

    for folder in sorted((p for p in root.iterdir() if p.is_dir()), key=step_number):
        costs = folder / "predict_cost.json"
        records = json.loads(costs.read_text()) if costs.exists() else []
        dense = record(records, "attention/dense", None)
        kernels = kernel_medians(folder)
        rows.append(f"| {folder.name} | {commit_of(folder)} | {cost(record(records, 'predict/topcdf'), dense)} | "
                    f"{cost(record(records, 'predict/oracle'), dense)} | "
                    + " | ".join(f"{kernels[k]:.1f}" if k in kernels else "-" for k in KERNELS) + " |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.stdout.write(table(Path(sys.argv[1])))
