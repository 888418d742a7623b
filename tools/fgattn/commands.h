#pragma once
// Subcommand registration. Each command file adds its subcommand and the callback that runs it.
#include <CLI/CLI.hpp>

namespace fgattn::cli {

// Options shared by every subcommand that produces the analysis report.
struct ReportOptions {
  bool json = false;
  std::string plot;
  int block_m = 128;
  double tau = -1.0;
  int threads = 0;
  bool quiet = false;
};

void add_report_options(CLI::App& command, ReportOptions& options);
void add_demo_command(CLI::App& app);
void add_analyze_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_predict_command(CLI::App& app);

}  // namespace fgattn::cli
