#pragma once
// Runs the frontier sweep on loaded tensors (timed on the GPU where this build and machine have one, untimed on
// the CPU otherwise) and writes frontier_<name>.json and frontier_<name>.svg, for bench and analyze alike.
#include <CLI/CLI.hpp>
#include <string>

#include "fgattn/workload.h"
#include "frontier_output.h"

namespace fgattn::cli {

struct FrontierCliOptions {
  std::string out_dir = ".";
  std::vector<double> tau_factors;  // empty: the library's default sweep
  std::int64_t text_tokens = -1;    // < 0: the source's own (a preset's text_tokens, 0 for files)
  int reps = 10;
  bool cpu = false;                 // untimed CPU sweep even where a GPU is present
  bool json = false;
  int threads = 0;
  bool quiet = false;
};

// with_output_flags: also --json, --threads, -q (analyze has them already from its report options).
void add_frontier_options(CLI::App& command, FrontierCliOptions& options, bool with_output_flags);

// Refuses problems of more than cpu_max_seq tokens when the sweep would run on the CPU (it is O(S^2) per point
// there), with an error that names the CUDA build. Called before generating a large preset.
void check_cpu_frontier_size(std::int64_t seq, const std::string& what, const FrontierCliOptions& options,
                             std::int64_t cpu_max_seq);

// `name` goes into the file names; `cpu_max_seq` > 0 refuses larger problems on the CPU (the sweep is O(S^2) per
// point there) with an error that names the CUDA build.
void run_frontier(const Qkv& qkv, const std::string& name, const std::string& source_key, const std::string& source_value,
                  std::int64_t default_text_tokens,
                  const FrontierCliOptions& options, std::int64_t cpu_max_seq);

}  // namespace fgattn::cli
