#include "run_report.h"

#include <fmt/format.h>

#include <chrono>
#include <iostream>

#include "fgattn/analysis.h"
#include "fgattn/error.h"
#include "mask_plot.h"
#include "progress.h"

namespace fgattn::cli {

void add_report_options(CLI::App& command, ReportOptions& options) {
  command.add_flag("--json", options.json, "Print one JSON object instead of the table");
  command.add_option("--plot", options.plot, "Write one head's Mx1 mask beside the MxM mask at equal error (.svg or .png)");
  command.add_option("-M,--block-m", options.block_m, "Queries per block (M)")->check(CLI::Range(1, 4096));
  command.add_option("--tau", options.tau, "Oracle threshold for the Mx1 plan (default 0.5 / Skv)")->check(CLI::Range(0.0, 1.0));
  command.add_option("--threads", options.threads, "CPU threads (default: all cores)")->check(CLI::Range(0, 1024));
  command.add_flag("-q,--quiet", options.quiet, "No progress indicator");
}

void run_report(const Qkv& qkv, ReportSource source, const ReportOptions& options) {
  if (!options.plot.empty() && options.plot.find_last_of('.') == std::string::npos)
    throw Error("--plot", fmt::format("'{}' must end in .png or .svg", options.plot));
  Progress progress(!options.quiet);
  AnalysisOptions analysis;
  analysis.block_m = options.block_m;
  analysis.tau = options.tau;
  analysis.num_threads = options.threads;
  analysis.progress = [&](const std::string& stage, double fraction) { progress(stage, fraction); };
  const auto start = std::chrono::steady_clock::now();
  const AnalysisReport report = analyze(qkv.q.view(), qkv.k.view(), qkv.v.view(), analysis);
  progress.finish();
  source.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  source.q_shape = qkv.q.shape;
  source.k_shape = qkv.k.shape;
  if (!options.plot.empty()) write_mask_plot(report, options.plot);
  if (options.json) {
    std::cout << report_json(report, source).dump(2) << "\n";
  } else {
    std::cout << report_table(report, source);
    if (!options.plot.empty()) std::cout << "  mask picture: " << options.plot << "\n";
  }
}

}  // namespace fgattn::cli
