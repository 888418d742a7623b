#!/usr/bin/env python3
"""Markdown table from the benchmark JSON files (fgattn_bench + torch_baselines), one line per configuration,
with each fgattn line's ratio to its own dense run and to FlexAttention at the same shape and target density.
Usage: make_table.py FILE.json ... [--baselines-from-another-run]"""
import json
import sys


def main():
    other_run = "--baselines-from-another-run" in sys.argv[1:]
    recs = []
    for path in (a for a in sys.argv[1:] if not a.startswith("--")):
        try:
            with open(path) as f:
                recs += json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            print(f"<!-- could not read {path}: {e} -->")
    if not recs:
        print("no records")
        return
    r0 = recs[0]
    print(f"Device: {r0.get('device')}, date {r0.get('date')}. TFLOP/s = attended FLOPs (4·D·kept query-key pairs) / median time.\n")
    if other_run:  # the torch baselines were measured by another device run (--baselines-from-another-run)
        dates = sorted({r.get("date") for r in recs if not r["backend"].startswith("fgattn")})
        print(f"**Not one run:** the cuDNN / Flex rows were measured by another device run ({', '.join(dates)}); "
              "ratios against them carry the run-to-run spread.\n")
    print("| shape | backend | granularity | density | ms | attended TFLOP/s | vs own dense | vs Flex (same density) | nonfinite |")
    print("|---|---|---|---|---|---|---|---|---|")
    dense = {}
    flex = {}
    for r in recs:
        if "ms" not in r:
            continue
        if r["backend"].startswith("fgattn") and r["granularity"].startswith("dense"):
            dense[(r["shape"], r["granularity"])] = r["tflops_attended"]
        if r["backend"].startswith("Flex"):
            flex[(r["shape"], round(r.get("target_density", r["density"]), 3))] = r["ms"]
    for r in recs:
        if "ms" not in r:
            print(f"| {r['shape']} | {r['backend']} | {r['granularity']} | {r['density']:.3f} | error | {r.get('error', '')[:80]} | | | |")
            continue
        own = ""
        if r["backend"].startswith("fgattn"):
            m = r["granularity"].split("x")[0].replace("dense (M=", "").rstrip(")")
            d = dense.get((r["shape"], f"dense (M={m})"))
            own = f"{r['tflops_attended'] / d:.2f}" if d else ""
        fx = flex.get((r["shape"], round(r.get("target_density", r["density"]), 3)))
        vs_flex = f"{fx / r['ms']:.2f}x" if fx and r["backend"].startswith("fgattn") else ""
        print(f"| {r['shape']} | {r['backend']} | {r['granularity']} | {r['density']:.3f} | {r['ms']:.3f} | "
              f"{r['tflops_attended']:.1f} | {own} | {vs_flex} | {r.get('nonfinite_outputs', '')} |")


if __name__ == "__main__":
    main()
