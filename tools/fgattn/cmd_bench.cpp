// `fgattn bench --frontier`: the speed-quality frontier on a video-like preset (issue 4). Timed on the GPU in a CUDA
// build; a CPU-only build runs the untimed sweep on the small presets (tiny, small) and refuses the large ones.
// The kernel's own benchmark (dense vs random plans, torch baselines) is build/cuda/bench/fgattn_bench.
#include <fmt/format.h>

#include "commands.h"
#include "fgattn/error.h"
#include "fgattn/workload.h"
#include "run_frontier.h"

namespace fgattn::cli {

void add_bench_command(CLI::App& app) {
  struct BenchOptions {
    FrontierCliOptions frontier;
    bool run_frontier = false;
    std::string preset = "wan480p";
    std::int64_t seed = -1;
  };
  auto options = std::make_shared<BenchOptions>();
  auto* bench = app.add_subcommand("bench", "GPU benchmarks: --frontier sweeps error against kernel time per granularity");
  bench->add_flag("--frontier", options->run_frontier, "Sweep tau for 64x1, 128x1, 128x16, 64x64, 128x128 oracle plans")->required();
  bench->add_option("--preset", options->preset, fmt::format("Workload preset: {}", fmt::join(preset_names(), ", ")))
      ->capture_default_str();
  bench->add_option("--seed", options->seed, "Generator seed (default: the preset's)");
  add_frontier_options(*bench, options->frontier, true);
  bench->callback([options] {
    WorkloadSpec spec = preset(options->preset);
    if (options->seed >= 0) spec.seed = static_cast<std::uint64_t>(options->seed);
    constexpr std::int64_t kCpuMaxSeq = 4096;  // `small` (2016 tokens) sweeps in about a minute on two cores
    check_cpu_frontier_size(spec.seq(), spec.name, options->frontier, kCpuMaxSeq);
    const Qkv qkv = generate_workload(spec);
    run_frontier(qkv, spec.name, "preset", spec.name, spec.text_tokens, options->frontier, kCpuMaxSeq);
  });
}

}  // namespace fgattn::cli
