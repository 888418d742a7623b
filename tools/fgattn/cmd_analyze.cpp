// `fgattn analyze FILE...`: the same report on a user's captured Q/K/V (.safetensors with q, k, v; or 3 .npy).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>

#include "commands.h"
#include "inputs.h"
#include "run_frontier.h"
#include "run_report.h"

namespace fgattn::cli {

void add_analyze_command(CLI::App& app) {
  struct AnalyzeOptions {
    ReportOptions report;
    std::vector<std::string> files;
    std::string layout = "bshd";
    std::int64_t heads = 0;
    bool frontier = false;
    FrontierCliOptions sweep;
  };
  auto options = std::make_shared<AnalyzeOptions>();
  auto* analyze = app.add_subcommand("analyze", "Analyse captured Q, K, V: one .safetensors (tensors q, k, v) or q.npy k.npy v.npy");
  analyze->add_option("files", options->files, "A .safetensors file, or three .npy files (q, k, v)")->required()->check(CLI::ExistingFile);
  analyze->add_option("--layout", options->layout, "Tensor layout in the file")
      ->check(CLI::IsMember({"bshd", "bhsd"}))
      ->capture_default_str();
  analyze->add_option("--heads", options->heads, "Analyse only the first N heads (0: all)")->check(CLI::NonNegativeNumber);
  add_report_options(*analyze, options->report);
  auto* frontier = analyze->add_flag("--frontier", options->frontier,
                                     "Instead of the table: the tau sweep of 64x1, 128x1, 128x16, 64x64, 128x128 oracle plans "
                                     "(timed on a GPU), written as frontier_<file>.json and .svg");
  add_frontier_options(*analyze, options->sweep, false);
  for (const char* flag : {"--out-dir", "--taus", "--text-tokens", "--reps", "--cpu"}) analyze->get_option(flag)->needs(frontier);
  frontier->excludes(analyze->get_option("--plot"))->excludes(analyze->get_option("--tau"))->excludes(analyze->get_option("--block-m"));
  analyze->callback([options] {
    const Qkv qkv = load_inputs(options->files, options->layout, options->heads);
    const std::string input = fmt::format("{}", fmt::join(options->files, " "));
    if (!options->frontier) return run_report(qkv, {"input", input}, options->report);
    FrontierCliOptions sweep = options->sweep;
    sweep.json = options->report.json;
    sweep.threads = options->report.threads;
    sweep.quiet = options->report.quiet;
    run_frontier(qkv, std::filesystem::path(options->files.front()).stem().string(), "input", input, 0, sweep, 0);
  });
}

}  // namespace fgattn::cli
