#include "run_frontier.h"

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "fgattn/error.h"
#include "fgattn/frontier.h"
#include "frontier_plot.h"
#include "progress.h"

namespace fgattn::cli {

void add_frontier_options(CLI::App& command, FrontierCliOptions& options, bool with_output_flags) {
  command.add_option("--out-dir", options.out_dir, "Folder for frontier_<name>.json and frontier_<name>.svg")->capture_default_str();
  command.add_option("--taus", options.tau_factors, "Sweep tau = factor / Skv over these factors (default 1/16, 1/8, ..., 1024)")
      ->check(CLI::PositiveNumber)->delimiter(',');
  command.add_option("--text-tokens", options.text_tokens, "Leading text tokens kept by every plan (default: the preset's, 0 for files)")
      ->check(CLI::NonNegativeNumber);
  command.add_option("--reps", options.reps, "GPU: timed launches per point (median reported)")->check(CLI::Range(1, 1000))->capture_default_str();
  command.add_flag("--cpu", options.cpu, "Untimed CPU sweep even where a GPU is present");
  if (!with_output_flags) return;
  command.add_flag("--json", options.json, "Also print the JSON on stdout");
  command.add_option("--threads", options.threads, "CPU threads (default: all cores)")->check(CLI::Range(0, 1024));
  command.add_flag("-q,--quiet", options.quiet, "No progress indicator");
}

void check_cpu_frontier_size(std::int64_t seq, const std::string& what, const FrontierCliOptions& options,
                             std::int64_t cpu_max_seq) {
  const bool timed = !options.cpu && frontier_can_time();
  if (!timed && cpu_max_seq > 0 && seq > cpu_max_seq)
    throw Error("--frontier", fmt::format("{} has {} tokens: the untimed CPU sweep takes presets up to {} tokens (tiny, small); "
                                          "timing the frontier needs the CUDA build (cmake --preset cuda) and a visible sm_90 GPU",
                                          what, seq, cpu_max_seq));
}

void run_frontier(const Qkv& qkv, const std::string& name, const std::string& source_key, const std::string& source_value,
                  std::int64_t default_text_tokens,
                  const FrontierCliOptions& options, std::int64_t cpu_max_seq) {
  FrontierSource source;
  source.key = source_key;
  source.value = source_value;
  check_cpu_frontier_size(qkv.q.shape[1], source_value, options, cpu_max_seq);
  const bool timed = !options.cpu && frontier_can_time();
  std::filesystem::create_directories(options.out_dir);
  Progress progress(!options.quiet);
  FrontierOptions sweep;
  if (!options.tau_factors.empty()) sweep.tau_factors = options.tau_factors;
  sweep.text_tokens = options.text_tokens >= 0 ? options.text_tokens : default_text_tokens;
  sweep.reps = options.reps;
  sweep.num_threads = options.threads;
  sweep.progress = [&](const std::string& stage, double fraction) { progress(stage, fraction); };
  const auto start = std::chrono::steady_clock::now();
  const FrontierReport report = timed ? frontier_cuda(qkv.q.view(), qkv.k.view(), qkv.v.view(), sweep)
                                      : frontier_cpu(qkv.q.view(), qkv.k.view(), qkv.v.view(), sweep);
  progress.finish();
  source.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  source.dtype = timed ? "bf16" : "f32";
  source.warmup = sweep.warmup;
  source.reps = sweep.reps;

  const auto base = std::filesystem::path(options.out_dir) / ("frontier_" + name);
  const std::string json_path = base.string() + ".json", svg_path = base.string() + ".svg";
  const nlohmann::json j = frontier_json(report, source);
  std::ofstream json_file(json_path);
  if (!(json_file << j.dump(2) << "\n")) throw Error(json_path, "cannot write the frontier JSON");
  write_frontier_svg(report, fmt::format("frontier: {} {} ({}{})", source.key, source.value, report.backend,
                                         report.device.empty() ? "" : ", " + report.device), svg_path);
  if (options.json) {
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << frontier_table(report, source) << "\n  wrote " << json_path << " and " << svg_path << "\n";
  }
}

}  // namespace fgattn::cli
