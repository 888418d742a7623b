#!/usr/bin/env python3
"""The Markdown table of bench/e2e_wan.py's records (e2e.json): each (shape, backend, density) on one row with its
eager and its compiled forward side by side, each against SDPA in the same mode of the same run, then the compile
times and, with --schedule records, the speedup over the paper's schedule. Records without "compiled" (before
--compile existed) are eager.

    python bench/e2e_table.py bench/results/e2e/e2e.json > bench/results/e2e/e2e.md
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def _pct(x) -> str:
    return f"{x:.0%}"


def _mode(r) -> str:
    return "compiled" if r.get("compiled") else "eager"


def _cells(r) -> list[str]:
    """forward ms, speedup, Amdahl ideal, of ideal; dashes for a mode the run did not measure."""
    if r is None:
        return ["-"] * 4
    return [f"{r['ms']:.1f}", f"{r['speedup']:.2f}x", f"{r['amdahl_ideal']:.2f}x", _pct(r.get("of_amdahl_ideal", 1.0))]


def table(records: list[dict]) -> str:
    e2e = [r for r in records if r["kind"] == "e2e"]
    rows, by_key = [], {}
    for r in e2e:  # first appearance orders the rows: eager records come first in a run
        key = (r["shape"]["name"], r["backend"], r["density"])
        if key not in by_key:
            by_key[key] = {}
            rows.append((key, r))
        by_key[key][_mode(r)] = r
    lines = ["| shape | backend | density | plan density | self-attn ms (all layers) | eager ms | speedup | Amdahl "
             "ideal | of ideal | compiled ms | speedup | Amdahl ideal | of ideal |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for key, first in rows:
        modes = by_key[key]
        lines.append(f"| {first['shape']['name']} ({first['shape']['tokens']} tok) | {first['backend']} | "
                     f"{first['density']:.0%} | {first['plan_density']:.1%} | {first['attention_ms']:.1f} | "
                     + " | ".join(_cells(modes.get("eager")) + _cells(modes.get("compiled"))) + " |")
    head = records[0] if records else {}
    text = (f"End-to-end forward, {head.get('device', '?')}, {head.get('date', '?')}. Speedup = SDPA forward / "
            f"fgattn forward in the same run and mode (eager against eager SDPA, compiled against compiled SDPA); "
            f"Amdahl ideal = 1 / ((1 - share) + share x density) with that mode's attention share.\n\n"
            + "\n".join(lines) + "\n")
    shares = {}
    for r in e2e:
        shares.setdefault(r["shape"]["name"], {})[_mode(r)] = r["attention_share"]
    text += ("\nAttention share of the SDPA forward (layers x one self-attention call, timed alone, over the "
             "forward): " + "; ".join(f"{name} " + ", ".join(f"{mode} {share:.1%}" for mode, share in s.items())
                                       for name, s in shares.items()) + ".\n")
    compiled = [r for r in e2e if r.get("compiled")]
    if compiled:
        lines = ["| shape | backend | density | compile | first forward s (compiling) | graphs after it |",
                 "|---|---|---|---|---|---|"]
        for r in compiled:
            lines.append(f"| {r['shape']['name']} | {r['backend']} | {r['density']:.0%} | {r['compile_scope']} | "
                         f"{r['compile_s']:.1f} | {r['graphs']} |")
        text += ("\nCompilation (torch.compile, default mode; the first forward of each configuration, which "
                 "compiles what it has not seen: a later density reusing the graph shows one forward's time):\n\n"
                 + "\n".join(lines) + "\n")
    if head.get("note"):
        text += f"\n{head['note']}\n"
    sched = [r for r in records if r["kind"] == "e2e-schedule"]
    if sched:
        lines = ["| shape | density | sparse forward ms | plan build (all layers) ms | schedule mean ms | speedup "
                 "(schedule) | speedup (no predictor) |", "|---|---|---|---|---|---|---|"]
        for r in sched:
            lines.append(f"| {r['shape']['name']} | {r['density']:.0%} | {r['sparse_forward_ms']:.1f} | "
                         f"{r['predictor_ms_per_build']:.1f} | {r['ms']:.1f} | {r['speedup']:.2f}x | "
                         f"{r['speedup_without_predictor']:.2f}x |")
        text += ("\nOver the paper's schedule, eager (100 forwards, 2 dense, plans built at forwards 2, 15, 30, 45, "
                 "60, 80 by the default predictor; its cost = a forward rebuilding every layer's plan minus one "
                 "reusing them):\n\n" + "\n".join(lines) + "\n")
    return text


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.exit("usage: e2e_table.py RECORDS.json  (bench/e2e_wan.py's output; the table goes to stdout)")
    sys.stdout.write(table(json.loads(Path(argv[0]).read_text())))


if __name__ == "__main__":
    main()
