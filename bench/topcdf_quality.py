#!/usr/bin/env python3
"""Top-CDF beside the oracle at the same kept fraction (issue 20), on the CPU: for each preset and Top-CDF tau, the
Top-CDF plan's kept fraction, output error and dropped softmax mass, and the oracle plan at that kept fraction
(fgattn.oracle_plan_at_density) with the same measures. Everything in double against dense attention.

    python3 bench/topcdf_quality.py > bench/results/predict/topcdf_quality.json
    python3 bench/topcdf_quality_table.py bench/results/predict/topcdf_quality.json > bench/results/predict/topcdf_quality.md

Presets: the generator's `tiny` and `small` (src/workload/presets.cpp), and `wan480p-3f`: wan480p's 30 x 52 frame and
seed with 3 frames and 2 heads (4,680 tokens, D = 128), the largest that exact double attention handles on a CPU.
"""
from __future__ import annotations

import datetime
import json
import math
import subprocess
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
import fgattn  # noqa: E402
from fgattn.predict import plan_quality  # noqa: E402

PRESETS = {  # name: (frames, height, width, heads, head_dim, seed)
    "tiny": (4, 8, 8, 2, 32, 7),
    "small": (6, 14, 24, 2, 64, 42),
    "wan480p-3f": (3, 30, 52, 2, 128, 480),
}
TAUS = (0.8, 0.9, 0.95, 0.99)
BLOCK_M, POOL = 128, 16


def rel_l2(q, k, v, plan) -> float:
    """||O_plan - O_dense|| / ||O_dense|| in double (a query block with no key gives O = 0)."""
    qd, kd, vd = (t.double().transpose(1, 2) for t in (q, k, v))
    p = torch.softmax(qd @ kd.transpose(-1, -2) / math.sqrt(q.shape[-1]), -1)
    dense = p @ vd
    kept = p * plan.token_mask()
    mass = kept.sum(-1, keepdim=True)
    out = torch.where(mass > 0, (kept @ vd) / mass.clamp_min(1e-300), torch.zeros_like(dense))
    return float((out - dense).norm() / dense.norm())


def point(q, k, v, plan) -> dict:
    quality = plan_quality(q, k, plan)  # exact: every query
    return {"kept_fraction": plan.density(), "rel_l2": rel_l2(q, k, v, plan),
            "dropped_mass_mean": quality["dropped_mass_mean"], "dropped_mass_max": quality["dropped_mass_max"]}


def main() -> None:
    torch.set_num_threads(2)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    record = {"tool": "bench/topcdf_quality.py", "date": datetime.datetime.now(datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ"), "commit": commit, "block_m": BLOCK_M, "pool": POOL, "sim_threshold": 0.5,
        "outlier_ratio": 1.5, "error_metric": "||O - O_dense|| / ||O_dense||, double", "presets": []}
    for name, (frames, height, width, heads, dim, seed) in PRESETS.items():
        q, k, v = fgattn.video_workload(frames, height, width, heads, dim, 0, seed)
        rows = []
        for tau in TAUS:
            top = fgattn.topcdf_plan(q, k, BLOCK_M, POOL, tau, quality_samples=4)
            oracle, oracle_tau = fgattn.oracle_plan_at_density(q, k, top.density(), BLOCK_M)
            rows.append({"topcdf_tau": tau, "topcdf": point(q, k, v, top), "topcdf_estimate": top.quality,
                         "oracle_tau": oracle_tau, "oracle": point(q, k, v, oracle)})
            print(f"{name} tau {tau}: done", file=sys.stderr)
        record["presets"].append({"preset": name, "shape": {"B": 1, "S": q.shape[1], "H": heads, "D": dim},
                                  "points": rows})
    print(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
