"""The end-to-end bench's parts on the CPU: the generator op, plans at a target density, and bench/e2e_wan.py --tiny
(the same script the GPU machine runs at 480p/720p)."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import fgattn
from fgattn import Plan

REPO = Path(__file__).resolve().parents[2]


def test_video_workload_shape_seed_and_errors():
    q, k, v = fgattn.video_workload(3, 4, 6, 2, 32, text_tokens=5, seed=7)
    assert q.shape == k.shape == v.shape == (1, 5 + 3 * 4 * 6, 2, 32) and q.dtype == torch.float32
    again = fgattn.video_workload(3, 4, 6, 2, 32, text_tokens=5, seed=7)
    assert all(torch.equal(a, b) for a, b in zip((q, k, v), again))
    assert not torch.equal(q, fgattn.video_workload(3, 4, 6, 2, 32, text_tokens=5, seed=8)[0])
    with pytest.raises(ValueError, match="spec.head_dim: must be even"):
        fgattn.video_workload(3, 4, 6, 2, 31)
    with pytest.raises(ValueError, match="seed must be >= 0"):
        fgattn.video_workload(3, 4, 6, 2, 32, seed=-1)


@pytest.mark.parametrize("density", [0.68, 0.35, 0.2])
def test_oracle_plan_at_density_is_the_oracle_at_its_tau(density):
    q, k, _ = fgattn.video_workload(3, 8, 8, 2, 32, seed=3)
    plan, tau = fgattn.oracle_plan_at_density(q, k, density, block_m=64)
    assert abs(plan.density() - density) <= 2e-3 * density
    same = fgattn.oracle_plan(q, k, block_m=64, tau=tau)
    assert torch.equal(plan.offsets, same.offsets) and torch.equal(plan.indices, same.indices)
    plan.validate()


def test_oracle_plan_at_density_dense_and_errors():
    q, k, _ = fgattn.video_workload(2, 4, 4, 1, 16)
    plan, tau = fgattn.oracle_plan_at_density(q, k, 1.0, block_m=16)
    assert plan.density() == 1.0 and tau == 0.0
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match=r"density: must be in \(0, 1\]"):
            fgattn.oracle_plan_at_density(q, k, bad)


def run_bench(*args):
    return subprocess.run([sys.executable, str(REPO / "bench" / "e2e_wan.py"), *args], capture_output=True, text=True,
                          env=dict(os.environ), timeout=300)


def test_e2e_tiny_on_cpu(tmp_path):
    out = tmp_path / "e2e.json"
    r = run_bench("--tiny", "--device", "cpu", "--iters", "1", "--warmup", "0", "--densities", "100,35",
                  "--block-m", "64", "--out", str(out))
    assert r.returncode == 0, r.stderr[-3000:]
    records = json.loads(out.read_text())
    assert [(r["backend"], r["density"]) for r in records] == [("sdpa-math-cpu", 1.0), ("fgattn", 1.0),
                                                              ("fgattn", 0.35)]
    for rec in records:
        assert rec["kind"] == "e2e" and rec["device"] == "cpu" and rec["shape"]["tokens"] == 3 * 8 * 8
        assert rec["ms"] > 0 and 0 < rec["attention_share"] <= 1 and rec["finite"]
        assert rec["speedup"] == pytest.approx(rec["sdpa_ms"] / rec["ms"], rel=1e-3, abs=1e-4)  # 4 decimals
        assert "no real sparsity" in rec["note"]
    dense, sparse = records[1], records[2]
    assert dense["rel_diff_vs_sdpa"] < 1e-5  # the dense plan reproduces the stock forward (fp32 on the CPU)
    assert sparse["rel_diff_vs_sdpa"] > 1e-4  # the imposed plan changes it
    assert sparse["plan_density"] == pytest.approx(0.35, rel=1e-2) and sparse["plan"]["tau"] > 0
    share = sparse["attention_share"]
    assert sparse["amdahl_ideal"] == pytest.approx(1 / ((1 - share) + share * 0.35), rel=1e-3)
    assert "| tiny (192 tok) | fgattn | 35% |" in out.with_suffix(".md").read_text()
    assert not any(rec["compiled"] for rec in records)


def test_e2e_tiny_compiled_on_cpu(tmp_path):
    """--compile (inductor, C++ codegen on the CPU; the blocks compiled regionally with fullgraph=True): compiled
    records after the eager ones, against the compiled SDPA forward, and a second density reusing fgattn's graph."""
    out = tmp_path / "e2e.json"
    r = run_bench("--tiny", "--device", "cpu", "--iters", "1", "--warmup", "0", "--densities", "35,20",
                  "--block-m", "64", "--compile", "--out", str(out))
    assert r.returncode == 0, r.stderr[-3000:]
    records = json.loads(out.read_text())
    assert [(x["backend"], x["density"], x["compiled"]) for x in records] == [
        ("sdpa-math-cpu", 1.0, False), ("fgattn", 0.35, False), ("fgattn", 0.2, False),
        ("sdpa-math-cpu", 1.0, True), ("fgattn", 0.35, True), ("fgattn", 0.2, True)]
    eager, compiled = records[:3], records[3:]
    for rec in compiled:
        assert rec["compile_scope"] == "blocks: diffusers compile_repeated_blocks(fullgraph=True)"
        assert rec["compile_backend"] == "inductor" and rec["compile_mode"] == "default" and rec["compile_s"] > 0
        assert rec["sdpa_ms"] == compiled[0]["ms"]
        assert rec["speedup"] == pytest.approx(rec["sdpa_ms"] / rec["ms"], rel=1e-3, abs=1e-4)
        share = rec["attention_share"]  # over the compiled SDPA forward
        assert share == pytest.approx(min(1, compiled[0]["attention_ms"] / compiled[0]["ms"]), abs=2e-4)  # 4 decimals
        assert rec["amdahl_ideal"] == pytest.approx(1 / ((1 - share) + share * rec["density"]), rel=1e-3)
    # one graph for SDPA's blocks, one for fgattn's: the 20 % plan (another nnz) runs in the 35 % plan's graph
    assert [rec["graphs"] for rec in compiled] == [1, 2, 2]
    for e, c in zip(eager[1:], compiled[1:]):  # the same plans change the output alike, compiled or not
        assert c["rel_diff_vs_sdpa"] == pytest.approx(e["rel_diff_vs_sdpa"], rel=1e-3)
        assert c["rel_diff_vs_sdpa"] > 1e-4 and c["finite"]
    row = next(line for line in out.with_suffix(".md").read_text().splitlines()
               if line.startswith("| tiny (192 tok) | fgattn | 35% |"))
    assert f"| {eager[1]['ms']:.1f} | " in row and row.endswith(f"| {compiled[1]['ms']:.1f} | "
                                                                 f"{compiled[1]['speedup']:.2f}x | "
                                                                 f"{compiled[1]['amdahl_ideal']:.2f}x | "
                                                                 f"{compiled[1]['of_amdahl_ideal']:.0%} |")


@pytest.mark.parametrize("name", ["e2e", "schedule"])
def test_committed_e2e_tables_are_the_tools_output(name):
    """bench/results/e2e: each table is bench/e2e_table.py's output over the records beside it."""
    results = REPO / "bench" / "results" / "e2e"
    r = subprocess.run([sys.executable, str(REPO / "bench" / "e2e_table.py"), str(results / f"{name}.json")],
                       capture_output=True, text=True, check=True)
    assert (results / f"{name}.md").read_text() == r.stdout


def test_e2e_table_puts_eager_and_compiled_side_by_side(tmp_path):
    def rec(backend, density, ms, compiled, share):
        r = {"kind": "e2e", "shape": {"name": "480p", "tokens": 32760}, "backend": backend, "density": density,
             "plan_density": density, "attention_ms": 300.0, "ms": ms, "speedup": 600.0 / ms if compiled is False
             else 500.0 / ms, "amdahl_ideal": 1 / ((1 - share) + share * density), "attention_share": share,
             "compiled": compiled, "device": "NVIDIA H200", "date": "2026-12-04T00:00:00Z", "note": "a note"}
        if compiled:
            r.update(compile_scope="blocks", compile_s=40.0, graphs=1 if backend.startswith("sdpa") else 2)
        return r

    path = tmp_path / "e2e.json"
    path.write_text(json.dumps([rec("sdpa-cudnn", 1.0, 600.0, False, 0.5), rec("fgattn", 0.2, 300.0, False, 0.5),
                                rec("sdpa-cudnn", 1.0, 500.0, True, 0.6), rec("fgattn", 0.2, 200.0, True, 0.6)]))
    r = subprocess.run([sys.executable, str(REPO / "bench" / "e2e_table.py"), str(path)], capture_output=True,
                       text=True, check=True)
    assert "| 480p (32760 tok) | fgattn | 20% | 20.0% | 300.0 | 300.0 | 2.00x | 1.67x | 100% | 200.0 | 2.50x | " \
           "1.92x | 100% |" in r.stdout
    assert "480p eager 50.0%, compiled 60.0%" in r.stdout
    assert "| 480p | fgattn | 20% | blocks | 40.0 | 2 |" in r.stdout and r.stdout.rstrip().endswith("a note")


def test_e2e_refuses_bad_arguments(capsys):
    spec = importlib.util.spec_from_file_location("e2e_wan", REPO / "bench" / "e2e_wan.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    for argv, message in ((["--tiny", "--device", "cpu", "--densities", "100,0"], "--densities: each must be in (0, 100]"),
                          (["--device", "cpu", "--shapes", "480p"], "needs a CUDA device"),
                          (["--device", "cpu", "--tiny", "--iters", "0"], "--iters must be >= 1"),
                          (["--shapes", "1080p"], "unknown shape '1080p'")):
        with pytest.raises(SystemExit) as e:
            bench.parse_args(argv)
        assert e.value.code == 2 and message in capsys.readouterr().err


def test_e2e_schedule_tiny_on_cpu(tmp_path):
    """--schedule: the predictor's cost per plan build and each density's speedup over the paper's schedule."""
    out = tmp_path / "e2e.json"
    r = run_bench("--tiny", "--device", "cpu", "--iters", "1", "--warmup", "0", "--densities", "100,35",
                  "--block-m", "64", "--schedule", "--out", str(out))
    assert r.returncode == 0, r.stderr[-3000:]
    records = json.loads(out.read_text())
    sched = [x for x in records if x["kind"] == "e2e-schedule"]
    assert [x["density"] for x in sched] == [1.0, 0.35]
    by_density = {x["density"]: x for x in records if x["kind"] == "e2e" and x["backend"] == "fgattn"}
    sdpa_ms = records[0]["ms"]
    for x in sched:
        assert x["schedule"]["plan_builds"] == 6 and x["predictor_ms_per_build"] >= 0
        assert x["sparse_forward_ms"] == by_density[x["density"]]["ms"]
        mean = (2 * sdpa_ms + 98 * x["sparse_forward_ms"] + 6 * x["predictor_ms_per_build"]) / 100
        assert x["ms"] == pytest.approx(mean, rel=1e-3)
        assert x["speedup"] == pytest.approx(sdpa_ms / mean, rel=1e-3, abs=1e-4)  # rounded to 4 decimals
        assert 0 < x["predicted_plan_density"] <= 1
    assert "Over the paper's schedule" in out.with_suffix(".md").read_text()
    assert sched[0]["predictor"].startswith("fgattn.oracle_plan")
    r = run_bench("--tiny", "--device", "cpu", "--iters", "1", "--warmup", "0", "--densities", "35", "--block-m", "64",
                  "--schedule", "--schedule-predictor", "topcdf", "--out", str(out))
    assert r.returncode == 0, r.stderr[-3000:]
    topcdf = [x for x in json.loads(out.read_text()) if x["kind"] == "e2e-schedule"]
    assert len(topcdf) == 1 and topcdf[0]["predictor"].startswith("fgattn.topcdf_plan")


def test_frontier_table_reads_frontier_json(tmp_path):
    """bench/frontier_table.py on a committed GPU frontier (timed) and on the same file made untimed (a CPU sweep)."""
    spec = importlib.util.spec_from_file_location("frontier_table", REPO / "bench" / "frontier_table.py")
    frontier_table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(frontier_table)
    source = REPO / "bench" / "results" / "frontier" / "frontier_wan720p.json"
    d = json.loads(source.read_text())
    md = frontier_table.table(source)
    r = d["summary"]["ratios"][0]
    assert (f"| {r['target_rel_l2']} | {r['block_m']} | {r['time_ratio_MxM_over_Mx1']:.3f} | "
            f"{r['kept_ratio_MxM_over_Mx1']:.3f} |") in md
    t = d["summary"]["targets"][0]
    assert f"| {t['target_rel_l2']} | {t['series']} | {100 * t['kept_fraction']:.1f} % | {t['ms']:.3f} |" in md
    assert "Dense plan: M=64" in md
    d["timing"] = None
    for p in d["points"]:
        p["ms"] = None
    for t in d["summary"]["targets"]:
        t["ms"] = None
    for r in d["summary"]["ratios"]:
        r["time_ratio_MxM_over_Mx1"] = None
    untimed = tmp_path / "frontier_cpu.json"
    untimed.write_text(json.dumps(d))
    md = frontier_table.table(untimed)
    assert "Untimed (CPU sweep)" in md and f"| {t['series']} | " in md and " | - |" in md
