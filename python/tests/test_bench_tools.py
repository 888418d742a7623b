"""CPU tests of the result tools under bench/: the kernel steps table and the ncu source summary."""
import gzip
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_tool(*args):
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, check=True).stdout


def test_steps_table_reads_every_step_and_matches_the_committed_table():
    """bench/steps_table.py over bench/results/step*/: every step folder is a column, STEPS.md is its output."""
    out = run_tool(REPO / "bench" / "steps_table.py")
    steps = sorted(p.name for p in (REPO / "bench" / "results").iterdir() if p.is_dir() and p.name.startswith("step"))
    header = next(line for line in out.splitlines() if line.startswith("| shape |"))
    for step in steps:
        assert f" {step} |" in header, step
    assert (REPO / "bench" / "results" / "STEPS.md").read_text() == out


SOURCE_CSV = '''==PROF== Connected to process 1 (bench)
some bench output line
"Address","Source","Warp Stall Sampling (All Samples)","Instructions Executed","stall_wait","stall_long_sb","stall_wait (Not Issued)"
"0x10","SYNCS.PHASECHK.TRANS64.TRYWAIT P0, [UR14], R2","5","900","5","0","0"
"0x20","@!P0  BRA 0x10","40","900","1","39","0"
"0x30","HGMMA.64x128x16.F32.BF16 R24, gdesc[UR20], R24","30","100","30","0","0"
"0x40","FMNMX.FTZ R2, R2, R3, !PT","0","200","0","0","0"
'''


def test_ncu_source_summary_ranks_samples_executions_and_opcodes(tmp_path):
    path = tmp_path / "source.csv.gz"
    with gzip.open(path, "wt") as f:
        f.write(SOURCE_CSV)
    out = run_tool(REPO / "bench" / "ncu_source_summary.py", path, "--top", "2")
    assert out.startswith("4 SASS instructions, 75 stall samples, 2100 warp instructions executed")
    by_samples, by_executions, by_opcode = out.split("## ")[1:]
    rows = [line for line in by_samples.splitlines() if line.startswith("| ") and "instruction" not in line]
    assert rows[0].startswith("| 1 | `@!P0  BRA 0x10` | 40 (53.3 %) | 900 | long_sb 39, wait 1 |")
    assert rows[1].startswith("| 2 | `HGMMA")
    assert len(rows) == 2
    assert "| 0 | `SYNCS" in by_executions and "HGMMA" not in by_executions  # top 2: the retry loop
    assert "| SYNCS | 900 | 42.9 % |" in by_opcode and "| BRA | 900 | 42.9 % |" in by_opcode  # predicate stripped
