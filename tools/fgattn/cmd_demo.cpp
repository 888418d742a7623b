// `fgattn demo`: the embedded default problem (a small video-like workload) analysed on the CPU.
#include <fmt/format.h>

#include "commands.h"
#include "fgattn/workload.h"
#include "run_report.h"

namespace fgattn::cli {

void add_demo_command(CLI::App& app) {
  struct DemoOptions {
    ReportOptions report;
    std::string preset = "small";
    std::int64_t seed = -1;
  };
  auto options = std::make_shared<DemoOptions>();
  auto* demo = app.add_subcommand("demo", "Analyse the embedded video-like default problem (fine vs block sparsity at equal error)");
  demo->add_option("--preset", options->preset, fmt::format("Workload preset: {}", fmt::join(preset_names(), ", ")))
      ->capture_default_str();
  demo->add_option("--seed", options->seed, "Generator seed (default: the preset's)");
  add_report_options(*demo, options->report);
  demo->callback([options] {
    WorkloadSpec spec = preset(options->preset);
    if (options->seed >= 0) spec.seed = static_cast<std::uint64_t>(options->seed);
    const Qkv qkv = generate_workload(spec);
    run_report(qkv, {"preset", spec.name}, options->report);
  });
}

}  // namespace fgattn::cli
