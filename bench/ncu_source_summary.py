#!/usr/bin/env python3
"""Summary of an ncu per-SASS source export (`ncu --section SourceCounters --page source --print-source sass --csv`,
as .csv or .csv.gz): the instructions that hold the most stall samples (with their main reasons), the ones executed
most often (a retry loop shows up here), and executed instructions by opcode.
Usage: python3 bench/ncu_source_summary.py source.csv[.gz] [--top N] > summary.md"""
import argparse
import collections
import csv
import gzip
import io


def read_rows(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        lines = f.read().split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith('"Address"'))  # ncu prints its log first
    table = list(csv.reader(io.StringIO("\n".join(lines[start:]))))
    header = table[0]
    return header, [r for r in table[1:] if len(r) == len(header)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("source")
    ap.add_argument("--top", type=int, default=20)
    args = ap.parse_args()
    header, rows = read_rows(args.source)
    col = {h: i for i, h in enumerate(header)}
    reasons = [h for h in header if h.startswith("stall_") and "Not Issued" not in h]
    num = lambda r, h: int(r[col[h]] or 0)
    samples = [num(r, "Warp Stall Sampling (All Samples)") for r in rows]
    executed = [num(r, "Instructions Executed") for r in rows]
    total_samples, total_executed = sum(samples), sum(executed)
    print(f"{len(rows)} SASS instructions, {total_samples} stall samples, {total_executed} warp instructions executed\n")

    def line(i):
        top = sorted(((num(rows[i], h), h[len("stall_"):]) for h in reasons), reverse=True)[:3]
        why = ", ".join(f"{name} {n}" for n, name in top if n > 0)
        return f"| {i} | `{rows[i][col['Source']].strip()}` | {samples[i]} ({100 * samples[i] / max(total_samples, 1):.1f} %) | {executed[i]} | {why} |"

    print(f"## Top {args.top} by stall samples\n\n| # | instruction | samples | executed | main reasons |\n|---|---|---|---|---|")
    for i in sorted(range(len(rows)), key=lambda i: -samples[i])[: args.top]:
        print(line(i))
    print(f"\n## Top {args.top} by executions\n\n| # | instruction | samples | executed | main reasons |\n|---|---|---|---|---|")
    for i in sorted(range(len(rows)), key=lambda i: -executed[i])[: args.top]:
        print(line(i))
    ops = collections.Counter()
    for r, n in zip(rows, executed):
        words = r[col["Source"]].split()
        if words:
            ops[(words[1] if words[0].startswith("@") and len(words) > 1 else words[0]).split(".")[0]] += n
    print("\n## Executed warp instructions by opcode\n\n| opcode | executed | share |\n|---|---|---|")
    for op, n in ops.most_common(args.top):
        print(f"| {op} | {n} | {100 * n / max(total_executed, 1):.1f} % |")


if __name__ == "__main__":
    main()
