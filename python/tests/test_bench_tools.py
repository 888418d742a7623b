"""CPU tests of the result tools under bench/ and of what bench/results holds: each committed Markdown table is its
tool's output over the JSON records beside it, the folder holds only the latest records (no logs), and the tools
compute what they claim (A/B ratios, ncu summaries, the predictors' cost)."""
import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "bench"
RESULTS = BENCH / "results"


def run_tool(*args):
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, check=True).stdout


# (committed table, tool, records in the order the table lists them)
GENERATED_TABLES = [
    ("kernel/bench.md", "make_table.py", ["kernel/bench_fgattn.json", "kernel/bench_torch.json"]),
    ("frontier/frontier.md", "frontier_table.py",
     ["frontier/frontier_wan480p.json", "frontier/frontier_wan720p.json", "frontier/frontier_hunyuan720p.json"]),
    ("predict/predict_cost.md", "predict_table.py",
     ["predict/predict_cost_wan480p.json", "predict/predict_cost_wan720p.json"]),
    ("kernel/diagnose.md", "diagnose_table.py", ["kernel/bench_diagnose.json"]),
    ("kernel/structure.md", "structure_table.py", ["kernel/bench_generator.json"]),
    ("kernel/ncu_kernelprof.md", "ncu_sections.py", ["kernel/ncu_kernelprof.json"]),
    ("predict/topcdf_quality.md", "topcdf_quality_table.py", ["predict/topcdf_quality.json"]),
]


@pytest.mark.parametrize("table,tool,records", GENERATED_TABLES, ids=[t[0] for t in GENERATED_TABLES])
def test_committed_table_is_the_tools_output_over_its_records(table, tool, records):
    out = run_tool(BENCH / tool, *(RESULTS / r for r in records))
    assert (RESULTS / table).read_text() == out


def test_results_hold_the_latest_records_with_their_tables_and_no_logs():
    files = [p for p in RESULTS.rglob("*") if p.is_file()]
    assert len(files) <= 60, len(files)
    assert not [p for p in files if p.suffix in (".log", ".xml", ".csv", ".gz", ".txt") and p.name != "env.txt"]
    for folder in sorted({p.parent for p in files if p.suffix == ".json"}):
        assert list(folder.glob("*.md")), f"{folder}: records without a Markdown table"
        assert (folder / "README.md").exists() or folder == RESULTS, folder
    for table, _, records in GENERATED_TABLES:  # every record a generated table reads exists
        assert all((RESULTS / r).exists() for r in records), table


def bench_record(granularity, density, tflops, backend="fgattn (variant)"):
    return {"shape": "wan480 B1 H12 S32760 D128", "granularity": granularity, "target_density": density,
            "tflops_attended": tflops, "device": "NVIDIA H200", "date": "2026-12-01T00:00:00Z", "backend": backend}


def test_compare_runs_puts_runs_side_by_side_with_the_last_over_the_first(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps([bench_record("dense (M=128)", 1.0, 600.0), bench_record("128x1", 0.25, 500.0)]))
    b.write_text(json.dumps([bench_record("dense (M=128)", 1.0, 630.0)]))
    out = run_tool(BENCH / "compare_runs.py", f"old={a}", f"new={b}")
    assert "| shape | granularity | density | old | new | new / old |" in out
    assert "| wan480 B1 H12 S32760 D128 | dense (M=128) | 1.00 | 600.0 | 630.0 | 1.05 |" in out
    assert "| wan480 B1 H12 S32760 D128 | 128x1 | 0.25 | 500.0 |  |  |" in out  # missing in one run: no ratio


NCU_TIMES_CSV = '''==PROF== Connected to process 1 (fgattn_bench_predict)
"ID","Kernel Name","Metric Name","Metric Unit","Metric Value"
"0","void fgattn::attention_wgmma_kernel<__nv_bfloat16, fgattn::WgmmaConfig<128, 128, 0>, 0>(fgattn::AttentionParams)","gpu__time_duration.sum","msecond","10.25"
"1","void fgattn::cuda::attention_kernel<__nv_bfloat16, fgattn::cuda::KernelTraits<128, 128, 0>, fgattn::cuda::KernelMode::scores_only>(fgattn::cuda::AttentionParams)","gpu__time_duration.sum","usecond","4,300"
"2","void fgattn::cuda::attention_kernel<__nv_bfloat16, fgattn::cuda::KernelTraits<128, 128, 0>, (fgattn::cuda::KernelMode)3>(fgattn::cuda::AttentionParams)","gpu__time_duration.sum","usecond","4,500"
"3","void fgattn::(anonymous namespace)::pool_means_kernel<__nv_bfloat16>(fgattn::PoolParams)","gpu__time_duration.sum","nsecond","64,000"
"4","void fgattn::(anonymous namespace)::pool_means_kernel<__nv_bfloat16>(fgattn::PoolParams)","gpu__time_duration.sum","nsecond","66,000"
"5","void fgattn::(anonymous namespace)::pool_means_kernel<__nv_bfloat16>(fgattn::PoolParams)","sm__cycles_elapsed.avg","cycle","1"
'''


def test_kernel_times_names_the_attention_kernels_mode_and_takes_medians(tmp_path):
    path = tmp_path / "profile.csv"
    path.write_text(NCU_TIMES_CSV)
    rows = [line for line in run_tool(BENCH / "kernel_times.py", path).splitlines()[2:]]
    assert rows == [
        "| fgattn::attention_wgmma_kernel (attention) | 1 | 10250.0 | 10250.0 | 10250.0 |",
        "| fgattn::cuda::attention_kernel (scores_only: oracle LSE / bits) | 2 | 4400.0 | 4300.0 | 4500.0 |",
        "| fgattn::pool_means_kernel | 2 | 65.0 | 64.0 | 66.0 |",
    ]
    launches = run_tool(BENCH / "kernel_times.py", path, "--launches", "scores_only")
    assert launches.strip() == "fgattn::cuda::attention_kernel (scores_only: oracle LSE / bits): 4300.0, 4500.0 us (launch order)"


def test_predict_table_divides_by_the_paired_dense_time_or_the_runs_dense_record(tmp_path):
    common = {"preset": "wan480p", "shape": "B=1 S=32760 H=12 D=128", "device": "NVIDIA H200",
              "date": "2026-12-01T00:00:00Z", "block_m": 128}
    path = tmp_path / "predict_cost.json"
    path.write_text(json.dumps([
        dict(common, backend="attention/dense", density=1.0, ms=10.0),
        dict(common, backend="predict/topcdf", density=0.5, ms=0.5, dense_ms=9.0, cost_vs_dense=0.5 / 9.0,
             cost_vs_dense_block=0.05, output="device"),
        dict(common, backend="predict/oracle", block_n=1, density=0.669, ms=12.0),  # no pairing: the dense record
    ]))
    out = run_tool(BENCH / "predict_table.py", path)
    assert "## wan480p (B=1 S=32760 H=12 D=128; NVIDIA H200, 2026-12-01T00:00:00Z)" in out
    assert "| predict/topcdf | M=128 | device | 0.500 | 0.500 | 0.056x | 0.050x | 9.000 |" in out
    assert "| predict/oracle | 128x1 | - | 0.669 | 12.000 | 1.200x | - | 10.000 |" in out


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
    out = run_tool(BENCH / "ncu_source_summary.py", path, "--top", "2")
    assert out.startswith("4 SASS instructions, 75 stall samples, 2100 warp instructions executed")
    by_samples, by_executions, by_opcode = out.split("## ")[1:]
    rows = [line for line in by_samples.splitlines() if line.startswith("| ") and "instruction" not in line]
    assert rows[0].startswith("| 1 | `@!P0  BRA 0x10` | 40 (53.3 %) | 900 | long_sb 39, wait 1 |")
    assert rows[1].startswith("| 2 | `HGMMA")
    assert len(rows) == 2
    assert "| 0 | `SYNCS" in by_executions and "HGMMA" not in by_executions  # top 2: the retry loop
    assert "| SYNCS | 900 | 42.9 % |" in by_opcode and "| BRA | 900 | 42.9 % |" in by_opcode  # predicate stripped


def test_ncu_sections_reads_the_section_tables(tmp_path):
    """The kernelprof stage's parser: the kernel's name and each section row's unit and value (thousands commas
    dropped); a file with no profiled kernel is refused."""
    report = tmp_path / "ncu.txt"
    report.write_text(
        "==PROF== Profiling \"attention_kernel\": 0%....100% - 20 passes\n"
        "  void attention_kernel<__nv_bfloat16, KernelTraits<128, 128, 0>, 0>(AttentionParams) (132, 1, 1)x(384, 1, 1),"
        " Context 1, Stream 7, Device 0, CC 9.0\n"
        "    Section: GPU Speed Of Light Throughput\n"
        "    ----------------------- ----------- -------------\n"
        "    Metric Name             Metric Unit  Metric Value\n"
        "    Elapsed Cycles                cycle    16,366,450\n"
        "    Duration                         ms          9.38\n"
        "    L2 Cache Throughput               %         42.40\n")
    records = json.loads(run_tool(BENCH / "ncu_sections.py", "json", "H200", "2026-12-04", f"dense={report}"))
    assert records[0]["kernel"].startswith("void attention_kernel<__nv_bfloat16, KernelTraits<128, 128, 0>, 0>")
    assert records[0]["metrics"]["Elapsed Cycles"] == {"unit": "cycle", "value": 16366450.0}
    assert records[0]["metrics"]["Duration"] == {"unit": "ms", "value": 9.38}
    assert records[0]["device"] == "H200" and records[0]["profile"] == "dense"
    empty = tmp_path / "empty.txt"
    empty.write_text("==PROF== No kernels were profiled.\n")
    with pytest.raises(subprocess.CalledProcessError):
        run_tool(BENCH / "ncu_sections.py", "json", "H200", "2026-12-04", f"none={empty}")
